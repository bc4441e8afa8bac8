"""The grading pipeline (lmcore.course.classroom with nbgrader_config.py) on a toy assignment.

One class of toy students is graded once by nbgrader's own CLI; each test reads its
student's row. The toy assignment is not in lmcore's registry, so its course runs test cells
in the kernel (GradingExecute.unaudited = "kernel"); tests/test_grading_attacks.py and the
round trips cover the registry's assignments, whose test cells are judged outside it.
"""

import dataclasses
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lmcore.course import classroom
from tests.shared import once_per_session

# runs notebooks with nbgrader
pytestmark = pytest.mark.slow  # the toy class is graded once per test session
CELL_TIMEOUT = 3  # s, for the infinite loop
JOBS = 3  # students graded at once (the loop and the crash mostly wait)


def _cell(make, source, grade_id, grade=False, solution=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3}
    meta.update(solution=solution, task=False, **({"points": points} if points else {}))
    return make(source, metadata={"nbgrader": meta})


def toy_source() -> nbformat.NotebookNode:
    """Two parts, add and mul, each a solution cell and a visible and a hidden test cell."""
    cells = [
        _cell(new_markdown_cell, "# Toy assignment", "intro"),
        _cell(new_code_cell, "import math", "setup"),
    ]
    for part, a, b, want in [("add", 2, 3, 5), ("mul", 4, 5, 20)]:
        op = "+" if part == "add" else "*"
        cells += [
            _cell(
                new_code_cell,
                f"def {part}(a, b):\n    ### BEGIN SOLUTION\n    return a {op} b\n    ### END SOLUTION",
                part,
                solution=True,
            ),
            _cell(new_code_cell, f"assert {part}({a}, {b}) == {want}", f"test_{part}", grade=True, points=1),
            _cell(
                new_code_cell,
                f"### BEGIN HIDDEN TESTS\nassert {part}({b}, {a}) == {want}\n### END HIDDEN TESTS",
                f"test_{part}_hidden",
                grade=True,
                points=2,
            ),
        ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _drop(nb, *grade_ids):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if classroom._meta(c).get("grade_id") not in grade_ids]
    return nb


def _tag(nb, tags_by_id):
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", []).extend(tags_by_id.get(classroom._meta(cell).get("grade_id"), []))
    return nb


FORGE_EXC = "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


def students(solution, release):
    return {
        "solution": solution,
        "untouched": release,
        "warns": classroom.replace_solution_cells(
            solution,
            {"add": "import warnings\n\ndef add(a, b):\n    warnings.warn('slow')\n    return a + b"},
        ),
        "skips": _tag(release, {"test_add": ["skip-execution"], "test_add_hidden": ["raises-exception"]}),
        "deletes_tests": _drop(release, "test_add", "test_mul_hidden"),
        "deletes_everything": _drop(solution, "add", "test_add", "test_add_hidden", "test_mul_hidden"),
        "loops": classroom.replace_solution_cells(solution, {"add": "while True:\n    pass"}),
        "exits": classroom.replace_solution_cells(solution, {"add": "import sys\nsys.exit(1)"}),
        "crashes": classroom.replace_solution_cells(solution, {"add": "import os\nos._exit(1)"}),
        "forges_exc": classroom.replace_solution_cells(solution, {"add": FORGE_EXC + WRONG_ADD}),
    }


TESTS = ("test_add", "test_add_hidden", "test_mul", "test_mul_hidden")
FULL = dict(zip(TESTS, (1.0, 2.0, 1.0, 2.0), strict=True))
ZERO = dict.fromkeys(TESTS, 0.0)
ONLY_MUL = {**ZERO, "test_mul": 1.0, "test_mul_hidden": 2.0}
IN_KERNEL = '\nc.GradingExecute.unaudited = "kernel"\n'


def make_toy_repo(repo: Path) -> Path:
    """A repository with the toy assignment released, its test cells run in the kernel."""
    (repo / "nbgrader_config.py").write_text((classroom.REPO / "nbgrader_config.py").read_text() + IN_KERNEL)
    (repo / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(toy_source(), repo / "solutions" / "toy" / "toy.ipynb")
    classroom.release(["toy"], repo)
    return repo


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory):
    return make_toy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def graded(toy_repo, tmp_path_factory):
    """(course directory, {student: Row}) for the class of `students`, graded once per session."""

    def grade(directory):
        course = classroom.make_course(directory / "course", ["toy"], toy_repo)
        solution = nbformat.read(toy_repo / "solutions" / "toy" / "toy.ipynb", 4)
        release = nbformat.read(toy_repo / "assignments" / "toy" / "toy.ipynb", 4)
        for student, nb in students(solution, release).items():
            classroom.submit(course, "toy", student, nb)
        rows = classroom.grade_class(course, "toy", cell_timeout=CELL_TIMEOUT, jobs=JOBS)
        return {"course": str(course), "rows": [dataclasses.asdict(row) for row in rows]}

    result = once_per_session(tmp_path_factory, "toy-class", grade)
    return Path(result["course"]), {row["student"]: classroom.Row(**row) for row in result["rows"]}


