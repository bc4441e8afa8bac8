"""Grading a class of submissions through nbgrader and the audit, for the round-trip tests."""

from lmcore import classroom


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
