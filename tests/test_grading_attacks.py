"""Grading integrity: one A5 class of honest, careless and cheating students, graded once.

Each attacker tries what a cheating or careless student would; the test asserts every
student's exact points, that every honest student keeps full marks, that the attacks had no
effect outside the attacker's own sandbox, and that the course directory (sources, release,
config, other submissions, lmcore) is byte-identical afterwards except for grading's own
writes (gradebook.db, autograded/, feedback/, grades.csv).

The isolation this relies on needs root (lmcore.course.sandbox); without it the test is skipped.
"""

import ast
import dataclasses
import hashlib
import inspect
import itertools
import json
import os
import socket
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

import lmcore
from lmcore import model
from lmcore.course import classroom, sandbox
from lmcore.grading.registry import ASSIGNMENTS
from tests.roundtrip import full_marks, parts_lost
from tests.shared import once_per_session
from tests.submissions import Submissions, grade_id
from tests.variants import a5 as variants

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox.isolation().mode != "root", reason="the sandbox's user switch needs a root grader"
    ),
]
CELL_TIMEOUT = 20  # s: loops and a kernel that ignores its interrupt cost this much, not the batch
MEMORY = 3 << 30  # each kernel's memory limit in this class (the bomb stops there)
JOBS = 3  # students graded at once: the hangs wait out their timeouts while others run
MARKER = f"left-behind-{os.getpid()}"  # in the intruder's daemon's command line
GRADING_WRITES = ("gradebook.db", "autograded", "feedback", "grades.csv")
A5 = Submissions("A5")
ALL = [p.id for p in ASSIGNMENTS["A5"].parts]


def with_cells(nb, *sources, at=None):
    """nb with new (student-added) code cells, after the setup cell unless `at` says where."""
    nb = nbformat.from_dict(nb)
    index = 2 if at is None else at
    for offset, source in enumerate(sources):
        nb.cells.insert(index + offset, new_code_cell(source))
    return nb


def cell_index(nb, cell_id) -> int:
    return [grade_id(c) for c in nb.cells].index(cell_id)


def at_end(nb, *sources):
    return with_cells(nb, *sources, at=len(nb.cells))


def set_meta(nb, cell_id, **meta):
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if grade_id(cell) == cell_id:
            cell.metadata.nbgrader.update(meta)
    return nb


class _Disguise(ast.NodeTransformer):
    """Rename arguments and locals, drop annotations: a copy made to look like one's own."""

    NAMES = {
        "config": "cfg",
        "x": "inp",
        "y": "out",
        "q": "queries",
        "k": "keys",
        "v": "values",
        "B": "b",
        "T": "t",
        "C": "c",
    }

    def visit_Name(self, node):
        node.id = self.NAMES.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg, node.annotation = self.NAMES.get(node.arg, node.arg), None
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        return self.generic_visit(node)


def disguised_reference(cls) -> str:
    """lmcore's source of cls, renamed and made to run in the notebook."""
    tree = _Disguise().visit(ast.parse(inspect.getsource(cls)))
    return ast.unparse(tree).replace("fused_attention", "scaled_dot_product_attention")


