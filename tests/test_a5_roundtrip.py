"""A5 through nbgrader's own CLI and the grader: the solution gets full marks, the untouched
release 0, every mutant loses the points of exactly the parts it breaks, and a forger that
hooks IPython to skip the checks loses every part (test cells are judged outside the kernel,
and a notebook that changes IPython's hooks is tampering)."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from tests import a5_variants as variants
from tests.roundtrip import grade_group, parts_lost, standard_groups


def forged_mutant() -> nbformat.NotebookNode:
    """heads_merged_wrong, plus a cell that makes the kernel skip every check."""
    nb = variants.A5.edited(variants.MUTANTS["heads_merged_wrong"][0])
    nb.cells.insert(2, new_code_cell(variants.FORGING_CELL))
    return nb


GROUPS = standard_groups(
    "A5",
    variants,
    extra={"forging": (forged_mutant, parts_lost(variants.PARTS))},
)


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a5_grades(group, tmp_path):
    rows = grade_group(tmp_path, "A5", variants, GROUPS[group])
    if group == "references":
        assert any("get_ipython" in note for note in rows["forging"].notes), rows["forging"].notes
