"""Release and autograde a class with nbgrader's own command line.

    python -m lmcore.course.classroom release [ID ...]       # assignments/<id>/ from solutions/<id>/
    python -m lmcore.course.classroom demo                   # grade two demo students in _build/course
    python -m lmcore.course.classroom autograde ID [--course-dir DIR] [--jobs N] [--shard I/N] [--db URL]
    python -m lmcore.course.classroom merge ID [--course-dir DIR]        # after every shard of ID

A course directory has nbgrader's layout and this repository's nbgrader_config.py:
solutions/<id>/<id>.ipynb (nbgrader's source), assignments/<id>/ (its release),
submitted/<student>/<id>/<id>.ipynb, and what grading writes: gradebook.db, autograded/,
feedback/ and grades.csv. This repository is one; `demo` makes another in _build/course.

Grading an assignment (grade_class):
  1. nbgrader generate_assignment: the gradebook learns the current test cells;
  2. staging: each submission's notebooks, if they are plain files and readable notebooks,
     are copied (outputs dropped) to a private directory that nbgrader grades from; every
     other entry of the submission folder stays behind, with a note in the table;
  3. nbgrader autograde, one process per student, `jobs` of them at once, each in a network
     namespace of its own and killed with everything it started after `submission_timeout`
     seconds; the gradebook (SQLite with a busy timeout, or a server: gradebook_url) takes
     their writes one at a time. Its Execute is
     lmcore.grading.execute.GradingExecute (see nbgrader_config.py): the kernel runs in the
     sandbox of lmcore.course.sandbox, each graded test cell is judged outside the kernel, and a
     part that delegates, copies lmcore's reference or tampers with the grader scores 0;
  4. nbgrader generate_feedback and nbgrader export (grades.csv); the grade table, whose
     notes say what staging left behind, which parts lost everything and why, copy suspects,
     and kernel restarts.
A class too large for one machine is split into shards (`--shard I/N`, one job each, see
docs/grading-at-scale.md), each with its own gradebook, and `merge` joins them.
One submission cannot stop the batch: whatever its state, it gets a row and grades.csv is
written. On a GPU machine nothing changes: the hidden tests use CUDA when torch sees it.
"""

