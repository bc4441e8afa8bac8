"""lmcore.ngram: counts, every estimator's probabilities by hand, normalization, perplexity, sampling."""

import math
import random
from collections import Counter
from fractions import Fraction as F

import pytest

from lmcore.grading import a1
from lmcore.ngram import (
    BOS,
    EOS,
    MLE,
    UNK,
    AddK,
    Backoff,
    Interpolated,
    KneserNey,
    NGramLM,
    count_ngrams,
    ngrams,
    pad,
)

# Counts used by the hand computations below (bigram padding: one <s> per sentence):
#   predicted unigrams: students 3, opened 3, their 3, books 3, </s> 4, laptops 1, teachers 1, read 1 (19)
#   bigrams: <s> students 3, <s> teachers 1, students opened 2, students read 1, opened their 3,
#            their books 2, their laptops 1, teachers opened 1, read books 1, books </s> 3, laptops </s> 1
TOY = [
    "students opened their books".split(),
    "students opened their laptops".split(),
    "teachers opened their books".split(),
    "students read books".split(),
]
V = 9  # 7 words + </s> + <unk>
P0 = F(1, V)


def close(x: float, fraction: F) -> bool:
    return x == pytest.approx(float(fraction), rel=1e-12, abs=1e-15)


def random_corpus(seed: int, n_sentences: int = 60) -> list[list[str]]:
    """Sentences of 0-8 words from 12 words with skewed frequencies (so some n-grams repeat)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(12)]
    weights = [1 / (i + 1) for i in range(12)]
    return [rng.choices(words, weights, k=rng.randint(0, 8)) for _ in range(n_sentences)]


# --- padding and counting ---------------------------------------------------------------------------


def test_pad_and_ngrams():
    assert pad(["a", "b"], 3) == (BOS, BOS, "a", "b", EOS)
    assert pad([], 1) == (EOS,)
    assert ngrams(("a", "b", "c"), 2) == [("a", "b"), ("b", "c")]
    assert ngrams(("a", "b"), 3) == []
    assert ngrams(["a"], 1) == [("a",)]


def test_count_ngrams_on_the_toy_corpus():
    bigrams = count_ngrams(TOY, 2)
    assert bigrams[(BOS, "students")] == 3
    assert bigrams[("their", "books")] == 2
    assert bigrams[("books", EOS)] == 3
    assert sum(bigrams.values()) == sum(len(s) + 1 for s in TOY)
    trigrams = count_ngrams(TOY, 3)
    assert trigrams[(BOS, BOS, "students")] == 3
    assert trigrams[("opened", "their", "books")] == 2


def test_fit_sets_vocab_and_counts_of_every_order_with_full_padding():
    lm = MLE(3).fit(TOY)
    assert lm.vocab == (EOS, UNK, "books", "laptops", "opened", "read", "students", "teachers", "their")
    assert BOS not in lm.vocab
    assert set(lm.counts) == {1, 2, 3}
    # lower orders are counted on the trigram padding: two <s> per sentence
    assert lm.counts[1][(BOS,)] == 8
    assert lm.counts[2][(BOS, BOS)] == 4
    assert lm.counts[3] == count_ngrams(TOY, 3)
    assert MLE(2).fit([[]]).vocab == (EOS, UNK)


# --- every estimator, by hand -----------------------------------------------------------------------


def test_mle_by_hand():
    lm = MLE(2).fit(TOY)
    assert close(lm.prob("books", ("their",)), F(2, 3))
    assert close(lm.prob("students", (BOS,)), F(3, 4))
    assert lm.prob("opened", ("books",)) == 0.0
    unigram = MLE(1).fit(TOY)
    assert close(unigram.prob("books", ()), F(3, 19))
    assert close(unigram.prob(EOS, ()), F(4, 19))
    assert unigram.prob(UNK, ()) == 0.0
    trigram = MLE(3).fit(TOY)
    assert close(trigram.prob("books", ("opened", "their")), F(2, 3))
    assert close(trigram.prob("read", (BOS, "students")), F(1, 3))


def test_mle_refuses_unseen_contexts():
    lm = MLE(2).fit(TOY)
    with pytest.raises(ValueError, match="never seen in training"):
        lm.prob("books", (UNK,))
    with pytest.raises(ValueError, match="never seen in training"):
        lm.distribution(("zebra",))
    with pytest.raises(ValueError, match="never seen in training"):
        lm.prob("books", (EOS,))  # </s> ends sentences: nothing ever follows it


def test_add_k_by_hand():
    lm = AddK(2, k=0.5).fit(TOY)
    assert close(lm.prob("books", ("their",)), (2 + F(1, 2)) / (3 + F(1, 2) * V))
    assert close(lm.prob("read", ("their",)), F(1, 2) / (3 + F(1, 2) * V))
    assert close(lm.prob("books", (UNK,)), P0)  # unseen context: uniform
    laplace = AddK(1).fit(TOY)
    assert close(laplace.prob("books", ()), F(3 + 1, 19 + V))


def test_interpolated_by_hand():
    lam1, lam2 = F(3, 4), F(1, 2)
    lm = Interpolated(2, [float(lam1), float(lam2)]).fit(TOY)
    p1_books = lam1 * F(3, 19) + (1 - lam1) * P0
    assert close(lm.prob("books", ("their",)), lam2 * F(2, 3) + (1 - lam2) * p1_books)
    assert close(lm.prob("books", (UNK,)), p1_books)  # c(h) = 0: the bigram level is skipped
    assert close(lm.prob(UNK, ("their",)), (1 - lam2) * (1 - lam1) * P0)


def test_interpolated_uses_c_of_h_not_the_lower_order_count():
    # In a trigram model the bigram context (<s>,) occurs 8 times in counts[1] but is followed by a
    # predicted word only 4 times (the other 4 times by <s>): c(<s>) = 4.
    lam = (F(1, 4), F(1, 2), F(3, 4))
    lm = Interpolated(3, [float(x) for x in lam]).fit(TOY)
    p1 = lam[0] * F(3, 19) + (1 - lam[0]) * P0
    p2 = lam[1] * F(3, 4) + (1 - lam[1]) * p1
    p3 = lam[2] * F(3, 4) + (1 - lam[2]) * p2
    assert close(lm.prob("students", (BOS, BOS)), p3)


def test_backoff_by_hand():
    d = F(1, 2)
    lm = Backoff(2, discount=float(d)).fit(TOY)
    # unigram level: c(()) = 19, 8 seen words, <unk> unseen gets all the reserved mass
    p1 = {w: (c - d) / 19 for w, c in [("books", 3), ("laptops", 1), ("students", 3)]}
    p1[UNK] = (d * 8 / 19) / P0 * P0  # alpha(()) times P_0; the unseen words' P_0 mass is P0
    for w, p in p1.items():
        assert close(lm.prob(w, (UNK,)), p)  # unseen context: back off to the unigram level
    # bigram level after "their": c = 3, books 2 and laptops 1 seen
    assert close(lm.prob("books", ("their",)), (2 - d) / 3)
    assert close(lm.prob("laptops", ("their",)), (1 - d) / 3)
    alpha = (d * 2 / 3) / (1 - p1["books"] - p1["laptops"])
    assert close(lm.prob("students", ("their",)), alpha * p1["students"])
    assert close(lm.prob(UNK, ("their",)), alpha * p1[UNK])


def test_kneser_ney_by_hand():
    d = F(1, 2)
    # continuation counts N1+(. w) on the bigrams: opened 2, books 2, </s> 2, the other 5 words 1; sum 11
    cont = {"students": 1, "teachers": 1, "opened": 2, "read": 1, "their": 1, "books": 2, "laptops": 1}
    cont[EOS], cont[UNK] = 2, 0

    def p1(w):
        return max(cont[w] - d, 0) / 11 + d * 8 / 11 * P0

    lm = KneserNey(2, discount=float(d)).fit(TOY)
    for w in (UNK, "books", "students"):
        assert close(lm.prob(w, ("zebra",)), p1(w))  # unknown context -> <unk>, never seen: unigram level
    assert close(lm.prob("books", ("their",)), (2 - d) / 3 + d * 2 / 3 * p1("books"))
    assert close(lm.prob("students", ("their",)), d * 2 / 3 * p1("students"))

    # trigram: the middle level counts distinct left neighbours of (their, w): only "opened"
    tri = KneserNey(3, discount=float(d)).fit(TOY)
    p2_books = (1 - d) / 2 + d * 2 / 2 * p1("books")
    assert close(tri.prob("books", ("opened", "their")), (2 - d) / 3 + d * 2 / 3 * p2_books)

    # a unigram model has no lower order: raw counts, interpolated with the uniform distribution
    uni = KneserNey(1, discount=float(d)).fit(TOY)
    assert close(uni.prob("books", ()), (3 - d) / 19 + d * 8 / 19 * P0)


def test_kneser_ney_continuation_counts_demote_words_that_follow_one_word():
    corpus = [["san", "francisco"]] * 6 + [[w, "glasses"] for w in ("new", "red", "my")]
    corpus += [["i", "saw", w] for w in ("glasses", "san", "francisco")]
    # francisco is the more frequent word (7 vs 4) but follows only "san" (and "saw" once)
    counts = count_ngrams(corpus, 1)
    assert counts[("francisco",)] > counts[("glasses",)]
    kn = KneserNey(2).fit(corpus)
    backoff = Backoff(2).fit(corpus)
    new_context = ("zebra",)  # unseen: both models fall back to their unigram level
    assert kn.prob("glasses", new_context) > kn.prob("francisco", new_context)
    assert backoff.prob("glasses", new_context) < backoff.prob("francisco", new_context)
    # after "san" the bigram count still makes francisco the clear favourite
    assert kn.prob("francisco", ("san",)) > 10 * kn.prob("glasses", ("san",))


# --- normalization ----------------------------------------------------------------------------------


def model_zoo(n: int) -> list[NGramLM]:
    return [
        MLE(n),
        AddK(n, k=0.1),
        AddK(n),
        Interpolated(n, [0.3 + 0.5 * m / n for m in range(1, n + 1)]),
        Interpolated(n, [1.0] * n),
        Backoff(n, discount=0.3),
        Backoff(n, discount=0.9),
        KneserNey(n, discount=0.75),
        KneserNey(n, discount=0.1),
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distributions_sum_to_one_on_seen_and_unseen_contexts(n):
    corpus = random_corpus(seed=n)
    rng = random.Random(100 + n)
    for lm in model_zoo(n):
        lm.fit(corpus)
        seen = sorted({gram[:-1] for gram in lm.counts[n] if gram[-1] != BOS})
        tokens = list(lm.vocab) + [BOS, "never-seen-word"]
        unseen = [tuple(rng.choice(tokens) for _ in range(n - 1)) for _ in range(25)]
        for context in seen + unseen:
            if isinstance(lm, MLE) and context not in seen:
                continue
            dist = lm.distribution(context)
            assert list(dist) == list(lm.vocab)
            assert min(dist.values()) >= 0.0
            assert math.fsum(dist.values()) == pytest.approx(1.0, abs=1e-12), (type(lm).__name__, context)
            if isinstance(lm, (AddK, KneserNey, Backoff)):
                assert min(dist.values()) > 0.0


# --- unknown words, log-probability and perplexity --------------------------------------------------


def test_unknown_words_become_unk():
    lm = KneserNey(2).fit(TOY)
    assert lm.map_unknown(["students", "zebra", BOS, UNK]) == ("students", UNK, BOS, UNK)
    assert lm.distribution(("zebra",)) == lm.distribution((UNK,))
    assert lm.logprob(["students", "ate", "books"]) == lm.logprob(["students", UNK, "books"])
    assert lm.logprob(["students", "ate", "books"]) > -math.inf


def test_logprob_is_the_sum_over_words_and_eos():
    lm = MLE(2).fit(TOY)
    # P(students | <s>) P(opened | students) P(their | opened) P(books | their) P(</s> | books)
    expected = F(3, 4) * F(2, 3) * 1 * F(2, 3) * 1
    assert lm.logprob("students opened their books".split()) == pytest.approx(math.log(expected), rel=1e-12)
    assert lm.logprob(["students", "read", "laptops"]) == -math.inf  # c(read laptops) = 0
    unigram = MLE(1).fit(TOY)
    assert unigram.logprob([]) == pytest.approx(math.log(4 / 19), rel=1e-12)


def test_perplexity_definition():
    lm = MLE(2).fit(TOY)
    total = sum(lm.logprob(s) for s in TOY)
    n_predicted = sum(len(s) + 1 for s in TOY)  # 15 words + 4 </s>, no <s>
    assert n_predicted == 19
    assert lm.perplexity(TOY) == pytest.approx(math.exp(-total / 19), rel=1e-12)
    assert lm.perplexity(TOY + [["students", "read", "laptops"]]) == math.inf


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    class Uniform(NGramLM):
        def prob(self, word, context):
            return 1.0 / len(self.vocab)

    for n in (1, 3):
        lm = Uniform(n).fit(TOY)
        assert lm.perplexity(TOY + [["zebra"]]) == pytest.approx(V, rel=1e-12)


def test_smoothing_lowers_held_out_perplexity_below_the_vocabulary_size():
    corpus = random_corpus(seed=7, n_sentences=300)
    train, test = corpus[:250], corpus[250:]
    for lm in (AddK(2, k=0.1), KneserNey(2), Backoff(2), Interpolated(2, [0.5, 0.5])):
        lm.fit(train)
        assert 1.0 < lm.perplexity(test) < len(lm.vocab)
        assert lm.perplexity(train) < lm.perplexity(test)


# --- sampling ---------------------------------------------------------------------------------------


class ScriptedRandom(random.Random):
    """A random.Random whose random() returns the given values in order."""

    def __init__(self, values):
        super().__init__(0)
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_sample_walks_the_cumulative_sum_in_vocab_order():
    lm = MLE(2).fit(TOY)
    # after <s>: students 3/4 then teachers 1/4 in vocab order; after students: opened 2/3 then read 1/3
    assert lm.sample(ScriptedRandom([0.74, 0.5, 0.1, 0.1, 0.0])) == "students opened their books".split()
    assert lm.sample(ScriptedRandom([0.76, 0.0, 0.0, 0.9, 0.0])) == "teachers opened their laptops".split()
    assert lm.sample(ScriptedRandom([0.0, 0.7, 0.5, 0.5])) == "students read books".split()
    # r exactly at a cumulative boundary (3/4 is exact in binary) picks the next word
    assert lm.sample(ScriptedRandom([0.75, 0.0, 0.0, 0.0, 0.0])) == "teachers opened their books".split()


def test_sample_is_reproducible_and_respects_max_words():
    lm = AddK(2, k=1.0).fit(TOY)
    first = [lm.sample(random.Random(3)) for _ in range(5)]
    assert first == [lm.sample(random.Random(3)) for _ in range(5)]
    rng = random.Random(0)
    runs = [lm.sample(rng, max_words=4) for _ in range(200)]
    assert max(len(s) for s in runs) == 4
    assert all(EOS not in s and BOS not in s for s in runs)
    state = rng.getstate()
    assert lm.sample(rng, max_words=0) == [] and rng.getstate() == state  # nothing drawn


@pytest.mark.parametrize("model", [MLE(2), KneserNey(2, discount=0.5)])
def test_sample_frequencies_match_sentence_probabilities(model):
    lm = model.fit(TOY)
    rng = random.Random(1)
    draws = 4000
    freq = Counter(tuple(lm.sample(rng, max_words=30)) for _ in range(draws))
    for sentence, count in freq.most_common(6):
        p = math.exp(lm.logprob(list(sentence)))
        sigma = math.sqrt(draws * p * (1 - p))
        assert abs(count - draws * p) < 5 * sigma, (sentence, count, draws * p)
    if isinstance(lm, MLE):  # MLE only generates the 5 sentences it can: their probabilities sum to 1
        assert len(freq) == 5
        assert math.fsum(math.exp(lm.logprob(list(s))) for s in freq) == pytest.approx(1.0, abs=1e-12)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError)]
)
def test_order_must_be_a_positive_int(n, error):
    with pytest.raises(error, match="n must be"):
        MLE(n)


@pytest.mark.parametrize(
    "sentences, message",
    [
        ("students opened their books", "list of token lists"),
        (["students opened", "their books"], "list of token lists"),
        ([], "empty"),
        ([["a", 3]], "must be str"),
        ([["a", BOS]], "marker"),
        ([["a", EOS]], "marker"),
        ((s for s in TOY), "list of token lists"),
    ],
)
def test_fit_rejects_bad_sentences(sentences, message):
    with pytest.raises(ValueError, match=message):
        KneserNey(2).fit(sentences)


def test_estimator_arguments_are_checked():
    for k, error in ((0, ValueError), (-1.0, ValueError), (float("inf"), ValueError), ("1", TypeError)):
        with pytest.raises(error, match="k must be"):
            AddK(2, k=k)
    for lambdas in ([0.5], [0.5, 0.5, 0.5], [0.5, 1.5], [-0.1, 0.5], "ab"):
        with pytest.raises(ValueError, match="lambda"):
            Interpolated(2, lambdas)
    for cls in (Backoff, KneserNey):
        for d in (0, 1, 1.5, -0.2):
            with pytest.raises(ValueError, match="discount must be in \\(0, 1\\)"):
                cls(2, discount=d)


def test_misuse_of_a_model_is_explained():
    with pytest.raises(ValueError, match="not fitted"):
        KneserNey(2).distribution(("a",))
    lm = KneserNey(3).fit(TOY)
    with pytest.raises(ValueError, match="exactly 2 tokens"):
        lm.distribution(("their",))
    with pytest.raises(ValueError, match="tuple of 2 tokens"):
        lm.distribution("ab")
    with pytest.raises(ValueError, match="list of token lists"):
        lm.logprob("students opened their books")
    with pytest.raises(ValueError, match="list of token lists"):
        lm.perplexity(["students opened their books"])
    with pytest.raises(ValueError, match="max_words must be >= 0"):
        lm.sample(random.Random(0), max_words=-1)
    with pytest.raises(TypeError, match="random.Random"):
        lm.sample(0)
    with pytest.raises(NotImplementedError, match="prob"):
        NGramLM(2).fit(TOY).distribution(("their",))


def test_a1_counts_reports_the_error():
    def count_ngrams(sentences, n):
        raise NotImplementedError("todo")

    report = a1.counts.check(count_ngrams)
    assert not report.passed and "NotImplementedError: todo" in str(report), str(report)
