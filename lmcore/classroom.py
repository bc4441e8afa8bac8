"""Release, autograde and audit a class with nbgrader's own command line.

    python -m lmcore.classroom release [ID ...]       # assignments/<id>/ from solutions/<id>/
    python -m lmcore.classroom demo                   # grade two demo students in _build/course
    python -m lmcore.classroom autograde ID [--course-dir DIR]

A course directory has nbgrader's layout and this repository's nbgrader_config.py:
solutions/<id>/<id>.ipynb (nbgrader's source), assignments/<id>/ (its release),
submitted/<student>/<id>/<id>.ipynb, and what grading writes: gradebook.db, autograded/,
feedback/ and grades.csv. This repository is one; `demo` makes another in _build/course.

Grading an assignment (grade_class):
  1. nbgrader generate_assignment: the gradebook learns the current test cells;
  2. nbgrader autograde, one process per student: a submission that hangs, crashes its
     kernel or breaks nbgrader fails only itself, and a notebook nbgrader could not grade
     scores 0 (each cell also has a timeout, see nbgrader_config.py);
  3. the audit (lmcore.grading.audit) re-checks each autograded notebook outside the
     student's kernel; a test cell nbgrader gave points to but the audit fails gets a
     manual score of 0 in the gradebook, with a comment saying why. It fails closed: a
     notebook the audit cannot check (an assignment it does not know, say) scores 0;
  4. nbgrader generate_feedback and nbgrader export (grades.csv); the grade table.
On a GPU machine nothing changes: the hidden tests use CUDA when torch sees it.
"""

import argparse
import contextlib
import copy
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbgrader.api import Gradebook
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
DEMO_COURSE = REPO / "_build" / "course"
STUDENT_TIMEOUT = 3 * 3600  # s; a last resort, since every cell has its own timeout
AUDIT_MARK = "[audit]"  # starts every comment the audit writes, so a later run can replace it


class ClassroomError(Exception):
    """A problem the instructor must fix: an unknown assignment, no submissions, nbgrader failing."""


@dataclass
class Row:
    """One student's grade for one assignment. scores: test cell grade_id -> final points."""

    student: str
    assignment: str
    scores: dict[str, float]
    max_scores: dict[str, float]
    parts: dict[str, list[str]]  # part (solution cell grade_id) -> its test cells
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(self.scores.values())

    @property
    def max_score(self) -> float:
        return sum(self.max_scores.values())

    def part_points(self, part: str) -> str:
        tests = self.parts[part]
        return f"{sum(self.scores[t] for t in tests):g}/{sum(self.max_scores[t] for t in tests):g}"


# ---------------------------------------------------------------------------- nbgrader's CLI


