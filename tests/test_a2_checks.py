"""The A2 checks must accept the solution, lmcore's references and a differently written correct
solution; reject every mutant in its own part only, naming its mistake; and catch delegation in
the hidden tests only. The hidden training test (1 MB, timed) runs once here, on the solution."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore import bpe, unigram
from lmcore.data import synthetic_text
from lmcore.grading import a2
from tests import a2_variants as variants
from tests.checks import (
    assert_mutant_fails_only_its_parts,
    assert_only_delegation_fails,
    assert_registry_lists_every_part,
    failure_text,
)
from tests.variants import namespace

CHECKS = {
    "train_bpe": a2.check_train_bpe,
    "encode": a2.check_encode,
    "decode": a2.check_decode,
    "viterbi": a2.check_viterbi,
    "em_step": a2.check_em_step,
}


@pytest.fixture(scope="module")
def solution():
    return namespace(variants.A2.solution())


@pytest.fixture
def no_perf(monkeypatch):
    """The thorough checks without the 1 MB timing and memory runs (tested once, on the solution)."""
    original = a2.train_bpe_cases

    def cases(thorough=False):
        case = original(thorough)
        case.pop("perf", None)
        case.pop("memory", None)
        return case

    monkeypatch.setattr(a2, "train_bpe_cases", cases)


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes_thorough_checks(solution, part):
    report = CHECKS[part](solution[variants.COMPONENTS[part]], thorough=True)
    report.raise_if_failed()
    if part == "train_bpe":
        assert any("finishes within" in p.name for p in report.properties)
        assert any("peak python memory" in p.name.lower() for p in report.properties)


def _reference_encode(text, merges, special_tokens=()):
    return bpe.Tokenizer(merges, special_tokens).encode(text)


def _reference_decode(ids, merges, special_tokens=()):
    return bpe.Tokenizer(merges, special_tokens).decode(ids)


@pytest.mark.parametrize(
    "part, reference",
    [
        ("train_bpe", bpe.train_bpe),
        ("encode", _reference_encode),
        ("decode", _reference_decode),
        ("viterbi", unigram.viterbi),
        ("em_step", unigram.em_step),
    ],
)
def test_references_pass_visible_checks_and_are_delegation_in_hidden_ones(part, reference, no_perf):
    CHECKS[part](reference).raise_if_failed()
    report = CHECKS[part](reference, thorough=True)
    assert not report.passed and "does its own work" in failure_text(report)


@pytest.mark.parametrize("mutant", sorted(variants.MUTANTS))
def test_mutant_fails_its_part_with_a_diagnosis(mutant):
    edits, broken, hint = variants.MUTANTS[mutant]
    ns = namespace(variants.A2.edited(edits))
    assert_mutant_fails_only_its_parts(mutant, CHECKS, variants.COMPONENTS, ns, broken, hint)


@pytest.mark.parametrize("part", variants.PARTS)
def test_alternative_implementation_passes_thorough_checks(part, no_perf):
    ns = namespace(variants.A2.replaced(variants.ALTERNATIVE))
    CHECKS[part](ns[variants.COMPONENTS[part]], thorough=True).raise_if_failed()


@pytest.mark.parametrize("part", sorted(variants.DELEGATING))
def test_delegation_passes_visible_and_fails_only_its_delegation_check(part, no_perf):
    ns = namespace(variants.A2.replaced(variants.DELEGATING))
    component = ns[variants.COMPONENTS[part]]
    assert CHECKS[part](component).passed
    report = CHECKS[part](component, thorough=True)
    assert_only_delegation_fails(report)


def test_a_slow_trainer_fails_the_time_bar(solution, monkeypatch):
    monkeypatch.setattr(a2, "PERF_SECONDS", 0.001)
    report = a2.check_train_bpe(solution["train_bpe"], thorough=True)
    (failed,) = report.failed()
    assert "finishes within" in failed.name and "lmcore's reference" in failed.name


def test_a_trainer_over_the_memory_bound_fails_it(solution, monkeypatch):
    monkeypatch.setattr(a2, "MEMORY_LIMIT_MB", 0.5)
    report = a2.check_train_bpe(solution["train_bpe"], thorough=True)
    (failed,) = report.failed()
    assert "peak python memory" in failed.name.lower()


def test_hugging_face_tokenizers_counts_as_delegation(no_perf):
    from lmcore.oracles.hf_bpe import hf_tokenizer

    def encode(text, merges, special_tokens=()):
        return hf_tokenizer(merges, special_tokens).encode(text).ids

    report = a2.check_encode(encode, thorough=True)
    assert "the tokenizers library" in failure_text(report)


def test_a_part_that_raises_is_reported_with_the_error():
    def broken(text, logprobs):
        raise NotImplementedError("todo")

    report = a2.check_viterbi(broken)
    assert not report.passed and "notimplementederror" in failure_text(report)


def test_registry_lists_every_part_with_a_visible_and_a_hidden_test():
    assert_registry_lists_every_part("A2", variants)


ROUND_TRIP_SPECIALS = ["<|endoftext|>", "<|pad|>"]


@pytest.fixture(scope="module")
def round_trip_merges():
    return bpe.train_bpe(synthetic_text(20_000, seed=3), 420, ROUND_TRIP_SPECIALS)


def round_trip_property(ns: dict, merges) -> None:
    """Hypothesis searches arbitrary Unicode (no lone surrogates, which UTF-8 cannot encode), with
    special tokens mixed in, for a text that ns's encode and decode do not round-trip. (The
    checks' own random texts are seeded, so that every student sees the same cases.)"""

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(
        st.lists(st.text(st.characters(codec="utf-8")) | st.sampled_from(ROUND_TRIP_SPECIALS)).map("".join)
    )
    def round_trip(text):
        ids = ns["encode"](text, merges, ROUND_TRIP_SPECIALS)
        assert ids == bpe.Tokenizer(merges, ROUND_TRIP_SPECIALS).encode(text)
        assert ns["decode"](ids, merges, ROUND_TRIP_SPECIALS) == text

    round_trip()


def test_the_solution_round_trips_arbitrary_unicode(solution, round_trip_merges):
    round_trip_property(solution, round_trip_merges)


@pytest.mark.parametrize("mutant", ["decode_token_by_token", "special_tokens_split"])
def test_the_round_trip_property_finds_a_mutant(mutant, round_trip_merges):
    with pytest.raises(AssertionError):
        round_trip_property(namespace(variants.A2.edited(variants.MUTANTS[mutant][0])), round_trip_merges)
