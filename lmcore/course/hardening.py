"""An nbgrader preprocessor that keeps a submission from skipping or deleting its test cells.

nbgrader's OverwriteCells restores a locked cell's source, type and checksum from the
gradebook, but not the rest of its metadata: a student could still tag a test cell
``skip-execution`` (nbclient then never runs it) or ``raises-exception``, or flip its
``grade`` flag or schema version (nbgrader then fails the whole notebook). Its option to add
deleted grade cells back (OverwriteCells.add_missing_cells) fails the whole notebook too when
the cell before a deleted test cell was deleted as well (KeyError in nbgrader 0.9.6).

RestoreGradebookMetadata runs just before OverwriteCells (see nbgrader_config.py).
"""

from collections import defaultdict

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import NbGraderPreprocessor

# nbclient skips a cell tagged skip-execution and lets one tagged raises-exception fail
# without stopping the run; neither has any business on a test cell.
EXECUTION_TAGS = {"skip-execution", "raises-exception"}


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


class RestoreGradebookMetadata(NbGraderPreprocessor):
    """Give every cell the gradebook knows its nbgrader metadata back (grade, solution, task,
    locked, points); strip execution tags from grade cells; make cells with a grade_id the
    gradebook does not know ordinary cells; put deleted grade cells back after the cell that
    precedes them in the release."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            self.source_cells = {cell.name: cell for cell in notebook.source_cells}  # notebook order
            self.points = {cell.name: cell.max_score for cell in notebook.grade_cells}
            self.solutions = {cell.name for cell in notebook.solution_cells}
            self.tasks = {cell.name: cell.max_score for cell in notebook.task_cells}
            nb, resources = super().preprocess(nb, resources)
            nb.cells = self._with_deleted_grade_cells(nb.cells)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if "nbgrader" not in cell.metadata:
            return cell, resources
        name = _grade_id(cell)
        if name not in self.source_cells:
            self.log.warning("Cell with unknown grade_id %r is now an ordinary cell", name)
            del cell.metadata["nbgrader"]
            return cell, resources
        cell.metadata.nbgrader.update(self._metadata(name))
        if name not in self.points:
            cell.metadata.nbgrader.pop("points", None)
        tags = cell.metadata.get("tags", [])
        if name in self.points and EXECUTION_TAGS & set(tags):
            self.log.warning("Removing tags %s from grade cell %s", sorted(EXECUTION_TAGS & set(tags)), name)
            cell.metadata["tags"] = [tag for tag in tags if tag not in EXECUTION_TAGS]
        return cell, resources

    def _metadata(self, name: str) -> dict:
        meta = {
            "grade": name in self.points,
            "solution": name in self.solutions,
            "task": name in self.tasks,
            "locked": self.source_cells[name].locked,
            "schema_version": SCHEMA_VERSION,
        }
        if name in self.points or name in self.tasks:
            meta["points"] = self.points.get(name, self.tasks.get(name))
        return meta

    def _with_deleted_grade_cells(self, cells: list) -> list:
        present = {_grade_id(cell) for cell in cells}
        restore_after, previous = defaultdict(list), None
        for name, source in self.source_cells.items():
            if name in present:
                previous = name
            elif name in self.points:
                self.log.warning("Grade cell %s was deleted; adding it back", name)
                meta = {**self._metadata(name), "grade_id": name, "checksum": source.checksum}
                meta["cell_type"] = source.cell_type
                new_cell = new_code_cell if source.cell_type == "code" else new_markdown_cell
                restore_after[previous].append(new_cell(source.source, metadata={"nbgrader": meta}))
        restored = list(restore_after[None])
        for cell in cells:
            restored.append(cell)
            if _grade_id(cell) is not None:
                restored += restore_after[_grade_id(cell)]
        return restored