INTRUDER = """
import json, os, shutil, socket, sqlite3, subprocess, sys
import lmcore.grading.audit as grader
COURSE, REPO, PORT = {course!r}, {repo!r}, {port}
tried = {{}}
def attempt(name, action):
    try:
        action()
        tried[name] = "done"
    except BaseException as exc:
        tried[name] = type(exc).__name__
def steal():  # the instructor's solution cells, saved as a module of its own to import
    cells = json.load(open(f"{{COURSE}}/solutions/A5/A5.ipynb"))["cells"]
    code = [c["source"] for c in cells if c["metadata"].get("nbgrader", {{}}).get("solution")]
    with open("stolen.py", "w") as f:
        f.write("import math\\nimport torch\\nimport torch.nn.functional as F\\nfrom torch import nn\\n")
        f.write("\\n".join("".join(s) for s in code))
def forge_grades():
    db = sqlite3.connect(f"{{COURSE}}/gradebook.db")
    db.execute("update grade set manual_score = 100")
    db.commit()
def append(path):
    with open(path, "a") as f:
        f.write("\\nraise SystemExit('owned')\\n")
attempt("read the solutions", steal)
attempt("read the repository's solutions", lambda: open(f"{{REPO}}/solutions/A5/A5.ipynb").read())
attempt("write the gradebook", forge_grades)
attempt("overwrite another submission", lambda: append(f"{{COURSE}}/submitted/solution/A5/A5.ipynb"))
attempt("append to the course config", lambda: append(f"{{COURSE}}/nbgrader_config.py"))
attempt("change lmcore's grader", lambda: append(grader.__file__))
attempt("change the release", lambda: append(f"{{COURSE}}/assignments/A5/A5.ipynb"))
attempt("change the source notebook", lambda: append(f"{{COURSE}}/solutions/A5/A5.ipynb"))
attempt("copy the gradebook home", lambda: shutil.copy(f"{{COURSE}}/gradebook.db", "gradebook.db"))
attempt("copy the solutions home", lambda: shutil.copytree(f"{{COURSE}}/solutions", "solutions"))
attempt("reach the grader's loopback", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
attempt("reach the internet", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
daemon = [sys.executable, "-c", "import os, time; os.setsid(); time.sleep(900)  # {marker}"]
attempt("leave a daemon behind", lambda: subprocess.Popen(daemon, start_new_session=True))
print("TRIED " + json.dumps(tried))
"""
STEAL = "from stolen import *  # the stolen solution, if it could be read"
EXEC_REFERENCE = "import inspect\nimport lmcore.model\nexec(inspect.getsource(lmcore.model))"
ALIASES = "import lmcore.attention as ref_attention\nimport lmcore.model as ref"
REFERENCE_CELLS = {  # each solution cell hands its part to lmcore's reference
    "attention": "scaled_dot_product_attention = ref_attention.scaled_dot_product_attention",
    "self_attention": "class CausalSelfAttention(ref.CausalSelfAttention):\n    pass",
    "block": "class Block(ref.Block):\n    pass",
    "gpt": "class GPT(ref.GPT):\n    pass",
}
FORGE = """from lmcore.grading import a5
a5.attention.check = lambda *args, **kwargs: None
get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])"""
DETECT = """import os
if os.environ.get("NBGRADER_EXECUTION"):  # wrong only while graded
    def scaled_dot_product_attention(q, k, v, causal=True):
        return v"""
HARD_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
BOMB = "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 28))"
LITTER = "import os\nos.symlink('/nonexistent', 'dangling')\nos.mkfifo('pipe')\nos.mkdir('folder')"
GIANT_MESSAGE = "from IPython.display import display\ndisplay({'text/plain': 'y' * (300 << 20)}, raw=True)"
PRINT_200MB = "chunk = 'x' * (1 << 20)\nfor _ in range(200):\n    print(chunk)"


