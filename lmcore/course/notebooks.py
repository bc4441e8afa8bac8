"""Executing the solution notebooks in place, so their committed outputs are what nbval checks.

    python -m lmcore.course.notebooks solutions/A5/A5.ipynb [...]

Outputs are kept; execution timings and counts that change from run to run are not.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute_in_place(path: str | Path, timeout: int = 600) -> None:
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, record_timing=False, resources={"metadata": {"path": path.parent}}
    ).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        execute_in_place(arg)
        print(f"executed {arg}")
