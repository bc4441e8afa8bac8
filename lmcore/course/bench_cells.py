"""How long a student waits for each visible test cell: the solution notebooks run on one core.

    python -m lmcore.course.bench --cells [--assignments A1 A5] [--limit 5] [--json PATH]

Each solution notebook (solutions/<id>/<id>.ipynb) is executed from the top in a fresh kernel,
as a student runs it, with the process and the kernel pinned to one CPU core and one torch
thread. nbclient records when each cell started and finished; the table lists every visible
test cell (a part's quick check, ``thorough=False`` in the registry) with its seconds, slowest
first, and marks those over ``--limit``. The hidden cells are the grader's and are not listed.

A visible cell's time is the check alone: the student's code ran in the cells above it.
"""

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lmcore.grading.registry import ASSIGNMENTS

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 5.0  # issue 11: every visible test cell under 5 s on one core


def cell_seconds(cell) -> float | None:
    """Seconds between the kernel starting a cell and its reply, from nbclient's timing record.

    >>> cell = {"metadata": {"execution": {"iopub.execute_input": "2026-12-07T10:00:00.250Z",
    ...                                    "shell.execute_reply": "2026-12-07T10:00:01.750Z"}}}
    >>> cell_seconds(cell)
    1.5
    """
    timing = cell["metadata"].get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def visible_cells(assignment_id: str) -> list[str]:
    """The grade ids of the assignment's visible test cells, from the registry."""
    return [
        cell
        for part in ASSIGNMENTS[assignment_id].parts
        for cell, thorough in part.tests.items()
        if not thorough
    ]


def time_visible_cells(assignment_id: str, timeout: int = 600) -> dict[str, float]:
    """Visible test cell -> seconds, from one run of the solution notebook on one core."""
    path = REPO / "solutions" / assignment_id / f"{assignment_id}.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, record_timing=True, resources={"metadata": {"path": path.parent}}
    ).execute(env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    wanted = set(visible_cells(assignment_id))
    seconds = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in wanted:
            seconds[grade_id] = cell_seconds(cell)
    missing = wanted - set(seconds)
    if missing:
        raise ValueError(f"{path} has no cell for the registry's visible tests {sorted(missing)}")
    return seconds


def format_table(result: dict[str, dict[str, float]], limit: float = LIMIT_S) -> str:
    rows = sorted(
        ((s, a, cell) for a, cells in result.items() for cell, s in cells.items()), key=lambda row: -row[0]
    )
    lines = [f"{'assignment':<11}{'visible test cell':<32}{'seconds':>9}", "-" * 52]
    lines += [
        f"{a:<11}{cell:<32}{s:>9.2f}" + ("  over the limit" if s > limit else "") for s, a, cell in rows
    ]
    over = [row for row in rows if row[0] > limit]
    slowest = rows[0] if rows else (0.0, "-", "-")
    lines.append(
        f"slowest: {slowest[1]} {slowest[2]}, {slowest[0]:.2f} s on one core; "
        + (f"{len(over)} cell(s) over {limit:g} s" if over else f"every cell under {limit:g} s")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cells", action="store_true", help="(selects this benchmark in lmcore.course.bench)"
    )
    parser.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS), choices=list(ASSIGNMENTS))
    parser.add_argument("--limit", type=float, default=LIMIT_S, help="seconds a visible cell may take (5)")
    parser.add_argument("--json", default=None, help="also write the seconds to this JSON file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, inherited by the kernels
    result = {a: time_visible_cells(a) for a in args.assignments}
    print(format_table(result, args.limit))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
