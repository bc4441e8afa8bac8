"""The A1 checks must accept the solution, lmcore's reference models and a differently written
correct solution; reject every mutant in its own part only, naming its mistake; and catch
delegation to lmcore in the hidden tests only."""

import math

import pytest

from lmcore import ngram
from lmcore.grading import a1
from tests import a1_variants as variants
from tests.checks import (
    assert_mutant_fails_only_its_parts,
    assert_only_delegation_fails,
    assert_registry_lists_every_part,
    failure_text,
)
from tests.variants import namespace

CHECKS = {
    "counts": a1.check_counts,
    "add_k": a1.check_add_k,
    "kneser_ney": a1.check_kneser_ney,
    "perplexity": a1.check_perplexity,
    "sample": a1.check_sampling,
}


@pytest.fixture(scope="module")
def solution():
    return namespace(variants.A1.solution())


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes_thorough_checks(solution, part):
    CHECKS[part](solution[variants.COMPONENTS[part]], thorough=True).raise_if_failed()


def _reference_perplexity(model, sentences):
    return ngram.NGramLM.perplexity(model, sentences)


@pytest.mark.parametrize(
    "part, reference",
    [
        ("counts", ngram.count_ngrams),
        ("add_k", ngram.AddK),
        ("kneser_ney", ngram.KneserNey),
        ("perplexity", _reference_perplexity),
        ("sample", lambda model, rng, max_words=100: model.sample(rng, max_words)),
    ],
)
def test_references_pass_visible_checks_and_are_delegation_in_hidden_ones(part, reference):
    CHECKS[part](reference).raise_if_failed()
    report = CHECKS[part](reference, thorough=True)
    assert not report.passed and "does its own work" in failure_text(report)


@pytest.mark.parametrize("mutant", sorted(variants.MUTANTS))
def test_mutant_fails_its_part_with_a_diagnosis(mutant):
    edits, broken, hint = variants.MUTANTS[mutant]
    ns = namespace(variants.A1.edited(edits))
    assert_mutant_fails_only_its_parts(mutant, CHECKS, variants.COMPONENTS, ns, broken, hint)


@pytest.mark.parametrize("part", variants.PARTS)
def test_alternative_implementation_passes_thorough_checks(part):
    ns = namespace(variants.A1.replaced(variants.ALTERNATIVE))
    CHECKS[part](ns[variants.COMPONENTS[part]], thorough=True).raise_if_failed()


@pytest.mark.parametrize("part", sorted(variants.DELEGATING))
def test_delegation_passes_visible_and_fails_only_its_delegation_check(part):
    ns = namespace(variants.A1.replaced(variants.DELEGATING))
    component = ns[variants.COMPONENTS[part]]
    assert CHECKS[part](component).passed
    report = CHECKS[part](component, thorough=True)
    assert_only_delegation_fails(report)


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("raw_lower_counts", "continuations"),
        ("no_redistribution", "not redistributed"),
        ("unseen_zero", "unseen context"),
        ("unseen_nan", "unseen context"),
        ("no_uniform", "uniform distribution"),
    ],
)
def test_every_kneser_ney_mistake_is_named(mistake, hint):
    report = a1.check_kneser_ney(a1._kn_variant(mistake), thorough=True)
    assert not report.passed and hint in failure_text(report), str(report)


def test_the_diagnosing_kneser_ney_without_a_mistake_is_the_reference():
    report = a1.check_kneser_ney(a1._KneserNeyVariant, thorough=True)
    assert [p.name for p in report.failed()] == [], str(report)


def test_perplexity_mistakes_are_named():
    def log2_then_exp(model, sentences):
        total, count = 0.0, 0
        for s in sentences:
            padded = ngram.pad(model.map_unknown(s), model.n)
            for t in range(model.n - 1, len(padded)):
                total += math.log2(model.prob(padded[t], padded[t - model.n + 1 : t]))
                count += 1
        return math.exp(-total / count)

    report = a1.check_perplexity(log2_then_exp)
    assert not report.passed and "mixed logarithm bases" in failure_text(report)


def test_a_part_that_raises_is_reported_with_the_error():
    def broken(sentences, n):
        raise NotImplementedError("todo")

    report = a1.check_counts(broken)
    assert not report.passed and "notimplementederror" in failure_text(report)


def test_registry_lists_every_part_with_a_visible_and_a_hidden_test():
    assert_registry_lists_every_part("A1", variants)