def students(course: Path, port: int) -> dict:
    """name -> (notebook or raw bytes, test cells it loses)."""
    solution, release = A5.solution(), A5.release()
    mutant = A5.edited(variants.MUTANTS["self_attention"]["heads_merged_wrong"])
    edited_tests = nbformat.from_dict(mutant)
    for cell in edited_tests.cells:
        if grade_id(cell) == "test_self_attention":
            cell.source, cell.metadata.nbgrader["points"] = "pass", 100
    edited_tests.cells = [c for c in edited_tests.cells if grade_id(c) != "test_self_attention_hidden"]
    duplicated = nbformat.from_dict(solution)
    (test_gpt,) = [c for c in duplicated.cells if grade_id(c) == "test_gpt"]
    duplicated.cells.insert(3, nbformat.from_dict(test_gpt))
    duplicated.cells.insert(2, duplicated.cells.pop(cell_index(duplicated, "together_check")))  # reordered
    # a loop at the end of attention's cell (after its definition) and a SystemExit in Block.forward
    careless = A5.edited(
        [
            (
                "attention",
                "    return weights @ v  # (B, H, T_q, d_v)\n",
                "    return weights @ v\n\n\nwhile True:\n    pass\n",
            ),
            ("block", "        x = x + self.mlp(self.ln_2(x))\n", "        raise SystemExit(1)\n"),
        ]
    )
    return {
        # honest students
        "solution": (solution, set()),
        "alternative": (
            A5.replaced({p: next(iter(alts.values())) for p, alts in variants.ALTERNATIVES.items()}),
            set(),
        ),
        "litters_while_graded": (at_end(solution, LITTER), set()),
        "prints_200mb": (with_cells(solution, PRINT_200MB), set()),
        "duplicates_renames_reorders": (set_meta(duplicated, "look_code", grade_id="look_code_2"), set()),
        # careless: a crash, a hang, a memory bomb, a 300 MiB message, each in a cell of its own: no cost
        "exits_and_hangs": (
            at_end(solution, "import os\nos._exit(3)", HARD_LOOP, BOMB, GIANT_MESSAGE),
            set(),
        ),
        "careless_parts": (careless, parts_lost("A5", {"block"})),
        # cheaters
        "intruder": (
            with_cells(
                release,
                INTRUDER.format(course=str(course), repo=str(classroom.REPO), port=port, marker=MARKER),
                STEAL,
            ),
            parts_lost("A5", ALL),
        ),
        "detects_grading": (
            with_cells(solution, DETECT, at=cell_index(solution, "attention") + 1),
            parts_lost("A5", {"attention"}),
        ),
        "execs_reference": (at_end(release, EXEC_REFERENCE), parts_lost("A5", ALL)),
        "imports_reference": (with_cells(A5.replaced(REFERENCE_CELLS), ALIASES), parts_lost("A5", ALL)),
        "pastes_reference": (
            A5.replaced({"self_attention": disguised_reference(model.CausalSelfAttention)}),
            parts_lost("A5", {"self_attention"}),
        ),
        "forges_checks": (with_cells(mutant, FORGE), parts_lost("A5", ALL)),
        "edits_tests": (edited_tests, parts_lost("A5", {"self_attention"})),
        # broken submissions
        "invalid_json": (b'{"cells": [', parts_lost("A5", ALL)),
        "another_notebook": (
            nbformat.read(classroom.REPO / "solutions" / "A6" / "A6.ipynb", 4),
            parts_lost("A5", ALL),
        ),
    }


def snapshot(course: Path) -> dict[str, str]:
    files = {}
    for path in sorted(course.rglob("*")):
        rel = path.relative_to(course)
        if path.is_file() and rel.parts[0] not in GRADING_WRITES:
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def lmcore_files() -> dict[str, str]:
    root = Path(lmcore.__file__).parent
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.py"))}


