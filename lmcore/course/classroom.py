"""Release and autograde a class with nbgrader's own command line.

    python -m lmcore.course.classroom release [ID ...]       # assignments/<id>/ from solutions/<id>/
    python -m lmcore.course.classroom demo                   # grade two demo students in _build/course
    python -m lmcore.course.classroom autograde ID [--course-dir DIR]

A course directory has nbgrader's layout and this repository's nbgrader_config.py:
solutions/<id>/<id>.ipynb (nbgrader's source), assignments/<id>/ (its release),
submitted/<student>/<id>/<id>.ipynb, and what grading writes: gradebook.db, autograded/,
feedback/ and grades.csv. This repository is one; `demo` makes another in _build/course.

Grading an assignment (grade_class):
  1. nbgrader generate_assignment: the gradebook learns the current test cells;
  2. staging: each submission's notebooks, if they are plain files and readable notebooks,
     are copied (outputs dropped) to a private directory that nbgrader grades from; every
     other entry of the submission folder stays behind, with a note in the table;
  3. nbgrader autograde, one process per student, in a network namespace of its own and
     killed with everything it started after `submission_timeout` seconds. Its Execute is
     lmcore.grading.execute.GradingExecute (see nbgrader_config.py): the kernel runs in the
     sandbox of lmcore.course.sandbox, each graded test cell is judged outside the kernel, and a
     part that delegates, copies lmcore's reference or tampers with the grader scores 0;
  4. nbgrader generate_feedback and nbgrader export (grades.csv); the grade table, whose
     notes say what staging left behind, which parts lost everything and why, copy suspects,
     and kernel restarts.
One submission cannot stop the batch: whatever its state, it gets a row and grades.csv is
written. On a GPU machine nothing changes: the hidden tests use CUDA when torch sees it.
"""

import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from lmcore.course import sandbox
from lmcore.grading import execute

REPO = Path(__file__).resolve().parents[2]
DEMO_COURSE = REPO / "_build" / "course"


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


