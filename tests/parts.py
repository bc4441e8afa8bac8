"""What the parametrized suites share: every part of every assignment with its variants.

``variant_params(kind)`` yields one pytest param per (assignment, part, variant) with an id
like ``A5-attention-mutant-no_causal_mask``, so ``pytest -k A5-attention`` selects one part."""

import functools
import importlib
import importlib.util

import pytest

from lmcore.grading.registry import ASSIGNMENTS
from tests.submissions import Submissions, namespace


def variants(assignment_id: str):
    return importlib.import_module(f"tests.variants.{assignment_id.lower()}")


def variant_params(kind: str) -> list:
    """kind: reference | mistake | mutant | alternative | delegating."""
    return list(_params(kind))


def _params(kind: str):
    for a in ASSIGNMENTS.values():
        if importlib.util.find_spec(f"tests.variants.{a.id.lower()}") is None:
            continue  # test_registry requires one for every assignment
        v = variants(a.id)
        for part in a.parts:
            if kind == "reference":
                names = [None]
            elif kind == "mistake":
                names = [m.id for m in part.mistakes]
            else:
                names = list(
                    getattr(v, kind.upper() + ("S" if kind != "delegating" else "")).get(part.id, {})
                )
            for name in names:
                suffix = f"-{kind}" + (f"-{name}" if name else "")
                yield pytest.param(a.id, part.id, name, id=f"{a.id}-{part.id}{suffix}")


def make_notebook(assignment_id: str, change):
    """The solution notebook with ``change`` applied: edits (a list) or a whole cell (source)."""
    submissions = Submissions(assignment_id)
    if isinstance(change, list):
        return submissions.edited(change)
    return submissions.replaced(change)


@functools.cache
def solution_namespace(assignment_id: str) -> dict:
    return namespace(Submissions(assignment_id).solution())


def check_in(part, ns: dict, thorough: bool = False):
    """Check a part as a test cell does, on the component(s) a notebook namespace defines."""
    return part.check(**{name: ns[name] for name in part.names}, thorough=thorough)
