"""Every assignment through nbgrader's own CLI and the sandboxed grader, one class each
(tests/roundtrip.py): the solution and the alternatives get full marks, the untouched release
and the forger 0, a delegating part and a mutant's part lose all their points and nothing else."""

import pytest

from lmcore.grading.registry import ASSIGNMENTS
from tests.roundtrip import grade_class_of


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", list(ASSIGNMENTS))
def test_roundtrip(assignment_id, tmp_path):
    grade_class_of(tmp_path, assignment_id)