def nbgrader(
    course_dir: Path,
    *args: str,
    timeout: float | None = None,
    env: dict | None = None,
    isolated: bool = False,
) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in course_dir (so its nbgrader_config.py applies), in a network
    namespace of its own when `isolated` (see lmcore.course.sandbox); stdout and stderr together in
    .stdout. Its output goes to a file and we wait on the process, not on the output, so
    nothing it leaves behind holds us up; after `timeout` seconds it is killed with its process
    group, and .returncode is None."""
    # nbgrader runs the `alembic` script from PATH when it creates a gradebook
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    argv = [sys.executable, "-m", "nbgrader", *args]
    argv = sandbox.net_isolated(argv) if isolated else argv
    with tempfile.TemporaryFile("w+", errors="replace") as out:
        proc = subprocess.Popen(
            argv, cwd=course_dir, env={**os.environ, "PATH": path, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
        out.seek(0)
        return subprocess.CompletedProcess(argv, returncode, out.read())


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

SUBMISSION_TIMEOUT = 3600  # s for one student's autograde, every cell and restart included
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


def _kind(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "a link" if os.path.exists(entry.path) else "a broken link"
    if entry.is_dir(follow_symlinks=False):
        return "a folder"
    return "a file" if entry.is_file(follow_symlinks=False) else "a special file"


def stage(course_dir: Path, assignment_id: str, student: str, staged: Path) -> list[str]:
    """Copy what nbgrader should grade from submitted/<student>/<id>/ to staged/<student>/<id>/:
    each of the assignment's notebooks that is a plain file and a readable notebook (its
    outputs dropped), and timestamp.txt. Everything else stays behind. Notes for the table."""
    source = Path(course_dir) / "submitted" / student / assignment_id
    target = staged / student / assignment_id
    target.mkdir(parents=True)
    expected = sorted(p.name for p in (Path(course_dir) / "solutions" / assignment_id).glob("*.ipynb"))
    solution_ids = {
        name: _solution_ids(Path(course_dir) / "solutions" / assignment_id / name) for name in expected
    }
    notes, ignored = [], []
    try:
        entries = sorted(os.scandir(source), key=lambda e: e.name)
    except OSError as exc:
        return [f"the submission folder cannot be read ({exc.strerror})"]
    for entry in entries:
        if entry.name in expected and _kind(entry) == "a file":
            notes += _stage_notebook(Path(entry.path), target / entry.name, solution_ids[entry.name])
        elif entry.name in expected:
            notes.append(f"{entry.name} is {_kind(entry)}, not a notebook file: not graded")
        elif entry.name == "timestamp.txt" and _kind(entry) == "a file" and entry.stat().st_size < 100:
            shutil.copy(entry.path, target / entry.name)
        else:
            ignored.append(f"{entry.name} ({_kind(entry)})")
    if ignored:
        notes.append(
            f"ignored {len(ignored)} other entr{'y' if len(ignored) == 1 else 'ies'}: "
            + ", ".join(ignored[:5])
            + (" ..." if len(ignored) > 5 else "")
        )
    notes += [
        f"no {name} submitted"
        for name in expected
        if not (target / name).exists() and not any(name in n for n in notes)
    ]
    return notes


def _solution_ids(path: Path) -> set[str]:
    return {_meta(c)["grade_id"] for c in nbformat.read(path, as_version=4).cells if _meta(c).get("solution")}


def _stage_notebook(source: Path, target: Path, solution_ids: set[str]) -> list[str]:
    if source.stat().st_size > MAX_NOTEBOOK_BYTES:
        return [f"{source.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB: not graded"]
    try:
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            if cell.get("cell_type") == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, target)
    except Exception as exc:  # invalid JSON, not a notebook, an unknown format version
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        return [f"{source.name} is not a readable notebook ({type(exc).__name__}: {first}): not graded"]
    found = {_meta(c).get("grade_id") for c in nb.cells} & solution_ids
    if not found:
        return [
            f"{source.name} has none of the assignment's solution cells "
            f"({', '.join(sorted(solution_ids))}): another notebook?"
        ]
    return []


def grade_class(
    course_dir: Path,
    assignment_id: str,
    students: list[str] | None = None,
    cell_timeout: int | None = None,
    submission_timeout: float = SUBMISSION_TIMEOUT,
) -> list[Row]:
    """Autograde, give feedback on and export submitted/*/<assignment_id> (or only the
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
    if sandbox.isolation().mode == "root":
        sandbox.sandbox_ids()  # create the sandbox user once, before any kernel needs it
    _nbgrader_checked(course_dir, "generate_assignment", assignment_id, "--force")  # the gradebook's tests
    parts = _parts(course_dir, assignment_id)
    with Gradebook(_db_url(course_dir)) as gb:  # every student gets a row in grades.csv, graded or not
        for student in students:
            gb.update_or_create_student(student)
    options = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
    notes = {}
    with tempfile.TemporaryDirectory(prefix="lmcore-staged-") as private:
        private = Path(private)
        for student in tqdm(students, desc=f"grading {assignment_id}", unit="student"):
            notes[student] = stage(course_dir, assignment_id, student, private / "submitted")
            notes[student] += _autograde(
                course_dir, assignment_id, student, private, options, submission_timeout
            )
    _nbgrader_checked(course_dir, "generate_feedback", assignment_id, "--force")
    _nbgrader_checked(course_dir, "export")
    return [_row(course_dir, assignment_id, student, parts, notes[student]) for student in students]


def _autograde(course_dir, assignment_id, student, private: Path, options, timeout) -> list[str]:
    """One student's nbgrader autograde, sandboxed; notes for the table."""
    summary = private / f"{student}.json"
    proc = nbgrader(
        course_dir, "autograde", assignment_id, "--student", student, "--force",
        f"--CourseDirectory.submitted_directory={private / 'submitted'}", *options,
        env={execute.SUMMARY_ENV: str(summary)}, timeout=timeout, isolated=True,
    )  # fmt: skip
    autograded = course_dir / "autograded" / student / assignment_id
    if proc.returncode != 0 or not autograded.exists():
        output = proc.stdout
        print(f"nbgrader could not grade {student}:\n{output[-2000:]}", file=sys.stderr)
        shutil.rmtree(autograded, ignore_errors=True)
        shutil.rmtree(course_dir / "feedback" / student / assignment_id, ignore_errors=True)  # stale
        why = (
            f"grading did not finish within {timeout:.0f} s" if proc.returncode is None else _failure(output)
        )
        return [f"not graded, every part scores 0: {why}"]
    if not summary.exists():
        return []
    result = json.loads(summary.read_text())
    found = result["everything"]
    notes = (
        [f"every part scores 0: {'; '.join(found[:3])}" + (" ..." if len(found) > 3 else "")] if found else []
    )
    notes += [f"{part} scores 0: {found[0]}" for part, found in result["findings"].items()]
    notes += [f"copy suspect: {s}" for s in result["suspects"]]
    notes += [f"the kernel was restarted {result['restarts']} time(s)"] if result["restarts"] else []
    return notes


def _row(course_dir: Path, assignment_id: str, student: str, parts, notes: list[str]) -> Row:
    """The student's points from the gradebook; 0 for any test cell it has no grade for."""
    tests = {test: None for nb_parts in parts.values() for tests in nb_parts.values() for test in tests}
    scores, max_scores = dict.fromkeys(tests, 0.0), dict.fromkeys(tests, 0.0)
    with Gradebook(_db_url(course_dir)) as gb:
        for nb in gb.find_assignment(assignment_id).notebooks:
            for cell in nb.grade_cells:
                max_scores[cell.name] = cell.max_score
        try:
            submission = gb.find_submission(assignment_id, student)
            for g in (g for nb in submission.notebooks for g in nb.grades):
                scores[g.name] = g.score
        except MissingEntry:
            notes = [*notes, "no grades in the gradebook"]
    return Row(
        student=student,
        assignment=assignment_id,
        scores=scores,
        max_scores=max_scores,
        parts={part: tests for nb_parts in parts.values() for part, tests in nb_parts.items()},
        notes=notes,
    )


def _db_url(course_dir: Path) -> str:
    return f"sqlite:///{Path(course_dir) / 'gradebook.db'}"  # nbgrader's default


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
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.course.classroom", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("release", help="assignments/ from solutions/ (all, or the ids given)")
    command.add_argument("ids", nargs="*", metavar="ID")
    commands.add_parser("demo", help=f"grade two demo students per assignment in {DEMO_COURSE}")
    command = commands.add_parser("autograde", help="grade, audit, feedback and export one assignment")
    command.add_argument("id", metavar="ID")
    command.add_argument("--course-dir", type=Path, default=Path.cwd(), help="default: the current directory")
    command.add_argument(
        "--submission-timeout", type=float, default=SUBMISSION_TIMEOUT, metavar="S",
        help=f"seconds one student's grading may take before it is killed (default {SUBMISSION_TIMEOUT})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.command == "release":
            print("released:", ", ".join(release(args.ids)))
        elif args.command == "demo":
            demo()
        else:
            rows = grade_class(args.course_dir, args.id, submission_timeout=args.submission_timeout)
            print(format_table(rows))
    except ClassroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
