"""Every graded assignment, found by itself: each subpackage ``lmcore.grading.a<N>`` that
defines ``ASSIGNMENT`` (an ``Assignment``). Adding an assignment is adding its package.

    >>> from lmcore.grading.registry import ASSIGNMENTS, PARTS
    >>> ASSIGNMENTS["A5"].tests["test_attention_hidden"]
    ('attention', True)
    >>> PARTS["attention"].names
    ('scaled_dot_product_attention',)

A part's id is also its solution cell's grade_id, unique course-wide.
"""

import importlib
import pkgutil
import re

import lmcore.grading
from lmcore.grading.records import Assignment, Part


def _discover() -> dict[str, Assignment]:
    found = {}
    for info in pkgutil.iter_modules(lmcore.grading.__path__):
        if not re.fullmatch(r"a\d+", info.name):
            continue
        module = importlib.import_module(f"lmcore.grading.{info.name}")
        assignment = getattr(module, "ASSIGNMENT", None)
        if not isinstance(assignment, Assignment):
            raise TypeError(f"lmcore.grading.{info.name} must define ASSIGNMENT = Assignment(...)")
        if assignment.id.lower() != info.name:
            raise ValueError(f"lmcore.grading.{info.name} defines assignment {assignment.id!r}")
        found[assignment.id] = assignment
    return dict(sorted(found.items(), key=lambda kv: int(kv[0][1:])))


ASSIGNMENTS: dict[str, Assignment] = _discover()
PARTS: dict[str, Part] = {}
for _assignment in ASSIGNMENTS.values():
    for _part in _assignment.parts:
        if _part.id in PARTS:
            raise ValueError(f"two graded parts are both named {_part.id!r}")
        PARTS[_part.id] = _part
# assignment id -> {test cell grade_id: (part id, thorough)}: what the grader judges
TESTS: dict[str, dict[str, tuple[str, bool]]] = {a.id: a.tests for a in ASSIGNMENTS.values()}
