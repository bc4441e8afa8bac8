"""Grading throughput: a synthetic class graded with 1 and with N parallel graders.

    python -m lmcore.course.bench --grading [--jobs 1 2] [--copies 2] [--json PATH]

For every assignment the class holds the five students of the round-trip test
(tests/roundtrip.py: the solution, the untouched release, two students with a mutant, an
alternative or a delegating variant in alternating parts, and a forger who rewrites the checks),
plus ``copies - 1`` renamed copies of the solution and the two mixed ones: 8 students per
assignment by default, 40 for five assignments. Each assignment is graded by ``classroom.grade_class`` in a
fresh course directory, once per value of ``--jobs``, and every score is checked against what
the student should get (a benchmark that grades wrongly is no benchmark). Printed: seconds per
submission for each assignment and jobs value, and submissions per hour over the whole class.

Run it from a checkout of the repository (it builds the class from tests/); it takes about
15 s per submission and core on a 2-core machine.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from lmcore.course import classroom
from lmcore.grading.registry import ASSIGNMENTS

COPIED = ("solution", "mixed-1", "mixed-2")  # the students scored part by part, not zeroed whole
CELL_TIMEOUT = 60  # s per cell: no honest cell of the solutions takes a tenth of it


def synthetic_class(assignment_id: str, copies: int) -> dict:
    """name -> (notebook, {test cell: expected points})."""
    from tests.roundtrip import full_marks, students  # the round trip's class, from the checkout

    full = full_marks(assignment_id)
    base = students(assignment_id)
    members = dict(base)
    for copy in range(2, copies + 1):
        members.update({f"{name}-copy{copy}": base[name] for name in base if name in COPIED})
    return {
        name: (nb, {cell: (0 if cell in lost else points) for cell, points in full.items()})
        for name, (nb, lost) in members.items()
    }


def grade(assignment_id: str, members: dict, jobs: int) -> float:
    """Seconds to grade the class with ``jobs`` graders, every score checked."""
    with tempfile.TemporaryDirectory(prefix=f"lmcore-bench-{assignment_id}-") as tmp:
        course = classroom.make_course(Path(tmp) / "course", [assignment_id])
        for name, (nb, _) in members.items():
            classroom.submit(course, assignment_id, name, nb)
        start = time.perf_counter()
        rows = classroom.grade_class(course, assignment_id, list(members), CELL_TIMEOUT, jobs=jobs)
        seconds = time.perf_counter() - start
    wrong = [
        f"{row.student}: {cell} scored {row.scores.get(cell)}, expected {points}"
        for row in rows
        for cell, points in members[row.student][1].items()
        if row.scores.get(cell) != points
    ]
    if wrong:
        raise AssertionError(f"{assignment_id} graded wrongly with jobs={jobs}:\n" + "\n".join(wrong))
    return seconds


def run(jobs: list[int], copies: int = 2, ids: list[str] | None = None) -> dict:
    ids = ids or list(ASSIGNMENTS)
    result = {"jobs": jobs, "assignments": {}}
    for assignment_id in ids:
        members = synthetic_class(assignment_id, copies)
        result["assignments"][assignment_id] = {
            "students": len(members),
            "seconds": {str(j): grade(assignment_id, members, j) for j in jobs},
        }
    return result


def format_table(result: dict) -> str:
    jobs = result["jobs"]
    rows = result["assignments"]
    lines = [
        "assignment  students  " + "  ".join(f"s/submission (jobs={j})" for j in jobs),
        *(
            f"{a:<10}  {r['students']:>8}  "
            + "  ".join(f"{r['seconds'][str(j)] / r['students']:>21.1f}" for j in jobs)
            for a, r in rows.items()
        ),
    ]
    total = sum(r["students"] for r in rows.values())
    for j in jobs:
        seconds = sum(r["seconds"][str(j)] for r in rows.values())
        lines.append(
            f"jobs={j}: {total} submissions in {seconds:.0f} s, "
            f"{3600 * total / seconds:.0f} submissions per hour"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.course.bench --grading", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--grading", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, classroom.default_jobs()], metavar="N")
    parser.add_argument(
        "--copies", type=int, default=2, help="copies of the three mixed students (default 2)"
    )
    parser.add_argument("--assignments", nargs="+", default=None, metavar="ID", help="default: all")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    result = run(args.jobs, args.copies, args.assignments)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result
