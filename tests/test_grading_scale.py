"""Grading a class at scale (lmcore.course.classroom): the gradebook's URL, shards and merge.

Parallel grading itself (several nbgrader processes writing one SQLite gradebook) is what every
class of the suite does: the toy class (tests/test_grading_pipeline.py) with 3 graders, the
attack class with 3, each round trip with 2; their exact scores are the test.
"""

import csv
from pathlib import Path

import nbformat
import pytest

from lmcore.course import classroom
from tests.test_grading_pipeline import FULL, ZERO, make_toy_repo

pytestmark = pytest.mark.slow  # grades toy classes with nbgrader


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory):
    return make_toy_repo(tmp_path_factory.mktemp("repo"))


def _class(toy_repo, directory: Path) -> Path:
    course = classroom.make_course(directory / "course", ["toy"], toy_repo)
    solution = nbformat.read(toy_repo / "solutions" / "toy" / "toy.ipynb", 4)
    release = nbformat.read(toy_repo / "assignments" / "toy" / "toy.ipynb", 4)
    for student, nb in {"ann": solution, "bob": release, "cem": solution}.items():
        classroom.submit(course, "toy", student, nb)
    return course


def _csv(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["student_id"]: row["score"] for row in csv.DictReader(f)}


def test_gradebook_url_comes_from_the_argument_the_config_or_nbgrader_default(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert classroom.gradebook_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/gradebook.db?timeout=600"
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.db_url = 'postgresql://grader@db.example/course'\n"
    )
    assert classroom.gradebook_url(tmp_path) == "postgresql://grader@db.example/course"
    assert classroom.gradebook_url(tmp_path, "sqlite:////x/g.db?timeout=5") == "sqlite:////x/g.db?timeout=5"
    assert (
        classroom.gradebook_url(tmp_path, "sqlite:////x/g.db?mode=rw")
        == "sqlite:////x/g.db?mode=rw&timeout=600"
    )


def test_a_postgresql_url_reaches_nbgrader(toy_repo, tmp_path):
    """No server here: nbgrader's SQLAlchemy fails to load the PostgreSQL driver (or to connect),
    which shows that the URL is the one nbgrader opened."""
    course = _class(toy_repo, tmp_path)
    with pytest.raises(classroom.ClassroomError) as failure:
        classroom.grade_class(course, "toy", db_url="postgresql://grader@127.0.0.1:9/course")
    assert "--CourseDirectory.db_url=postgresql://grader@127.0.0.1:9/course" in str(failure.value)
    assert "psycopg2" in str(failure.value) or "127.0.0.1" in str(failure.value)


def test_shards_grade_disjoint_slices_and_merge_into_one_class(toy_repo, tmp_path):
    course = _class(toy_repo, tmp_path)
    (course / "submitted" / "cem" / "toy" / "toy.ipynb").unlink()  # cem submits nothing gradable
    shards = [classroom.Shard(i, 2) for i in (1, 2)]
    assert [s.students(["cem", "ann", "bob"]) for s in shards] == [["ann", "cem"], ["bob"]]
    with pytest.raises(classroom.ClassroomError, match="shards 2-of-2 of toy have not finished"):
        classroom.grade_class(course, "toy", jobs=2, shard=shards[0])
        classroom.merge(course, "toy")
    classroom.grade_class(course, "toy", jobs=1, shard=shards[1])
    assert not (course / "gradebook.db").exists(), "a shard writes only its own folder"
    rows = {row.student: row for row in classroom.merge(course, "toy")}
    assert {name: row.scores for name, row in rows.items()} == {"ann": FULL, "bob": ZERO, "cem": ZERO}
    assert "no toy.ipynb submitted" in rows["cem"].notes
    assert _csv(course / "grades.csv") == {"ann": "6.0", "bob": "0.0", "cem": "0.0"}
    assert sorted(p.parent.name for p in (course / "feedback").glob("*/toy")) == ["ann", "bob"]


def test_bad_shards_and_jobs_are_clear_errors(toy_repo, tmp_path):
    for text in ("3/2", "0/2", "1-2", "a/b"):
        with pytest.raises(classroom.ClassroomError, match="--shard takes i/n"):
            classroom.Shard.parse(text)
    course = _class(toy_repo, tmp_path)
    with pytest.raises(classroom.ClassroomError, match="jobs must be a positive number"):
        classroom.grade_class(course, "toy", jobs=0)
    with pytest.raises(classroom.ClassroomError, match="no shards to merge"):
        classroom.merge(course, "toy")
    for name in ("1-of-2", "1-of-3"):
        (course / "shards" / "toy" / name).mkdir(parents=True)
    with pytest.raises(classroom.ClassroomError, match="shards of different splits"):
        classroom.merge(course, "toy")


def test_parallel_graders_share_the_cores_among_their_kernels(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(classroom.os.sched_getaffinity(0))
    assert classroom.thread_env(1)["OMP_NUM_THREADS"] == str(cores)
    assert classroom.thread_env(cores * 2) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert classroom.thread_env(2) == {}  # the grader's own setting wins
