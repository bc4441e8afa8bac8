"""The checks of lmcore.grading must reject every mutant, name its mistake, and accept
correct code written differently from the reference."""

import pytest
import torch

from lmcore import model as ref
from lmcore.attention import scaled_dot_product_attention
from lmcore.grading import (
    check_attention,
    check_block,
    check_gpt,
    check_model,
    check_no_delegation,
    check_self_attention,
)
from lmcore.grading.delegation import static_findings
from lmcore.grading.report import describe_mismatch
from lmcore.tolerances import FP32_OP
from tests import a5_variants as variants

CHECKS = {
    "attention": (check_attention, "scaled_dot_product_attention"),
    "self_attention": (check_self_attention, "CausalSelfAttention"),
    "block": (check_block, "Block"),
    "gpt": (check_gpt, "GPT"),
}


def failure_text(report) -> str:
    return "\n".join([f"{p.name}\n{p.detail}" for p in report.failed()] + report.diagnosis).lower()


@pytest.fixture(scope="module")
def solution():
    return variants.namespace(variants.solution_notebook())


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes_every_check(solution, part):
    check, name = CHECKS[part]
    check(solution[name]).raise_if_failed()


@pytest.mark.parametrize("part", variants.PARTS)
def test_reference_components_pass(part):
    component = {
        "attention": scaled_dot_product_attention,
        "self_attention": ref.CausalSelfAttention,
        "block": ref.Block,
        "gpt": ref.GPT,
    }[part]
    CHECKS[part][0](component).raise_if_failed()


@pytest.mark.parametrize("mutant", sorted(variants.MUTANTS))
def test_mutant_fails_its_part_with_a_diagnosis(mutant):
    edits, broken, hint = variants.MUTANTS[mutant]
    ns = variants.namespace(variants.edited(edits))
    for part in variants.PARTS:
        check, name = CHECKS[part]
        report = check(ns[name])
        if part in broken:
            assert not report.passed, f"{mutant} passed the {part} check:\n{report}"
            assert hint.lower() in failure_text(report), f"{mutant}: no '{hint}' in\n{report}"
        else:
            assert report.passed, f"{mutant} broke {part}, which it does not touch:\n{report}"


@pytest.mark.parametrize("part", variants.PARTS)
def test_alternative_implementation_passes_thorough_checks(part):
    ns = variants.namespace(variants.replaced(variants.ALTERNATIVE))
    check, name = CHECKS[part]
    check(ns[name], thorough=True).raise_if_failed()
    check_no_delegation(ns[name], part).raise_if_failed()
    assert static_findings(part, variants.ALTERNATIVE[part]) == []


def test_all_together_alternative_and_mutant():
    ns = variants.namespace(variants.replaced(variants.ALTERNATIVE))
    parts = [ns[n] for n in ("scaled_dot_product_attention", "CausalSelfAttention", "Block", "GPT")]
    check_model(*parts).raise_if_failed()
    bad = variants.namespace(variants.edited(variants.MUTANTS["post_layernorm"][0]))
    parts = [bad[n] for n in ("scaled_dot_product_attention", "CausalSelfAttention", "Block", "GPT")]
    assert not check_model(*parts).passed


def test_delegation_is_caught_dynamically_and_statically():
    ns = variants.namespace(variants.edited(variants.DELEGATING))
    fn = ns["scaled_dot_product_attention"]
    assert check_attention(fn).passed  # it computes the right numbers ...
    report = check_no_delegation(fn, "attention")  # ... but not by itself
    assert not report.passed and "scaled_dot_product" in failure_text(report)
    source = variants.DELEGATING[0][2]
    assert static_findings("attention", source)


def test_delegating_to_an_alias_of_the_reference_is_caught():
    alias = scaled_dot_product_attention

    def sneaky(q, k, v, causal=True):
        return alias(q, k, v, causal)

    assert not check_no_delegation(sneaky, "attention").passed
    assert not check_no_delegation(ref.Block, "block").passed
    assert not check_no_delegation(ref.CausalSelfAttention, "self_attention").passed
    assert not check_no_delegation(ref.GPT, "gpt").passed


def test_a_part_that_raises_is_reported_with_the_error():
    def broken(q, k, v, causal=True):
        raise NotImplementedError

    report = check_attention(broken)
    assert not report.passed and "notimplementederror" in failure_text(report)


def test_a_module_with_wrong_names_is_told_the_expected_names(solution):
    class Renamed(solution["CausalSelfAttention"]):
        def __init__(self, config, attention=None):
            super().__init__(config, attention)
            self.qkv = self.c_attn
            del self.c_attn

    report = check_self_attention(Renamed)
    assert not report.passed and "c_attn.weight" in failure_text(report)


def test_describe_mismatch_locates_the_difference():
    expected = torch.zeros(2, 3, 4, 5)
    actual = expected.clone()
    actual[1, 2, 3, 4] = 0.5
    message = describe_mismatch(actual, expected, FP32_OP, ("batch", "head", "position", "feature"))
    assert "batch 1, head 2, position 3, feature 4" in message
    assert "positions that differ: 3" in message
    assert describe_mismatch(expected, expected, FP32_OP) is None
    assert "shape" in describe_mismatch(expected[0], expected, FP32_OP)
    actual[0, 0, 0, 0] = float("nan")
    assert "NaN" in describe_mismatch(actual, expected, FP32_OP)


def test_invalid_part_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown part"):
        check_no_delegation(scaled_dot_product_attention, "atention")
