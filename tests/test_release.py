"""The committed release notebooks are exactly what nbgrader generates from solutions/."""

import shutil

import pytest

from lmcore.course import classroom

IDS = classroom.assignment_ids()


def files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.skipif(not IDS, reason="solutions/ holds no assignment (solutions/<id>/<id>.ipynb)")
@pytest.mark.parametrize("assignment_id", IDS)
def test_release_reproduces_the_committed_assignment(assignment_id, tmp_path):
    shutil.copy(classroom.REPO / "nbgrader_config.py", tmp_path)
    shutil.copytree(classroom.REPO / "solutions" / assignment_id, tmp_path / "solutions" / assignment_id)
    classroom.release([assignment_id], tmp_path)
    committed = classroom.REPO / "assignments" / assignment_id
    assert committed.is_dir(), f"{committed} is missing: run `make release` and commit it"
    generated, expected = files(tmp_path / "assignments" / assignment_id), files(committed)
    assert sorted(generated) == sorted(expected), f"assignments/{assignment_id} is stale: run `make release`"
    stale = [str(name) for name in generated if generated[name] != expected[name]]
    assert not stale, f"{stale} in assignments/{assignment_id} are stale: run `make release`"
    # nothing else: no gradebook, no log
    assert {p.parts[0] for p in files(tmp_path)} == {"nbgrader_config.py", "solutions", "assignments"}