def autograded(course, student):
    nb = nbformat.read(course / "autograded" / student / "toy" / "toy.ipynb", 4)
    return [
        (classroom._meta(c).get("grade_id"), [o.get("ename") for o in c.get("outputs", [])]) for c in nb.cells
    ]


def test_solution_gets_full_marks_and_the_release_zero(graded):
    course, rows = graded
    assert rows["solution"].scores == FULL and rows["solution"].notes == []
    assert rows["untouched"].scores == ZERO and rows["untouched"].notes == []
    table = classroom.format_table([rows["solution"], rows["untouched"]])
    assert table.splitlines()[0].split() == ["student", "assignment", "score", "max", "add", "mul", "notes"]
    assert table.splitlines()[1].split() == ["solution", "toy", "6", "6", "3/3", "3/3"]
    assert (course / "feedback" / "solution" / "toy" / "toy.html").exists()
    assert "solution,,,,6.0,0.0,6.0,6.0" in (course / "grades.csv").read_text()


def test_a_warning_on_stderr_does_not_fail_a_test_cell(graded):
    assert graded[1]["warns"].scores == FULL


def test_tags_cannot_skip_a_test_cell(graded):
    course, rows = graded
    assert rows["skips"].scores == ZERO
    cells = dict(autograded(course, "skips"))
    assert cells["test_add"] == cells["test_add_hidden"] == ["NotImplementedError"]


def test_deleted_test_cells_come_back_after_their_solution_cell(graded):
    course, rows = graded
    assert rows["deletes_tests"].scores == ZERO
    order = [grade_id for grade_id, _ in autograded(course, "deletes_tests")]
    assert order == ["intro", "setup", "add", *TESTS[:2], "mul", *TESTS[2:]]
    # the student's code for add is gone with its cell; mul's is there and passes its restored test
    assert rows["deletes_everything"].scores == ONLY_MUL


def test_an_infinite_loop_times_out_and_the_rest_of_the_notebook_runs(graded):
    course, rows = graded
    cells = dict(autograded(course, "loops"))
    assert cells["add"] == ["KeyboardInterrupt", "CellTimeoutError"] and cells["test_mul"] == []
    assert rows["loops"].scores == ONLY_MUL


def test_sys_exit_fails_only_its_cell(graded):
    assert dict(autograded(graded[0], "exits"))["add"] == ["SystemExit"]
    assert graded[1]["exits"].scores == ONLY_MUL


def test_a_crashed_kernel_costs_only_its_cell(graded):
    """os._exit kills the kernel: a fresh one re-runs the cells before, and the rest runs."""
    course, rows = graded
    assert rows["crashes"].scores == ONLY_MUL
    assert rows["crashes"].notes == ["the kernel was restarted 1 time(s)"]
    assert dict(autograded(course, "crashes"))["add"] == ["KernelRestarted"]
    assert len(rows) == 10 and rows["solution"].scores == FULL


def test_an_exception_handler_does_not_hide_a_failure_from_nbgrader(graded):
    """A handler that prints nothing leaves the kernel's error reply, which nbgrader records."""
    assert graded[1]["forges_exc"].scores == ONLY_MUL


def test_unaudited_test_cells_fail_closed_by_default(toy_repo, tmp_path):
    course = classroom.make_course(tmp_path / "course", ["toy"], toy_repo)
    (course / "nbgrader_config.py").write_text((classroom.REPO / "nbgrader_config.py").read_text())
    solution = nbformat.read(toy_repo / "solutions" / "toy" / "toy.ipynb", 4)
    assert classroom.grade_submissions(course, "toy", {"s": solution}) == {"s": ZERO}
    outputs = dict(autograded(course, "s"))
    assert outputs["test_add"] == ["GradingError"]


def test_clear_errors(toy_repo, tmp_path):
    course = classroom.make_course(tmp_path / "course", ["toy"], toy_repo)
    with pytest.raises(classroom.ClassroomError, match="unknown assignment 'A99'.*assignments there: toy"):
        classroom.grade_class(course, "A99")
    with pytest.raises(classroom.ClassroomError, match="no submissions of toy"):
        classroom.grade_class(course, "toy")
    with pytest.raises(KeyError, match="no solution cells \\['test_add'\\]"):
        classroom.replace_solution_cells(toy_source(), {"test_add": "pass"})
