"""The A7 checks must accept the solution, the references and a differently written correct
solution; reject every mutant in its own part only, naming its mistake; and catch delegation."""

import math

import pytest
import torch

from lmcore.grading import a7
from tests import a7_variants as variants
from tests.checks import assert_registry_lists_every_part

CHECKS = {
    "adamw": a7.check_adamw,
    "schedule": a7.check_schedule,
    "clipping": a7.check_clipping,
    "batching": a7.check_batching,
    "training_loop": a7.check_training_loop,
}


def failure_text(report) -> str:
    return "\n".join([f"{p.name}\n{p.detail}" for p in report.failed()] + report.diagnosis).lower()


@pytest.fixture(scope="module")
def solution():
    return variants.namespace(variants.solution_notebook())


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes_thorough_checks(solution, part):
    CHECKS[part](solution[variants.COMPONENTS[part]], thorough=True).raise_if_failed()


@pytest.mark.parametrize(
    "part, reference",
    [
        ("adamw", torch.optim.AdamW),
        ("schedule", a7.reference_lr_at),
        ("clipping", a7.reference_clip_grad_norm),
        ("batching", a7.reference_get_batch),
    ],
)
def test_reference_components_pass_visible_checks(part, reference):
    CHECKS[part](reference).raise_if_failed()


@pytest.mark.parametrize("part", ["adamw", "clipping"])
def test_the_reference_itself_is_delegation(part):
    reference = {"adamw": torch.optim.AdamW, "clipping": a7.reference_clip_grad_norm}[part]
    report = CHECKS[part](reference, thorough=True)
    assert not report.passed and "does its own work" in failure_text(report)


@pytest.mark.parametrize("mutant", sorted(variants.MUTANTS))
def test_mutant_fails_its_part_with_a_diagnosis(mutant):
    edits, broken, hint = variants.MUTANTS[mutant]
    ns = variants.namespace(variants.edited(edits))
    for part in variants.PARTS:
        report = CHECKS[part](ns[variants.COMPONENTS[part]])
        if part in broken:
            assert not report.passed, f"{mutant} passed the {part} check:\n{report}"
            assert hint.lower() in failure_text(report), f"{mutant}: no '{hint}' in\n{report}"
        else:
            assert report.passed, f"{mutant} broke {part}, which it does not touch:\n{report}"


@pytest.mark.parametrize("part", variants.PARTS)
def test_alternative_implementation_passes_thorough_checks(part):
    ns = variants.namespace(variants.replaced(variants.ALTERNATIVE))
    CHECKS[part](ns[variants.COMPONENTS[part]], thorough=True).raise_if_failed()


@pytest.mark.parametrize("part", sorted(variants.DELEGATING))
def test_delegation_passes_visible_and_fails_hidden(part):
    ns = variants.namespace(variants.replaced(variants.DELEGATING))
    component = ns[variants.COMPONENTS[part]]
    assert CHECKS[part](component).passed
    report = CHECKS[part](component, thorough=True)
    assert not report.passed and "does its own work" in failure_text(report)
    assert [p.name for p in report.failed()] == [report.properties[-1].name]  # only delegation fails


def test_a_part_that_raises_is_reported_with_the_error():
    def broken(step, max_steps, lr, min_lr, warmup_steps):
        raise NotImplementedError

    report = a7.check_schedule(broken)
    assert not report.passed and "notimplementederror" in failure_text(report)
    report = a7.check_training_loop(lambda *args, **kwargs: 1 / 0)
    assert not report.passed and "zerodivisionerror" in failure_text(report)


def test_optimizer_state_not_restored_is_named(solution):
    bad = variants.namespace(
        variants.edited(
            [("training_loop", '        optimizer.load_state_dict(checkpoint["optimizer"])\n', "")]
        )
    )
    report = a7.check_training_loop(bad["train"])
    assert not report.passed and "empty moments" in failure_text(report)


def test_unknown_delegation_rule_is_a_clear_error():
    with pytest.raises(ValueError, match="no delegation rule"):
        a7.delegation_findings("batching", lambda: None)


def test_registry_lists_every_part_with_a_visible_and_a_hidden_test():
    assert_registry_lists_every_part("A7", variants)


def _cosine_over_all_steps(step, max_steps, lr, min_lr, warmup_steps):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return min_lr + 0.5 * (1 + math.cos(math.pi * step / max_steps)) * (lr - min_lr)


def _decays_to_zero(step, max_steps, lr, min_lr, warmup_steps):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / (max_steps - warmup_steps))) * lr


def _always_rescaled(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / total)
    return total


@pytest.mark.parametrize(
    "check, wrong, hint",
    [
        (a7.check_schedule, _cosine_over_all_steps, "the cosine runs over all max_steps"),
        (a7.check_schedule, _decays_to_zero, "decays to 0, not to min_lr"),
        (a7.check_clipping, _always_rescaled, "even when their norm is already below it"),
    ],
)
def test_more_mistakes_are_named(check, wrong, hint):
    report = check(wrong)
    assert not report.passed and hint.lower() in failure_text(report), str(report)
