"""Building variant submissions of an assignment from its solution notebook: mutants (edits of
a solution cell), alternatives (whole solution cells replaced) and the namespace its code defines."""

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class Submissions:
    def __init__(self, assignment_id: str):
        self.assignment_id = assignment_id
        self.solution_path = ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb"
        self.release_path = ROOT / "assignments" / assignment_id / f"{assignment_id}.ipynb"

    def solution(self) -> nbformat.NotebookNode:
        return nbformat.read(self.solution_path, as_version=4)

    def release(self) -> nbformat.NotebookNode:
        return nbformat.read(self.release_path, as_version=4)

    def edited(self, edits, nb=None) -> nbformat.NotebookNode:
        """The solution (or ``nb``) with (grade_id, old, new) edits applied; each old text must
        match once."""
        nb = self.solution() if nb is None else nb
        for cell_id, old, new in edits:
            (cell,) = [c for c in nb.cells if grade_id(c) == cell_id]
            if cell.source.count(old) != 1:
                raise ValueError(f"edit {old!r} must match exactly once in cell {cell_id}")
            cell.source = cell.source.replace(old, new)
        return nb

    def replaced(self, sources: dict[str, str], nb=None) -> nbformat.NotebookNode:
        """The solution (or ``nb``) with whole solution cells replaced, by grade_id."""
        nb = self.solution() if nb is None else nb
        for cell in nb.cells:
            if grade_id(cell) in sources:
                cell.source = sources[grade_id(cell)].strip("\n")
        return nb


# the ungraded cells at the end of a notebook: a demonstration, or a look at the code
DEMO_CELLS = ("together_code", "together_check", "look_code")


def namespace(nb, skip: tuple[str, ...] = DEMO_CELLS) -> dict:
    """Execute the notebook's non-test code cells (setup, given code, solutions) in one namespace."""
    ns: dict = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade") and grade_id(cell) not in skip:
            exec(compile(cell.source, f"<{grade_id(cell)}>", "exec"), ns)
    return ns


# Rewrites every later cell that calls a check into `pass` before IPython runs it: the test
# cells then show no error, so nbgrader alone would give full marks.
FORGING_CELL = """
def _skip_checks(lines):
    return ["pass\\n"] if any(".check(" in line for line in lines) else lines

get_ipython().input_transformers_cleanup.append(_skip_checks)
"""
