"""What the tests of the grading checks share: reading a report, and a mutant's expected verdicts."""

from lmcore.grading.parts import ASSIGNMENTS, PARTS


def failure_text(report) -> str:
    """The failed properties, their details and the diagnosis, lowercased for matching."""
    return "\n".join([f"{p.name}\n{p.detail}" for p in report.failed()] + report.diagnosis).lower()


def assert_mutant_fails_only_its_parts(
    name: str, checks: dict, components: dict, ns: dict, broken, hint: str
):
    """Each check of a broken part fails and names the mistake; every other part still passes."""
    for part, check in checks.items():
        report = check(ns[components[part]])
        if part in broken:
            assert not report.passed, f"{name} passed the {part} check:\n{report}"
            assert hint.lower() in failure_text(report), f"{name}: no '{hint}' in\n{report}"
        else:
            assert report.passed, f"{name} broke {part}, which it does not touch:\n{report}"


def assert_only_delegation_fails(report) -> None:
    assert [p.name for p in report.failed()] == [report.properties[-1].name], str(report)
    assert "does its own work" in failure_text(report)


def assert_registry_lists_every_part(assignment_id: str, variants) -> None:
    """The grading registry has a visible and a hidden test cell for every part of the
    assignment, each naming the component the variants module says it checks."""
    assert ASSIGNMENTS[assignment_id] == {
        f"test_{part}{suffix}": (part, suffix == "_hidden")
        for part in variants.PARTS
        for suffix in ("", "_hidden")
    }
    assert {p: PARTS[p].component for p in variants.PARTS} == variants.COMPONENTS
