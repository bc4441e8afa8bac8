"""Grading a class of submissions through nbgrader and the audit, for the round-trip tests.

Every assignment's round trip has two groups of students: "references" (the solution, the
untouched release, an alternative correct solution, a delegating one) and "mutants" (the first
mutant of each part, one classic bug each, which must lose the points of exactly the parts it
breaks; every mutant is also decided in-process by the assignment's test_aN_checks)."""

from lmcore.course import classroom

POINTS = {"": 4, "_hidden": 6}  # the visible and the hidden test cell of every part


def full_marks(parts) -> dict[str, int]:
    return {f"test_{part}{suffix}": points for part in parts for suffix, points in POINTS.items()}


def parts_lost(parts) -> set[str]:
    return {f"test_{part}{suffix}" for part in parts for suffix in POINTS}


def standard_groups(assignment_id: str, variants, extra=None) -> dict:
    """name -> (make notebook, test cells it loses), by group, from a variants module.

    The delegating solution is ``variants.DELEGATING``: whole solution cells by grade_id (a dict)
    or (grade_id, old, new) edits (a list). Each cell it touches is a part's, and that part loses
    all its points, visible and hidden."""
    submissions = getattr(variants, assignment_id)
    delegating = variants.DELEGATING
    whole_cells = isinstance(delegating, dict)
    delegating_parts = set(delegating) if whole_cells else {cell for cell, _, _ in delegating}

    def make_delegating():
        return submissions.replaced(delegating) if whole_cells else submissions.edited(delegating)

    references = {
        "solution": (submissions.solution, set()),
        "untouched": (submissions.release, set(full_marks(variants.PARTS))),
        "alternative": (lambda: submissions.replaced(variants.ALTERNATIVE), set()),
        "delegating": (make_delegating, parts_lost(delegating_parts)),
        **(extra or {}),
    }
    # one mutant per part goes through nbgrader: test_aN_checks decides every mutant in-process
    first = {}
    for name, (_, broken, _) in variants.MUTANTS.items():
        for part in sorted(broken):
            first.setdefault(part, name)
    mutants = {
        name: (lambda edits=edits: submissions.edited(edits), parts_lost(broken))
        for name, (edits, broken, _) in variants.MUTANTS.items()
        if name in first.values()
    }
    return {"references": references, "mutants": mutants}


def grade_group(tmp_path, assignment_id: str, variants, members: dict) -> dict:
    """Grade one group; every test cell must score full points unless the student loses it."""
    full = full_marks(variants.PARTS)
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
