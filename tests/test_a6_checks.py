"""The A6 checks must reject every mutant, name its mistake, and accept correct code
written differently from the reference."""

import pytest
import torch

from lmcore import kv_cache as ref_kv_cache
from lmcore import sampling as ref_sampling
from lmcore.grading import a6
from tests import a6_variants as variants


def failure_text(report) -> str:
    return "\n".join([f"{p.name}\n{p.detail}" for p in report.failed()] + report.diagnosis).lower()


def check(part: str, ns: dict, thorough: bool = False):
    fns = [ns[name] for name in variants.COMPONENTS[part]]
    return {"sampling": a6.check_sampling, "kv_cache": a6.check_kv_cache, "generate": a6.check_generate}[
        part
    ](*fns, thorough=thorough)


@pytest.fixture(scope="module")
def solution():
    return variants.namespace(variants.solution_notebook())


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes(solution, part):
    check(part, solution).raise_if_failed()


def test_reference_components_pass():
    a6.check_sampling(
        ref_sampling.apply_temperature, ref_sampling.top_k_filter, ref_sampling.top_p_filter
    ).raise_if_failed()
    a6.check_kv_cache(ref_kv_cache.KVCache).raise_if_failed()


@pytest.mark.parametrize("mutant", sorted(variants.MUTANTS))
def test_mutant_fails_its_part_with_a_diagnosis(mutant):
    edits, broken, hint = variants.MUTANTS[mutant]
    ns = variants.namespace(variants.edited(edits))
    for part in variants.PARTS:
        report = check(part, ns)
        if part in broken:
            assert not report.passed, f"{mutant} passed the {part} check:\n{report}"
            assert hint.lower() in failure_text(report), f"{mutant}: no '{hint}' in\n{report}"
        else:
            assert report.passed, f"{mutant} broke {part}, which it does not touch:\n{report}"


@pytest.mark.parametrize("part", ["sampling", "kv_cache"])
def test_alternative_passes_thorough_checks(part):
    check(part, variants.namespace(variants.replaced(variants.ALTERNATIVE)), thorough=True).raise_if_failed()


def test_alternative_generate_passes_visible_check():
    # the thorough check (with its timed run) is covered by the round trip
    check("generate", variants.namespace(variants.replaced(variants.ALTERNATIVE))).raise_if_failed()


def test_delegation_fails_only_the_thorough_check():
    ns = variants.namespace(variants.edited(variants.DELEGATING))
    assert check("sampling", ns).passed
    report = check("sampling", ns, thorough=True)
    assert not report.passed and "lmcore.sampling.top_p_filter" in failure_text(report)


def test_subclassing_the_reference_cache_is_delegation():
    class Mine(ref_kv_cache.KVCache):
        pass

    report = a6.check_kv_cache(Mine, thorough=True)
    assert not report.passed and "subclasses lmcore.kv_cache.kvcache" in failure_text(report)


def test_an_uncached_loop_is_caught_by_the_prefill_property(solution):
    def uncached(model, idx, max_new_tokens, kv_cache=None, sample=None, **settings):
        out = idx
        for _ in range(max_new_tokens):
            out = torch.cat([out, sample(model(out)[:, -1], **settings)], dim=1)
        return out

    report = a6.check_generate(uncached)
    assert not report.passed and "one token per step" in failure_text(report)


def test_a_sampler_that_raises_is_reported(solution):
    def broken(logits, p):
        raise NotImplementedError("top-p")

    report = a6.check_sampling(solution["apply_temperature"], solution["top_k_filter"], broken)
    assert not report.passed and "notimplementederror" in failure_text(report)


def test_the_audit_finds_the_sibling_samplers_through_globals(solution):
    part = {p.name: p for p in a6.PARTS}["sampling"]
    case = part.cases(False)
    assert part.judge(case, part.probe(solution["top_p_filter"], case)).passed


def test_nucleus_size_is_the_smallest_set_reaching_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]]).log()
    assert a6.nucleus_size(logits, 0.6).tolist() == [2, 3]
    assert a6.nucleus_size(logits, 1.0).tolist() == [4, 4]
    assert a6.nucleus_size(logits, 0.4).tolist() == [1, 2]
