"""lmcore.unigram: Viterbi and forward-backward against brute-force enumeration, EM never gets worse."""

import math
import random
from itertools import pairwise

import pytest

from lmcore.unigram import em_step, forward_backward, seed_logprobs, viterbi


def segmentations(text: str, pieces) -> list[list[str]]:
    """Every way to cut text into pieces (brute force, exponential: small texts only)."""
    if not text:
        return [[]]
    return [
        [text[:end], *rest]
        for end in range(1, len(text) + 1)
        if text[:end] in pieces
        for rest in segmentations(text[end:], pieces)
    ]


def random_logprobs(rng: random.Random, alphabet: str = "abc", n_pieces: int = 10) -> dict[str, float]:
    """All single characters plus random pieces of length 2..3, with random normalized probabilities."""
    pieces = set(alphabet)
    while len(pieces) < n_pieces:
        pieces.add("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 3))))
    weights = {p: rng.random() + 0.05 for p in sorted(pieces)}
    total = sum(weights.values())
    return {p: math.log(w / total) for p, w in weights.items()}


# ---------------------------------------------------------------- Viterbi


def test_ababc_from_the_lecture():
    # p(ab) = 2/3, p(c) = 1/3: ab|ab|c has probability 2/3 * 2/3 * 1/3
    logprobs = {"ab": math.log(2 / 3), "c": math.log(1 / 3), "a": -math.inf, "b": -math.inf}
    pieces, score = viterbi("ababc", logprobs)
    assert pieces == ["ab", "ab", "c"]
    assert score == pytest.approx(math.log(2 / 3 * 2 / 3 * 1 / 3))
    # with a and b usable but rare, ab|ab|c is still the best of the 4 segmentations
    rare = {"ab": math.log(0.6), "c": math.log(0.3), "a": math.log(0.05), "b": math.log(0.05)}
    assert viterbi("ababc", rare) == (["ab", "ab", "c"], pytest.approx(math.log(0.6 * 0.6 * 0.3)))
    assert len(segmentations("ababc", rare)) == 4
    # and when a, b are likely, splitting wins: a|b|a|b|c = .3^4 * .05 > ab|ab|c = .05^2 * .05
    common = {"ab": math.log(0.05), "c": math.log(0.05), "a": math.log(0.3), "b": math.log(0.3)}
    assert viterbi("ababc", common)[0] == ["a", "b", "a", "b", "c"]


def test_viterbi_is_the_best_of_all_segmentations():
    rng = random.Random(0)
    for _ in range(30):
        logprobs = random_logprobs(rng)
        text = "".join(rng.choice("abc") for _ in range(rng.randint(1, 9)))
        pieces, score = viterbi(text, logprobs)
        assert "".join(pieces) == text
        assert score == pytest.approx(sum(logprobs[p] for p in pieces))
        best = max(sum(logprobs[p] for p in seg) for seg in segmentations(text, logprobs))
        assert score == pytest.approx(best)


def test_viterbi_tie_goes_to_the_longest_last_piece():
    half = math.log(0.5)
    logprobs = {"a": half, "b": half, "ab": 2 * half}  # a|b and ab both score log 1/4 exactly
    assert viterbi("ab", logprobs) == (["ab"], 2 * half)
    assert viterbi("abab", logprobs)[0] == ["ab", "ab"]


def test_viterbi_errors_name_what_to_fix():
    logprobs = {"a": math.log(0.5), "b": math.log(0.5), "cd": -math.inf}
    with pytest.raises(ValueError, match=r"position 2 \('c'\)"):
        viterbi("abcd", logprobs)  # cd exists but is unusable (-inf)
    with pytest.raises(ValueError, match=r"reach position 2 \('c'\)"):
        viterbi("abc", {"ab": -1.0, "bc": -1.0})  # every character is covered, yet ab|c and a|bc fail
    with pytest.raises(ValueError, match="empty"):
        viterbi("", logprobs)
    for bad in ({}, {"": -1.0}, {"a": 0.5}, {"a": math.nan}, {"a": "0"}, {1: -1.0}):
        with pytest.raises(ValueError):
            viterbi("a", bad)


# ---------------------------------------------------------------- forward-backward


def test_forward_backward_matches_brute_force():
    rng = random.Random(1)
    for _ in range(30):
        logprobs = random_logprobs(rng)
        text = "".join(rng.choice("abc") for _ in range(rng.randint(1, 8)))
        log_z, counts = forward_backward(text, logprobs)
        segs = segmentations(text, logprobs)
        probs = [math.exp(sum(logprobs[p] for p in seg)) for seg in segs]
        z = sum(probs)
        assert log_z == pytest.approx(math.log(z))
        expected = {}
        for seg, p in zip(segs, probs, strict=True):
            for piece in seg:
                expected[piece] = expected.get(piece, 0.0) + p / z
        assert counts.keys() == expected.keys()
        for piece, c in expected.items():
            assert counts[piece] == pytest.approx(c)
        assert sum(len(piece) * c for piece, c in counts.items()) == pytest.approx(len(text))


def test_forward_backward_on_ababc():
    logprobs = {"ab": math.log(0.6), "c": math.log(0.3), "a": math.log(0.05), "b": math.log(0.05)}
    log_z, counts = forward_backward("ababc", logprobs)
    # segmentations: (ab|a|b) x (ab|a|b) then c; Z = (0.6 + 0.05^2)^2 * 0.3
    z = (0.6 + 0.05**2) ** 2 * 0.3
    assert log_z == pytest.approx(math.log(z))
    assert counts["c"] == pytest.approx(1.0)
    assert counts["ab"] == pytest.approx(2 * 0.6 / (0.6 + 0.05**2))
    assert counts["a"] == pytest.approx(counts["b"])


def test_forward_backward_does_not_underflow_on_long_texts():
    # pieces a and aa with p = 1/2 each: Z_n = (Z_{n-1} + Z_{n-2}) / 2, Z_0 = 1, Z_1 = 1/2, whose
    # solution is Z_n = 2/3 + (1/3)(-1/2)^n; each single segmentation has probability <= 2^-1000
    half = math.log(0.5)
    n = 2000
    log_z, counts = forward_backward("a" * n, {"a": half, "aa": half})
    assert log_z == pytest.approx(math.log(2 / 3 + (1 / 3) * (-0.5) ** n))
    assert counts["a"] + 2 * counts["aa"] == pytest.approx(n)


def test_forward_backward_errors():
    with pytest.raises(ValueError, match=r"position 1 \('x'\)"):
        forward_backward("axa", {"a": -1.0})
    with pytest.raises(ValueError, match="empty"):
        forward_backward("", {"a": -1.0})


# ---------------------------------------------------------------- EM and the seed vocabulary


def test_seed_logprobs_counts_substrings_weighted_by_word_counts():
    # "aba": a twice, b, ab, ba once each (length <= 2): 5 occurrences
    seed = seed_logprobs({"aba": 1}, max_piece_len=2)
    assert seed == pytest.approx({"a": math.log(2 / 5), **{p: math.log(1 / 5) for p in ("b", "ab", "ba")}})
    assert seed_logprobs({"ab": 3}, max_piece_len=2) == pytest.approx(
        {p: math.log(1 / 3) for p in ("a", "b", "ab")}
    )
    assert seed_logprobs(["ab", "ab", "c"]) == seed_logprobs({"ab": 2, "c": 1})
    assert max(map(len, seed_logprobs(["abcdefg"]))) == 4


def test_em_step_returns_the_same_keys_and_normalized_probabilities():
    logprobs = {"ab": math.log(0.5), "a": math.log(0.2), "b": math.log(0.2), "zz": math.log(0.1)}
    new, log_likelihood = em_step({"ab": 2, "aab": 1}, logprobs)
    assert new.keys() == logprobs.keys()
    assert new["zz"] == -math.inf  # never used in the corpus
    assert sum(math.exp(lp) for lp in new.values()) == pytest.approx(1.0)
    old_ll = 2 * forward_backward("ab", logprobs)[0] + forward_backward("aab", logprobs)[0]
    assert log_likelihood == pytest.approx(old_ll)
    assert em_step(["ab", "aab", "ab"], logprobs) == em_step({"ab": 2, "aab": 1}, logprobs)


def test_em_never_decreases_the_corpus_likelihood():
    rng = random.Random(2)
    for _ in range(8):
        words = [
            "".join(rng.choice("abcd") for _ in range(rng.randint(2, 7))) for _ in range(rng.randint(1, 12))
        ]
        corpus = {w: rng.randint(1, 5) for w in words}
        logprobs = seed_logprobs(corpus, max_piece_len=3)
        history = []
        for _ in range(8):
            logprobs, log_likelihood = em_step(corpus, logprobs)
            history.append(log_likelihood)
        assert all(b >= a - 1e-9 for a, b in pairwise(history))
        assert history[-1] > history[0]  # and it does learn something from the seed vocabulary


def test_em_step_and_seed_reject_wrong_corpora():
    logprobs = {"a": -1.0}
    for bad in ("aaa", {}, [], {"a": 0}, {"": 1}, [1, 2]):
        with pytest.raises(ValueError):
            em_step(bad, logprobs)
        with pytest.raises(ValueError):
            seed_logprobs(bad)
    with pytest.raises(TypeError, match="the count of 'a' must be an int"):
        em_step({"a": 1.5}, logprobs)
    with pytest.raises(ValueError, match="max_piece_len must be >= 1"):
        seed_logprobs(["ab"], max_piece_len=0)
    with pytest.raises(ValueError, match=r"position 0 \('b'\)"):
        em_step(["a", "b"], logprobs)