def left_behind() -> list[str]:
    """The intruder's daemon, if it outlived its grading (other tests may be grading meanwhile)."""
    commands = (" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
    return [c for c in commands if MARKER in c]


def grade_the_class(directory: Path) -> dict:
    course = classroom.make_course(directory / "course", ["A5"])
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.GradingExecute.memory_bytes = {MEMORY}\n")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0)
    members = students(course, listener.getsockname()[1])
    for name, (nb, _) in members.items():
        if isinstance(nb, bytes):
            path = course / "submitted" / name / "A5" / "A5.ipynb"
            path.parent.mkdir(parents=True)
            path.write_bytes(nb)
        else:
            classroom.submit(course, "A5", name, nb)
    folder = course / "submitted" / "alternative" / "A5"
    (folder / "data.txt").write_text("notes")
    (folder / "dangling").symlink_to("/nonexistent")
    (folder / "more").mkdir()
    os.mkfifo(folder / "pipe")  # copying a FIFO would block forever
    classroom.release(["A5"], course)  # the release an attacker would like to change
    before, lmcore_before = snapshot(course), lmcore_files()
    start = time.perf_counter()
    rows = classroom.grade_class(course, "A5", cell_timeout=CELL_TIMEOUT, jobs=JOBS)
    seconds = time.perf_counter() - start
    try:
        listener.accept()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return dict(
        course=str(course),
        rows=[dataclasses.asdict(row) for row in rows],
        lost={name: sorted(lost) for name, (_, lost) in members.items()},
        before=before,
        lmcore_before=lmcore_before,
        seconds=seconds,
        reached=reached,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once per test session (by whichever xdist worker comes first)."""
    result = once_per_session(tmp_path_factory, "attack-class", grade_the_class)
    result["course"] = Path(result["course"])
    result["rows"] = {row["student"]: classroom.Row(**row) for row in result["rows"]}
    return result


def test_every_student_gets_exactly_their_points(graded):
    full = full_marks("A5")
    wrong = [
        f"{name}: {cell} scored {graded['rows'][name].scores.get(cell)}, "
        f"expected {0 if cell in lost else points} (notes: {graded['rows'][name].notes})"
        for name, lost in graded["lost"].items()
        for cell, points in full.items()
        if graded["rows"][name].scores.get(cell) != (0 if cell in lost else points)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_course_lmcore_and_other_submissions_are_untouched(graded):
    assert snapshot(graded["course"]) == graded["before"]
    assert lmcore_files() == graded["lmcore_before"]


def test_every_intrusion_failed_inside_the_sandbox(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "intruder" / "A5" / "A5.ipynb", 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    tried = json.loads(text.split("TRIED ", 1)[1].splitlines()[0])
    assert tried.pop("leave a daemon behind") == "done"  # it may start one; it dies with the kernel
    assert not [name for name, outcome in tried.items() if outcome == "done"], tried
    assert not graded["reached"], "the sandbox reached a socket the grader listens on"
    assert not left_behind(), "a process the intruder started outlived its grading"
    feedback = graded["course"] / "feedback" / "intruder" / "A5"
    assert sorted(p.name for p in feedback.iterdir()) == ["A5.html"]


def test_findings_are_named_in_the_table(graded):
    notes = {name: " | ".join(row.notes) for name, row in graded["rows"].items()}
    assert "exec" in notes["execs_reference"] and "inspect" in notes["execs_reference"]
    assert "get_ipython" in notes["forges_checks"] and "a5.attention.check" in notes["forges_checks"]
    assert "lmcore.model.CausalSelfAttention" in notes["pastes_reference"]
    assert "not a readable notebook" in notes["invalid_json"]
    assert "none of the assignment's solution cells" in notes["another_notebook"]
    assert "ignored 4 other entries" in notes["alternative"]
    assert "restarted" in notes["exits_and_hangs"]
    for honest in ("solution", "litters_while_graded", "prints_200mb"):
        assert notes[honest] == "", notes[honest]


def test_delegation_is_reported_in_the_feedback(graded):
    html = (graded["course"] / "feedback" / "imports_reference" / "A5" / "A5.html").read_text()
    assert "scores 0 in all its test cells" in html and ".CausalSelfAttention" in html


def test_outputs_are_truncated_and_bounded(graded):
    for folder, student in itertools.product(("autograded", "feedback"), ("prints_200mb", "exits_and_hangs")):
        for path in (graded["course"] / folder / student / "A5").iterdir():
            assert path.stat().st_size < 2 << 20, f"{path} is {path.stat().st_size} bytes"
    html = (graded["course"] / "feedback" / "prints_200mb" / "A5" / "A5.html").read_text()
    assert "the grader kept only the first" in html


def test_grades_csv_has_every_student(graded):
    lines = (graded["course"] / "grades.csv").read_text().splitlines()
    assert lines[0].split(",")[3] == "student_id"
    assert sorted(line.split(",")[3] for line in lines[1:]) == sorted(graded["lost"])
    print(f"graded {len(graded['lost'])} students in {graded['seconds']:.0f} s")
