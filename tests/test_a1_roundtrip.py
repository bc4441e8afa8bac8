"""A1 through nbgrader's own CLI and the audit: the solution and an alternative get full
marks, the untouched release 0, a delegating solution loses only the hidden points of its
parts, and every mutant loses the points of exactly the parts it breaks."""

import pytest

from tests import a1_variants as variants
from tests.roundtrip import grade_group, standard_groups

GROUPS = standard_groups("A1", variants)


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a1_grades(group, tmp_path):
    grade_group(tmp_path, "A1", variants, GROUPS[group])
