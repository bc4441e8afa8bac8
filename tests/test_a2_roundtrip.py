"""A2 through nbgrader's own CLI and the audit: the solution gets full marks, the untouched
release 0, and every mutant loses the points of exactly the parts it breaks."""

import pytest

from tests import a2_variants as variants
from tests.roundtrip import grade_and_compare

POINTS = {"": 4, "_hidden": 6}  # visible and hidden test cell of every part
FULL = {f"test_{part}{s}": p for part in variants.PARTS for s, p in POINTS.items()}


def losing(cells: set[str]) -> dict[str, float]:
    return {cell: (0 if cell in cells else points) for cell, points in FULL.items()}


def parts_lost(parts: set[str]) -> set[str]:
    return {f"test_{part}{s}" for part in parts for s in POINTS}


GROUPS = {
    "references": {
        "solution": (variants.A2.solution, set()),
        "untouched": (variants.A2.release, set(FULL)),
        "alternative": (lambda: variants.A2.replaced(variants.ALTERNATIVE), set()),
        "delegating": (
            lambda: variants.A2.replaced(variants.DELEGATING),
            {f"test_{part}_hidden" for part in variants.DELEGATING},
        ),
    },
    "mutants": {
        name: (lambda edits=edits: variants.A2.edited(edits), parts_lost(broken))
        for name, (edits, broken, _) in variants.MUTANTS.items()
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a2_grades(group, tmp_path):
    students = {name: (make(), losing(lost)) for name, (make, lost) in GROUPS[group].items()}
    grade_and_compare(tmp_path, "A2", students)
