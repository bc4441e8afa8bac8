"""A5 through nbgrader's own CLI and the audit: the solution gets full marks, the untouched
release 0, and every mutant loses the points of exactly the parts it breaks."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from tests import a5_variants as variants
from tests.roundtrip import grade_and_compare

POINTS = {"": 4, "_hidden": 6}  # visible and hidden test cell of every part
FULL = {f"test_{part}{s}": p for part in variants.PARTS for s, p in POINTS.items()}


def losing(cells: set[str]) -> dict[str, float]:
    return {cell: (0 if cell in cells else points) for cell, points in FULL.items()}


def parts_lost(parts: set[str]) -> set[str]:
    return {f"test_{part}{s}" for part in parts for s in POINTS}


def forged_mutant() -> nbformat.NotebookNode:
    """heads_merged_wrong, plus a cell that swallows every exception in the kernel."""
    nb = variants.edited(variants.MUTANTS["heads_merged_wrong"][0])
    nb.cells.insert(2, new_code_cell(variants.FORGING_CELL))
    return nb


def release_notebook() -> nbformat.NotebookNode:
    return nbformat.read(variants.SOLUTION.parents[2] / "assignments" / "A5" / "A5.ipynb", as_version=4)


GROUPS = {
    "references": {
        "solution": (variants.solution_notebook, set()),
        "untouched": (release_notebook, set(FULL)),
        "alternative": (lambda: variants.replaced(variants.ALTERNATIVE), set()),
        "delegating": (lambda: variants.edited(variants.DELEGATING), {"test_attention_hidden"}),
        "forging": (forged_mutant, parts_lost({"self_attention"})),
    },
    "mutants": {
        name: (lambda edits=edits: variants.edited(edits), parts_lost(broken))
        for name, (edits, broken, _) in variants.MUTANTS.items()
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a5_grades(group, tmp_path):
    students = {name: (make(), losing(lost)) for name, (make, lost) in GROUPS[group].items()}
    rows = grade_and_compare(tmp_path, "A5", students)
    if group == "references":  # nbgrader alone gave the forger full marks; the audit took them back
        assert any("test_self_attention" in note for note in rows["forging"].notes), rows["forging"].notes
