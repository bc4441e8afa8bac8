"""Every assignment through nbgrader's own CLI and the sandboxed grader, in two classes
(tests/roundtrip.py): the solution and the alternatives get full marks, the untouched release
0, a delegating part and a mutant's part lose all their points and nothing else."""

import pytest

from lmcore.grading.registry import ASSIGNMENTS
from tests.roundtrip import grade_group, groups

CLASSES = [pytest.param(a, g, id=f"{a}-{g}") for a in ASSIGNMENTS for g in ("references", "mutants")]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id, group", CLASSES)
def test_roundtrip(assignment_id, group, tmp_path):
    grade_group(tmp_path, assignment_id, groups(assignment_id)[group])