def nbgrader(course_dir: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in course_dir (so its nbgrader_config.py applies); stdout and stderr
    together in .stdout. After `timeout` seconds nbgrader and its kernels are killed (rc -9)."""
    # nbgrader runs the `alembic` script from PATH when it creates a gradebook
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course_dir,
        env={**os.environ, "PATH": path},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(proc.pid).children(recursive=True):  # kernels have their own session
                child.kill()
        proc.kill()
        output, _ = proc.communicate()
        output += f"\nKilled: nbgrader did not finish within {timeout:.0f} s"
        return subprocess.CompletedProcess(proc.args, -9, output)
    return subprocess.CompletedProcess(proc.args, proc.returncode, output)


def _nbgrader_checked(course_dir: Path, *args: str) -> None:
    proc = nbgrader(course_dir, *args)
    if proc.returncode != 0:
        raise ClassroomError(f"`nbgrader {' '.join(args)}` failed in {course_dir}:\n{proc.stdout[-3000:]}")


def _failure(output: str) -> str:
    """The one line of nbgrader's output that says why a notebook could not be graded."""
    errors = re.findall(r"^\s*(?:\w+\.)*(\w*(?:Error|Exception|Exit|Killed)\b:?.*)$", output, re.MULTILINE)
    return errors[-1].strip() if errors else output.strip().splitlines()[-1]


# ---------------------------------------------------------------------------- course layout


def assignment_ids(course_dir: Path = REPO) -> list[str]:
    """The assignments of a course: solutions/<id>/<id>.ipynb."""
    return sorted(
        p.parent.name for p in Path(course_dir).glob("solutions/*/*.ipynb") if p.stem == p.parent.name
    )


def _check_id(course_dir: Path, assignment_id: str) -> None:
    if not (Path(course_dir) / "nbgrader_config.py").exists():
        raise ClassroomError(f"{course_dir} is no course directory: it has no nbgrader_config.py")
    if assignment_id not in assignment_ids(course_dir):
        raise ClassroomError(
            f"unknown assignment {assignment_id!r}: no solutions/{assignment_id}/{assignment_id}.ipynb "
            f"in {course_dir} (assignments there: {', '.join(assignment_ids(course_dir)) or 'none'})"
        )


def release(ids: list[str] | None = None, course_dir: Path = REPO) -> list[str]:
    """nbgrader generate_assignment for each id (all by default): assignments/<id>/ from
    solutions/<id>/. No gradebook is written (--no-db); grading makes its own."""
    course_dir = Path(course_dir).resolve()
    ids = ids or assignment_ids(course_dir)
    for assignment_id in ids:
        _check_id(course_dir, assignment_id)
        _nbgrader_checked(course_dir, "generate_assignment", assignment_id, "--force", "--no-db")
    return ids


def make_course(course_dir: Path, ids: list[str], repo: Path = REPO) -> Path:
    """A fresh course directory with repo's nbgrader_config.py and solutions of `ids`."""
    course_dir = Path(course_dir).resolve()
    shutil.rmtree(course_dir, ignore_errors=True)
    course_dir.mkdir(parents=True)
    shutil.copy(Path(repo) / "nbgrader_config.py", course_dir)
    for assignment_id in ids:
        _check_id(repo, assignment_id)
        shutil.copytree(Path(repo) / "solutions" / assignment_id, course_dir / "solutions" / assignment_id)
    return course_dir


def submit(course_dir: Path, assignment_id: str, student: str, nb: nbformat.NotebookNode) -> Path:
    """Place a student's notebook where nbgrader collects it."""
    path = Path(course_dir) / "submitted" / student / assignment_id / f"{assignment_id}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def replace_solution_cells(nb: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of nb whose solution cells named in `sources` (by grade_id) have the given source."""
    nb = copy.deepcopy(nb)
    solutions = {_meta(c).get("grade_id"): c for c in nb.cells if _meta(c).get("solution")}
    unknown = set(sources) - set(solutions)
    if unknown:
        raise KeyError(f"no solution cells {sorted(unknown)}; the notebook has {sorted(solutions)}")
    for grade_id, source in sources.items():
        solutions[grade_id].source = source
    return nb


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _parts(course_dir: Path, assignment_id: str) -> dict[str, dict[str, list[str]]]:
    """notebook -> {part: [its test cells]}: a part is a solution cell and the autograded test
    cells that follow it in the source notebook (A5: attention -> test_attention(_hidden))."""
    notebooks = {}
    for path in sorted((Path(course_dir) / "solutions" / assignment_id).glob("*.ipynb")):
        parts, part = defaultdict(list), None
        for cell in nbformat.read(path, as_version=4).cells:
            meta = _meta(cell)
            if meta.get("solution"):
                part = meta["grade_id"]
            elif meta.get("grade") and cell.cell_type == "code":
                if part is None:
                    raise ClassroomError(f"{path}: test cell {meta['grade_id']} precedes every solution cell")
                parts[part].append(meta["grade_id"])
        notebooks[path.stem] = dict(parts)
    return notebooks


# ---------------------------------------------------------------------------- grading


def audit(notebook: Path, assignment_id: str) -> dict[str, bool]:
    """Test cell grade_id -> whether its part passes when checked outside the student's kernel.
    The one seam to lmcore.grading.audit (tests of toy assignments replace this function)."""
    from lmcore.grading.audit import audit_notebook

    return audit_notebook(notebook, assignment_id)


def grade_class(
    course_dir: Path,
    assignment_id: str,
    students: list[str] | None = None,
    cell_timeout: int | None = None,
) -> list[Row]:
    """Autograde, audit, give feedback on and export submitted/*/<assignment_id> (or only the
    students given); their grade rows. cell_timeout (s) overrides nbgrader_config.py's."""
    course_dir = Path(course_dir).resolve()
    _check_id(course_dir, assignment_id)
    submitted = sorted(p.parent.name for p in course_dir.glob(f"submitted/*/{assignment_id}"))
    students = students or submitted
    if not students or set(students) - set(submitted):
        raise ClassroomError(
            f"no submissions of {assignment_id} from {sorted(set(students) - set(submitted)) or 'anyone'}: "
            f"expected {course_dir}/submitted/<student>/{assignment_id}/{assignment_id}.ipynb"
        )
    _nbgrader_checked(course_dir, "generate_assignment", assignment_id, "--force")  # the gradebook's tests
    parts = _parts(course_dir, assignment_id)
    options = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
    notes = {}
    for student in tqdm(students, desc=f"grading {assignment_id}", unit="student"):
        proc = nbgrader(
            course_dir, "autograde", assignment_id, "--student", student, "--force", *options,
            timeout=STUDENT_TIMEOUT,
        )  # fmt: skip
        autograded = course_dir / "autograded" / student / assignment_id
        if proc.returncode == 0 and all((autograded / f"{nb}.ipynb").exists() for nb in parts):
            verdicts = {nb: _audit(autograded / f"{nb}.ipynb", assignment_id, ps) for nb, ps in parts.items()}
        else:
            print(f"nbgrader could not grade {student}:\n{proc.stdout[-2000:]}", file=sys.stderr)
            shutil.rmtree(course_dir / "feedback" / student / assignment_id, ignore_errors=True)  # stale
            verdicts = dict.fromkeys(parts, f"nbgrader could not grade the notebook: {_failure(proc.stdout)}")
        notes[student] = _reconcile(course_dir, assignment_id, student, parts, verdicts)
    _nbgrader_checked(course_dir, "generate_feedback", assignment_id, "--force")
    _nbgrader_checked(course_dir, "export")
    return [_row(course_dir, assignment_id, student, parts, notes[student]) for student in students]


def _audit(notebook: Path, assignment_id: str, parts: dict[str, list[str]]) -> dict[str, bool] | str:
    """The audit's verdict on each test cell, or why there is none (then they all count as failed)."""
    try:
        verdict = audit(notebook, assignment_id)
    except Exception as exc:
        return f"the audit could not check the notebook: {type(exc).__name__}: {exc}"
    missing = sorted({test for tests in parts.values() for test in tests} - set(verdict))
    return f"the audit has no verdict for {', '.join(missing)}" if missing else verdict


def _reconcile(course_dir: Path, assignment_id: str, student: str, parts, verdicts) -> list[str]:
    """Give a manual score of 0, with a comment on the part's solution cell, to each test cell that
    nbgrader did not score 0 but that failed the audit; first undo what an earlier run decided.
    verdicts: notebook -> {test cell: passed}, or why none of its test cells can be trusted.
    Returns notes for the grade table."""
    notes = []
    with Gradebook(_db_url(course_dir)) as gb:
        gb.update_or_create_student(student)
        for nb in gb.update_or_create_submission(assignment_id, student).notebooks:
            grades, comments = {g.name: g for g in nb.grades}, {c.name: c for c in nb.comments}
            verdict, zeroed = verdicts[nb.name], []
            why = (
                verdict
                if isinstance(verdict, str)
                else "passed in the notebook's kernel but fails when checked outside it"
            )
            for part, tests in parts[nb.name].items():
                comment = comments[part]
                if (comment.manual_comment or "").startswith(AUDIT_MARK):
                    comment.manual_comment = None
                    for test in tests:
                        grades[test].manual_score = None
                        grades[test].needs_manual_grade = grades[test].auto_score is None
                failed = [t for t in tests if isinstance(verdict, str) or not verdict[t]]
                part_zeroed = [t for t in failed if grades[t].auto_score != 0]
                for test in part_zeroed:
                    grades[test].manual_score, grades[test].needs_manual_grade = 0.0, False
                if part_zeroed:
                    comment.manual_comment = f"{AUDIT_MARK} {', '.join(part_zeroed)} scored 0: {why}"
                zeroed += part_zeroed
            if zeroed:
                notes.append(f"{', '.join(zeroed)} scored 0: {why}")
        gb.db.commit()
    return notes


def _db_url(course_dir: Path) -> str:
    return f"sqlite:///{Path(course_dir) / 'gradebook.db'}"  # nbgrader's default


def _row(course_dir: Path, assignment_id: str, student: str, parts, notes: list[str]) -> Row:
    with Gradebook(_db_url(course_dir)) as gb:
        submission = gb.find_submission(assignment_id, student)
        grades = [g for nb in submission.notebooks for g in nb.grades]
        return Row(
            student=student,
            assignment=assignment_id,
            scores={g.name: g.score for g in grades},
            max_scores={g.name: g.max_score for g in grades},
            parts={part: tests for nb_parts in parts.values() for part, tests in nb_parts.items()},
            notes=notes,
        )


def grade_submissions(
    course_dir: Path,
    assignment_id: str,
    submissions: dict[str, nbformat.NotebookNode],
    cell_timeout: int | None = None,
) -> dict[str, dict[str, float]]:
    """Submit, grade and audit notebooks in a course directory (see make_course);
    student -> {test cell grade_id: final points}."""
    for student, nb in submissions.items():
        submit(course_dir, assignment_id, student, nb)
    rows = grade_class(course_dir, assignment_id, list(submissions), cell_timeout)
    return {row.student: row.scores for row in rows}


def format_table(rows: list[Row]) -> str:
    """Student, assignment, score, max score, the points of each part, and notes."""
    parts = list(dict.fromkeys(part for row in rows for part in row.parts))
    header = ["student", "assignment", "score", "max", *parts, "notes"]
    lines = [
        [r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}"]
        + [r.part_points(p) if p in r.parts else "" for p in parts]
        + ["; ".join(r.notes)]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )


# ---------------------------------------------------------------------------- commands


def demo(course_dir: Path = DEMO_COURSE, repo: Path = REPO) -> list[Row]:
    """Two students for every assignment: `solution` submits the solution notebook and
    `untouched` the release as is. Raises unless they get full and zero marks."""
    ids = assignment_ids(repo)
    if not ids:
        raise ClassroomError(f"no assignments in {repo / 'solutions'}")
    make_course(course_dir, ids, repo)
    rows = []
    for assignment_id in ids:
        released = repo / "assignments" / assignment_id / f"{assignment_id}.ipynb"
        if not released.exists():
            raise ClassroomError(f"{released} is missing: run `make release`")
        submissions = {
            "solution": nbformat.read(repo / "solutions" / assignment_id / f"{assignment_id}.ipynb", 4),
            "untouched": nbformat.read(released, 4),
        }
        for student, nb in submissions.items():
            submit(course_dir, assignment_id, student, nb)
        rows += grade_class(course_dir, assignment_id, list(submissions))
    print(format_table(rows))
    wrong = [
        f"{r.student} got {r.score:g}/{r.max_score:g} for {r.assignment}"
        for r in rows
        if r.score != {"solution": r.max_score, "untouched": 0}[r.student]
    ]
    if wrong:
        raise ClassroomError("the demo class is graded wrongly: " + "; ".join(wrong))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmcore.classroom", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("release", help="assignments/ from solutions/ (all, or the ids given)")
    command.add_argument("ids", nargs="*", metavar="ID")
    commands.add_parser("demo", help=f"grade two demo students per assignment in {DEMO_COURSE}")
    command = commands.add_parser("autograde", help="grade, audit, feedback and export one assignment")
    command.add_argument("id", metavar="ID")
    command.add_argument("--course-dir", type=Path, default=Path.cwd(), help="default: the current directory")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.command == "release":
            print("released:", ", ".join(release(args.ids)))
        elif args.command == "demo":
            demo()
        else:
            print(format_table(grade_class(args.course_dir, args.id)))
    except ClassroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
