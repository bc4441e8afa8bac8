"""nbgrader configuration of the course (nbgrader 0.9.6).

solutions/<id>/<id>.ipynb is nbgrader's source directory and assignments/<id>/<id>.ipynb its
release directory. Student code is untrusted, so autograding is hardened:

- Only an error fails a test cell. nbgrader zeroes a test cell that writes anything to
  stderr (nbgrader.utils.determine_grade); its own IgnorePattern preprocessor drops every
  stderr output of the executed notebook before grades are saved, so a warning is harmless.
- Every test cell runs. Before nbgrader restores source, type and checksums of locked cells
  from the gradebook (OverwriteCells), lmcore.course.hardening.RestoreGradebookMetadata
  restores what OverwriteCells leaves to the student: a cell's grade/solution flags, points
  and schema version, and it strips the tags that make nbclient skip a test cell
  (skip-execution) or let it raise (raises-exception).
- Deleted test cells come back, with the gradebook's source, right after the cell that
  precedes them (RestoreGradebookMetadata again: nbgrader's own OverwriteCells.add_missing_cells
  fails the notebook when that preceding cell was deleted too).
- The kernel runs sandboxed (lmcore.course.sandbox: another user, hidden course files, no network,
  limits) and graded test cells are judged outside it (lmcore.grading.execute).
- Each cell has a timeout; on a timeout the kernel is interrupted and the cell gets an
  error, and the next cells still run. A kernel that dies or ignores the interrupt is
  replaced and the cells before re-run, so only the cell that did it fails.

The gradebook is nbgrader's default, <course root>/gradebook.db; `python -m lmcore.course.classroom
release` generates assignments/ without one (--no-db).
"""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "lmcore.course.hardening.RestoreGradebookMetadata",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# nbgrader's own list, with its Execute replaced by the grader that runs the kernel in a sandbox
# and judges every graded test cell outside it (lmcore.grading.execute)
c.Autograde.autograde_preprocessors = [
    "lmcore.grading.execute.GradingExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Limits of each student's kernel (lmcore.course.sandbox.Limits has the defaults):
# c.GradingExecute.memory_bytes = 6 * 2**30
# c.GradingExecute.cpu_seconds = 3600
# c.GradingExecute.output_limit = 100_000   # characters kept per cell

c.Execute.timeout = 300  # seconds per cell, on a CPU
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.Execute.execute_retries = 0  # never run an infinite loop twice

c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?s).*"  # every stderr output: warnings, progress bars
