"""A6 through nbgrader's own CLI and the audit: the solution and an alternative get full
marks, the untouched release 0, and every mutant loses the points of exactly the parts it
breaks (a delegating solution only the hidden points of its part)."""

import nbformat
import pytest

from tests import a6_variants as variants
from tests.roundtrip import grade_and_compare

POINTS = {"": 4, "_hidden": 6}  # visible and hidden test cell of every part
FULL = {f"test_{part}{s}": p for part in variants.PARTS for s, p in POINTS.items()}


def losing(cells: set[str]) -> dict[str, float]:
    return {cell: (0 if cell in cells else points) for cell, points in FULL.items()}


def parts_lost(parts: set[str]) -> set[str]:
    return {f"test_{part}{s}" for part in parts for s in POINTS}


def release_notebook() -> nbformat.NotebookNode:
    return nbformat.read(variants.SOLUTION.parents[2] / "assignments" / "A6" / "A6.ipynb", as_version=4)


GROUPS = {
    "references": {
        "solution": (variants.solution_notebook, set()),
        "untouched": (release_notebook, set(FULL)),
        "alternative": (lambda: variants.replaced(variants.ALTERNATIVE), set()),
        "delegating": (lambda: variants.edited(variants.DELEGATING), {"test_sampling_hidden"}),
    },
    "mutants": {
        name: (lambda edits=edits: variants.edited(edits), parts_lost(broken))
        for name, (edits, broken, _) in variants.MUTANTS.items()
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a6_grades(group, tmp_path):
    students = {name: (make(), losing(lost)) for name, (make, lost) in GROUPS[group].items()}
    grade_and_compare(tmp_path, "A6", students)