import argparse
import contextlib
import copy
import csv
import dataclasses
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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm
from traitlets.config.loader import PyFileConfigLoader

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
NOT_GRADED = "not graded"  # how the note of a submission nbgrader could not grade begins
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


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` (1-based) of ``count`` of a class: the students at positions index-1,
    index-1+count, ... of the sorted list of submitters, graded into a folder of its own
    (shards/<assignment>/<index>-of-<count>/: gradebook.db, autograded/, feedback/,
    grades.csv, rows.json) that ``merge`` combines with the others."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ClassroomError(f"--shard takes i/n with 1 <= i <= n (for example 2/8), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def students(self, students: list[str]) -> list[str]:
        return sorted(students)[self.index - 1 :: self.count]

    def folder(self, course_dir: Path, assignment_id: str) -> Path:
        return Path(course_dir) / "shards" / assignment_id / f"{self.index}-of-{self.count}"


def default_jobs() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


def gradebook_url(course_dir: Path, url: str | None = None) -> str:
    """The gradebook's SQLAlchemy URL: ``url``, else nbgrader_config.py's CourseDirectory.db_url,
    else nbgrader's default sqlite:///<course>/gradebook.db. Every nbgrader command of
    grade_class is given this URL, so the gradebook it writes is the one the table reads.

    A SQLite URL gets an explicit busy timeout (``?timeout=600``, seconds; SQLAlchemy hands it
    to sqlite3.connect) unless it names one: parallel graders then wait their turn to write
    instead of failing with "database is locked". A PostgreSQL server needs a driver
    (``pip install psycopg2-binary``) and a URL such as postgresql://grader@db.example/course.
    """
    if url is None:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
        url = (
            config.CourseDirectory.get("db_url") or f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"
        )
    if url.startswith("sqlite") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + "timeout=600"
    return url


def grade_class(
    course_dir: Path,
    assignment_id: str,
    students: list[str] | None = None,
    cell_timeout: int | None = None,
    submission_timeout: float = SUBMISSION_TIMEOUT,
    jobs: int | None = None,
    shard: Shard | None = None,
    db_url: str | None = None,
) -> list[Row]:
    """Autograde, give feedback on and export submitted/*/<assignment_id> (or only the
    students given); their grade rows. cell_timeout (s) overrides nbgrader_config.py's.

    ``jobs`` students (default: one per core) are graded at once, each by its own sandboxed
    nbgrader process; the gradebook serialises their writes (see gradebook_url). A ``shard``
    grades only its slice of the students, into its own folder (see Shard and merge)."""
    course_dir = Path(course_dir).resolve()
    _check_id(course_dir, assignment_id)
    submitted = sorted(p.parent.name for p in course_dir.glob(f"submitted/*/{assignment_id}"))
    students = students or submitted
    if not students or set(students) - set(submitted):
        raise ClassroomError(
            f"no submissions of {assignment_id} from {sorted(set(students) - set(submitted)) or 'anyone'}: "
            f"expected {course_dir}/submitted/<student>/{assignment_id}/{assignment_id}.ipynb"
        )
    jobs = default_jobs() if jobs is None else jobs
    if not isinstance(jobs, int) or jobs < 1:
        raise ClassroomError(f"jobs must be a positive number of parallel graders, got {jobs!r}")
    paths = []  # where this run writes, when a shard: the gradebook, autograded/, feedback/, release
    if shard is not None:
        students = shard.students(students)
        folder = shard.folder(course_dir, assignment_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        db_url = f"sqlite:///{folder / 'gradebook.db'}"  # a gradebook of its own, whatever the course's
        paths = [
            f"--CourseDirectory.{step}_directory={(folder / step).relative_to(course_dir)}"
            for step in ("autograded", "feedback", "release")
        ]
    db_url = gradebook_url(course_dir, db_url)
    common = [f"--CourseDirectory.db_url={db_url}", *paths]
    if sandbox.isolation().mode == "root":
        sandbox.sandbox_ids()  # create the sandbox user once, before any kernel needs it
    _nbgrader_checked(course_dir, "generate_assignment", assignment_id, "--force", *common)  # its tests
    parts = _parts(course_dir, assignment_id)
    with Gradebook(db_url) as gb:  # every student gets a row in grades.csv, graded or not
        for student in students:
            gb.update_or_create_student(student)
    options = [*common, *([f"--Execute.timeout={cell_timeout}"] if cell_timeout else [])]
    threads = thread_env(jobs)  # the same for every student of the class
    notes = {}
    with tempfile.TemporaryDirectory(prefix="lmcore-staged-") as private:
        private = Path(private)

        def grade(student: str) -> list[str]:
            staged = stage(course_dir, assignment_id, student, private / "submitted")
            return staged + _autograde(
                course_dir, assignment_id, student, private, options, submission_timeout, threads
            )

        with (
            ThreadPoolExecutor(max_workers=min(jobs, len(students))) as pool,
            tqdm(total=len(students), desc=f"grading {assignment_id}", unit="student") as bar,
        ):
            futures = {pool.submit(grade, student): student for student in students}
            failed = 0
            for future in as_completed(futures):
                notes[futures[future]] = future.result()
                failed += any(n.startswith(NOT_GRADED) for n in notes[futures[future]])
                bar.set_postfix(failed=failed)
                bar.update()
    _nbgrader_checked(course_dir, "generate_feedback", assignment_id, "--force", *common)
    export = [f"--to={folder / 'grades.csv'}"] if shard is not None else []
    _nbgrader_checked(course_dir, "export", f"--CourseDirectory.db_url={db_url}", *export)
    rows = [_row(db_url, assignment_id, student, parts, notes[student]) for student in students]
    if shard is not None:
        (folder / "rows.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return rows


def merge(course_dir: Path, assignment_id: str) -> list[Row]:
    """Combine the shards of a class (shards/<id>/<i>-of-<n>/, every i of one n) into the
    course's grades.csv, autograded/ and feedback/; the rows of every student, in order.
    Raises if a shard is missing or unfinished, or if shards of different sizes are present."""
    course_dir = Path(course_dir).resolve()
    root = course_dir / "shards" / assignment_id
    found = sorted(root.glob("*-of-*")) if root.is_dir() else []
    counts = {p.name.split("-of-")[1] for p in found}
    if len(counts) != 1:
        raise ClassroomError(
            f"no shards to merge in {root}" if not counts else
            f"shards of different splits in {root}: {sorted(p.name for p in found)}; remove the stale ones"
        )  # fmt: skip
    count = int(counts.pop())
    folders = [Shard(i, count).folder(course_dir, assignment_id) for i in range(1, count + 1)]
    unfinished = [
        f.name for f in folders if not (f / "rows.json").exists() or not (f / "grades.csv").exists()
    ]
    if unfinished:
        raise ClassroomError(f"shards {', '.join(unfinished)} of {assignment_id} have not finished grading")
    rows, header, lines = [], None, []
    for folder in folders:
        rows += [Row(**r) for r in json.loads((folder / "rows.json").read_text())]
        with open(folder / "grades.csv", newline="") as f:
            table = list(csv.reader(f))
        header = header or table[0]
        if table[0] != header:
            raise ClassroomError(f"{folder / 'grades.csv'} has other columns than the first shard's")
        lines += table[1:]
        for step in ("autograded", "feedback"):
            for student_dir in sorted((folder / step).glob(f"*/{assignment_id}")):
                target = course_dir / step / student_dir.parent.name / assignment_id
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(student_dir, target)
    names = [r.student for r in rows]
    if len(set(names)) != len(names):
        raise ClassroomError(
            f"a student is in two shards: {sorted({n for n in names if names.count(n) > 1})}"
        )
    with open(course_dir / "grades.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *sorted(lines, key=lambda line: line[header.index("student_id")])])
    return sorted(rows, key=lambda r: r.student)


def thread_env(jobs: int) -> dict[str, str]:
    """The torch/BLAS threads each of ``jobs`` graders' kernels may use: the cores shared out.

    Without it every kernel starts one thread per core, and ``jobs`` kernels on the same cores
    wait on each other at every small op (on 2 cores, A5 took 20.6 s per student with two
    graders against 9.0 s with one). A thread count the grader already set is kept.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return {}
    threads = str(max(1, len(os.sched_getaffinity(0)) // max(1, jobs)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _autograde(course_dir, assignment_id, student, private: Path, options, timeout, threads) -> list[str]:
    """One student's nbgrader autograde, sandboxed; notes for the table."""
    summary = private / f"{student}.json"
    proc = nbgrader(
        course_dir, "autograde", assignment_id, "--student", student, "--force",
        f"--CourseDirectory.submitted_directory={private / 'submitted'}", *options,
        env={execute.SUMMARY_ENV: str(summary), **threads}, timeout=timeout, isolated=True,
    )  # fmt: skip
    autograded = course_dir / "autograded" / student / assignment_id
    if proc.returncode != 0 or not autograded.exists():
        output = proc.stdout
        tqdm.write(f"nbgrader could not grade {student}:\n{output[-2000:]}", file=sys.stderr)
        shutil.rmtree(autograded, ignore_errors=True)
        shutil.rmtree(course_dir / "feedback" / student / assignment_id, ignore_errors=True)  # stale
        why = (
            f"grading did not finish within {timeout:.0f} s" if proc.returncode is None else _failure(output)
        )
        return [f"{NOT_GRADED}, every part scores 0: {why}"]
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


def _row(db_url: str, assignment_id: str, student: str, parts, notes: list[str]) -> Row:
    """The student's points from the gradebook; 0 for any test cell it has no grade for."""
    tests = {test: None for nb_parts in parts.values() for tests in nb_parts.values() for test in tests}
    scores, max_scores = dict.fromkeys(tests, 0.0), dict.fromkeys(tests, 0.0)
    with Gradebook(db_url) as gb:
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
    command.add_argument(
        "--jobs", type=int, default=default_jobs(), metavar="N",
        help=f"students graded at once, one nbgrader process each (default: {default_jobs()}, the cores)",
    )  # fmt: skip
    command.add_argument(
        "--shard", type=Shard.parse, metavar="I/N",
        help="grade only slice I of N of the students, into shards/ID/I-of-N/ (then run merge)",
    )  # fmt: skip
    command.add_argument(
        "--db", metavar="URL",
        help="the gradebook's SQLAlchemy URL (default: nbgrader_config.py's CourseDirectory.db_url, "
        "else sqlite:///<course>/gradebook.db)",
    )  # fmt: skip
    command = commands.add_parser("merge", help="combine the shards of one assignment into grades.csv")
    command.add_argument("id", metavar="ID")
    command.add_argument("--course-dir", type=Path, default=Path.cwd(), help="default: the current directory")
    try:
        args = parser.parse_args(argv)
    except ClassroomError as exc:  # a bad --shard
        parser.error(str(exc))
    start = time.perf_counter()
    try:
        if args.command == "release":
            print("released:", ", ".join(release(args.ids)))
        elif args.command == "demo":
            demo()
        elif args.command == "merge":
            print(format_table(merge(args.course_dir, args.id)))
        else:
            rows = grade_class(
                args.course_dir, args.id, submission_timeout=args.submission_timeout, jobs=args.jobs,
                shard=args.shard, db_url=args.db,
            )  # fmt: skip
            print(format_table(rows))
    except ClassroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
