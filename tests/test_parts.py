"""Every graded part of every assignment (lmcore.grading.registry), with its variants
(tests/variants): the reference passes, each known mistake and each mutant fails and is
named by its mistake id, each alternative passes, each delegating variant loses the part."""

import pytest

from lmcore.grading import audit
from lmcore.grading.records import OWN_WORK
from lmcore.grading.registry import ASSIGNMENTS
from tests.parts import check_in, make_notebook, solution_namespace, variant_params, variants
from tests.submissions import namespace


@pytest.fixture(autouse=True)
def small_timed_runs(monkeypatch):
    """A2's hidden train_bpe check times the trainer on 1 MB and bounds its memory on 250 kB; here
    both run on 20 kB (each thorough check would otherwise cost 20-60 s on a busy machine).
    tests/test_bpe.py::test_a2_train_bpe_perf checks the bars themselves, at full size."""
    from lmcore.grading.a2 import train_bpe

    monkeypatch.setattr(train_bpe, "PERF_BYTES", 20_000)
    monkeypatch.setattr(train_bpe, "MEMORY_BYTES", 20_000)


def _report_of_a_failure(part, check):
    """The quick check's report, or the thorough one's when the quick check passes."""
    report = check(False)
    return report if not report.passed else check(True)


@pytest.mark.parametrize("assignment_id, part_id, name", variant_params("reference"))
def test_reference(assignment_id, part_id, name):
    """lmcore's reference passes the quick check; thorough, the rules catch it delegating."""
    part = ASSIGNMENTS[assignment_id].part(part_id)
    part.check(*part.reference).raise_if_failed()
    report = part.check(*part.reference, thorough=True)
    if part.rules:
        assert [p.name for p in report.failed()] == [OWN_WORK], str(report)
    else:
        report.raise_if_failed()


@pytest.mark.parametrize("assignment_id, part_id, name", variant_params("reference"))
def test_solution(assignment_id, part_id, name):
    """The solution notebook's component passes the thorough check (delegation included)."""
    part = ASSIGNMENTS[assignment_id].part(part_id)
    check_in(part, solution_namespace(assignment_id), thorough=True).raise_if_failed()


@pytest.mark.parametrize("assignment_id, part_id, mistake_id", variant_params("mistake"))
def test_mistake(assignment_id, part_id, mistake_id):
    """Each known mistake's own implementation fails and is named (by construction, unless two
    mistakes or the cases cannot tell it apart)."""
    part = ASSIGNMENTS[assignment_id].part(part_id)
    (mistake,) = [m for m in part.mistakes if m.id == mistake_id]
    implementation = part.with_mistake(mistake)
    by_name = implementation if isinstance(implementation, dict) else {part.names[0]: implementation}
    report = _report_of_a_failure(part, lambda thorough: part.check(**by_name, thorough=thorough))
    assert not report.passed, f"the mistake {mistake_id} passes:\n{report}"
    assert mistake_id in report.mistakes, f"{mistake_id} not named:\n{report}"


@pytest.mark.parametrize("assignment_id, part_id, mistake_id", variant_params("mutant"))
def test_mutant(assignment_id, part_id, mistake_id):
    """A student's bug fails its part with its diagnosis, and no other part."""
    assignment = ASSIGNMENTS[assignment_id]
    part = assignment.part(part_id)
    assert mistake_id in [m.id for m in part.mistakes], f"{mistake_id} is not a known mistake of {part_id}"
    edits = variants(assignment_id).MUTANTS[part_id][mistake_id]
    assert {cell for cell, _, _ in edits} == {part_id}, "a mutant edits its own part's cell only"
    ns = namespace(make_notebook(assignment_id, edits))
    report = _report_of_a_failure(part, lambda thorough: check_in(part, ns, thorough))
    assert not report.passed, f"mutant {mistake_id} passes:\n{report}"
    assert mistake_id in report.mistakes, f"mutant {mistake_id} is not diagnosed as such:\n{report}"
    for other in assignment.parts:
        if other is not part:
            report = check_in(other, ns)
            assert report.passed, f"mutant {mistake_id} of {part_id} breaks {other.id}:\n{report}"


@pytest.mark.parametrize("assignment_id, part_id, name", variant_params("alternative"))
def test_alternative(assignment_id, part_id, name):
    """Correct code in another style passes every check, and the source audit finds nothing."""
    part = ASSIGNMENTS[assignment_id].part(part_id)
    nb = make_notebook(assignment_id, {part_id: variants(assignment_id).ALTERNATIVES[part_id][name]})
    ns = namespace(nb)
    check_in(part, ns).raise_if_failed()
    check_in(part, ns, thorough=True).raise_if_failed()
    assert audit.static_audit(nb, assignment_id).findings(part_id) == []


@pytest.mark.parametrize("assignment_id, part_id, name", variant_params("delegating"))
def test_delegating(assignment_id, part_id, name):
    """Handing the work to a library or to lmcore is found, by the run or by the source."""
    part = ASSIGNMENTS[assignment_id].part(part_id)
    change = variants(assignment_id).DELEGATING[part_id][name]
    nb = make_notebook(assignment_id, change if isinstance(change, list) else {part_id: change})
    static = audit.static_audit(nb, assignment_id).findings(part_id)
    report = check_in(part, namespace(nb), thorough=True)
    ran = OWN_WORK in [p.name for p in report.failed()]
    assert ran or static, f"{name} is not caught:\n{report}"
