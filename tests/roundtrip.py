"""Grading one class per assignment through nbgrader's own CLI and the sandboxed grader.

The direct checks (tests/test_parts.py) decide every mutant, mistake, alternative and
delegating variant in-process; a round trip keeps what only nbgrader can show: that release,
autograde, feedback and export score each part's test cells as its check decided. Its class
(``students``) is five notebooks:

    solution    the solution notebook: full marks
    untouched   the release as is: 0
    mixed-1     the even-numbered parts (0, 2, ...) get their first mutant, the others their
                first alternative
    mixed-2     the odd-numbered parts get their first mutant, the others their first
                delegating variant
                So every part meets nbgrader once with a mutant, and once with an alternative
                (keeps its points) or a delegating variant (loses both test cells, like a
                mutant). A part without a variant of the kind keeps the solution there.
                Neighbouring parts of different treatments show that losing one part costs
                nothing else.
    forger      the solution with a cell that rewrites every later check call into `pass`
                before IPython runs it: tampering, 0 everywhere.

Everything else (every mutant, mistake, alternative and delegating variant of every part) is
decided by the same judges in-process, in tests/test_parts.py: the round trip adds nbgrader,
not cases, so each assignment costs five graded students.

Every student must score exactly: full points on every part they did not break, 0 on both test
cells of every part they did."""

from nbformat.v4 import new_code_cell

from lmcore.course import classroom
from lmcore.grading.registry import ASSIGNMENTS
from tests.parts import variants
from tests.submissions import FORGING_CELL, Submissions

# student -> (treatment of the even-numbered parts, of the odd-numbered parts)
MIXED = {"mixed-1": ("mutant", "alternative"), "mixed-2": ("delegating", "mutant")}


def full_marks(assignment_id: str) -> dict[str, int]:
    """Test cell -> points, from the registry."""
    return {
        cell: part.points[thorough]
        for part in ASSIGNMENTS[assignment_id].parts
        for cell, thorough in part.tests.items()
    }


def parts_lost(assignment_id: str, part_ids) -> set[str]:
    parts = ASSIGNMENTS[assignment_id]
    return {cell for part_id in part_ids for cell in parts.part(part_id).tests}


def mixed(assignment_id: str, student: str):
    """Student ``student`` of MIXED: (notebook, test cells it loses)."""
    submissions, v = Submissions(assignment_id), variants(assignment_id)
    first = {"alternative": v.ALTERNATIVES, "delegating": v.DELEGATING, "mutant": v.MUTANTS}
    nb, lost, replaced = submissions.solution(), set(), {}
    for i, part in enumerate(ASSIGNMENTS[assignment_id].parts):
        treatment = MIXED[student][i % 2]
        chosen = next(iter(first[treatment].get(part.id, {}).values()), None)
        if chosen is None:
            continue  # no variant of this kind: the solution's cell stays
        if isinstance(chosen, list):  # (cell, old, new) edits of the solution's cell
            nb = submissions.edited(chosen, nb)
        else:  # the whole solution cell
            replaced[part.id] = chosen
        if treatment != "alternative":
            lost.add(part.id)
    return submissions.replaced(replaced, nb), parts_lost(assignment_id, lost)


def students(assignment_id: str) -> dict[str, tuple]:
    """name -> (notebook, test cells it loses)."""
    submissions = Submissions(assignment_id)
    forger = submissions.solution()
    forger.cells.insert(2, new_code_cell(FORGING_CELL))  # after the setup cell
    everything = set(full_marks(assignment_id))
    return {
        "solution": (submissions.solution(), set()),
        "untouched": (submissions.release(), everything),
        **{student: mixed(assignment_id, student) for student in MIXED},
        "forger": (forger, everything),
    }


def grade_and_compare(tmp_path, assignment_id: str, students: dict, jobs: int = 2) -> dict:
    """students: name -> (notebook, {test cell: expected points}). Grades them in a fresh
    course directory, asserts every score, and returns the grade rows by student."""
    course = classroom.make_course(tmp_path / "course", [assignment_id])
    for name, (nb, _) in students.items():
        classroom.submit(course, assignment_id, name, nb)
    rows = {
        row.student: row for row in classroom.grade_class(course, assignment_id, list(students), jobs=jobs)
    }
    wrong = [
        f"{name}: {cell} scored {rows[name].scores.get(cell)}, expected {points}"
        + (f" (notes: {'; '.join(rows[name].notes)})" if rows[name].notes else "")
        for name, (_, expected) in students.items()
        for cell, points in expected.items()
        if rows[name].scores.get(cell) != points
    ]
    wrong += [
        f"{name}: unexpected test cells {sorted(set(rows[name].scores) - set(expected))}"
        for name, (_, expected) in students.items()
        if set(rows[name].scores) - set(expected)
    ]
    assert not wrong, "\n".join(wrong)
    return rows


def grade_class_of(tmp_path, assignment_id: str, jobs: int = 2) -> dict:
    """Grade the five students of ``students``; every test cell scores full points unless lost."""
    full = full_marks(assignment_id)
    expected = {
        name: (nb, {cell: (0 if cell in lost else points) for cell, points in full.items()})
        for name, (nb, lost) in students(assignment_id).items()
    }
    return grade_and_compare(tmp_path, assignment_id, expected, jobs)
