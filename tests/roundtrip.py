"""Grading a class of submissions through nbgrader's own CLI and the sandboxed grader.

``groups(assignment_id)`` builds each assignment's two classes from the registry and
tests/variants: "references" (the solution, the untouched release, an alternative of every
part, and a student who delegates in every other part) and "mutants" (the first mutant of
each part, one classic bug each). Every student must score exactly: full points on every
part they did not break, 0 on both test cells of every part they did."""

from lmcore.course import classroom
from lmcore.grading.registry import ASSIGNMENTS
from tests.parts import variants
from tests.submissions import Submissions


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


def groups(assignment_id: str) -> dict[str, dict]:
    """group -> {student: (make notebook, test cells it loses)}."""
    submissions, v = Submissions(assignment_id), variants(assignment_id)
    part_ids = [p.id for p in ASSIGNMENTS[assignment_id].parts]
    alternatives = {p: next(iter(v.ALTERNATIVES[p].values())) for p in part_ids if v.ALTERNATIVES.get(p)}
    # delegation in every other part that has a delegating variant: those parts lose all their
    # points, the parts between keep theirs
    delegating = [p for p in part_ids if v.DELEGATING.get(p)][::2]

    def make_delegating():
        nb = submissions.solution()
        for p in delegating:
            change = next(iter(v.DELEGATING[p].values()))
            nb = (
                submissions.edited(change, nb)
                if isinstance(change, list)
                else submissions.replaced({p: change}, nb)
            )
        return nb

    references = {
        "solution": (submissions.solution, set()),
        "untouched": (submissions.release, set(full_marks(assignment_id))),
        "alternative": (lambda: submissions.replaced(alternatives), set()),
        "delegating": (make_delegating, parts_lost(assignment_id, delegating)),
    }
    mutants = {
        f"{p}-{mistake_id}": (lambda edits=edits: submissions.edited(edits), parts_lost(assignment_id, {p}))
        for p in part_ids
        for mistake_id, edits in list(v.MUTANTS.get(p, {}).items())[:1]
    }
    return {"references": references, "mutants": mutants}


def grade_group(tmp_path, assignment_id: str, members: dict) -> dict:
    """Grade one group; every test cell must score full points unless the student loses it."""
    full = full_marks(assignment_id)
    students = {
        name: (make(), {cell: (0 if cell in lost else points) for cell, points in full.items()})
        for name, (make, lost) in members.items()
    }
    return grade_and_compare(tmp_path, assignment_id, students)


def grade_and_compare(tmp_path, assignment_id: str, students: dict) -> dict:
    """students: name -> (notebook, {test cell: expected points}). Grades them in a fresh
    course directory, asserts every score, and returns the grade rows by student."""
    course = classroom.make_course(tmp_path / "course", [assignment_id])
    for name, (nb, _) in students.items():
        classroom.submit(course, assignment_id, name, nb)
    rows = {row.student: row for row in classroom.grade_class(course, assignment_id, list(students))}
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
