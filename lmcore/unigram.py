"""Unigram tokenization (Kudo, 2018): a probability for every piece, segmentations scored by product.

A vocabulary assigns each piece x a probability p(x); a segmentation T of a string into pieces
has probability prod_{x in T} p(x). Everything here works on natural log-probabilities
(``logprobs: piece -> log p(piece)``; ``-inf`` marks a piece as unusable), over a lattice whose
edges are the vocabulary pieces that occur at each position of the text:

- ``viterbi``: the single most probable segmentation (dynamic programming, max-product);
- ``forward_backward``: log Z, the log of the summed probability of all segmentations, and the
  expected number of times each piece is used under the posterior over segmentations;
- ``em_step``: one expectation-maximization step, re-estimating p(x) from those expected counts;
- ``seed_logprobs``: a starting vocabulary of all short substrings.

Each pass costs O(len(text) * longest piece). A corpus is either ``{word: count}`` or a sequence
of words, each occurrence counted once.
"""

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from lmcore.validation import positive_int

Corpus = Mapping[str, int] | Sequence[str]


def _check_logprobs(logprobs: Mapping[str, float]) -> int:
    """ValueError unless logprobs maps non-empty strings to log-probabilities; the longest piece."""
    if not isinstance(logprobs, Mapping) or not logprobs:
        raise ValueError("logprobs must be a non-empty mapping piece -> log-probability")
    for piece, lp in logprobs.items():
        if not isinstance(piece, str) or not piece:
            raise ValueError(f"every piece must be a non-empty str, got {piece!r}")
        if not isinstance(lp, int | float) or not lp <= 0:  # also rejects NaN
            raise ValueError(f"log-probability of {piece!r} must be a number <= 0 (or -inf), got {lp!r}")
    return max(map(len, logprobs))


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: there is nothing to segment")


def _edges(text: str, logprobs: Mapping[str, float], max_len: int, end: int) -> Iterator[tuple[int, float]]:
    """(start, log-prob) of each usable piece text[start:end], longest piece (smallest start) first."""
    for start in range(max(0, end - max_len), end):
        lp = logprobs.get(text[start:end], -math.inf)
        if lp > -math.inf:
            yield start, lp


def _unsegmentable(
    text: str, logprobs: Mapping[str, float], max_len: int, reached: Sequence[bool]
) -> ValueError:
    """The error for a text with no segmentation; ``reached[i]``: some segmentation covers text[:i]."""
    covered = [False] * len(text)
    for end in range(1, len(text) + 1):
        for start, _ in _edges(text, logprobs, max_len, end):
            covered[start:end] = [True] * (end - start)
    if not all(covered):
        i = covered.index(False)
        return ValueError(f"cannot segment {text!r}: no usable piece covers position {i} ({text[i]!r})")
    last = max(i for i, r in enumerate(reached) if r)
    return ValueError(
        f"cannot segment {text!r}: segmentations reach position {last} ({text[last]!r}) but no usable piece "
        "starts there"
    )


def _viterbi(text: str, logprobs: Mapping[str, float], max_len: int) -> tuple[list[str], float]:
    best = [0.0] + [-math.inf] * len(text)  # best[i]: log-prob of the best segmentation of text[:i]
    back = [0] * (len(text) + 1)  # back[i]: where the last piece of that segmentation starts
    for end in range(1, len(text) + 1):
        for start, lp in _edges(text, logprobs, max_len, end):
            score = best[start] + lp
            if score > best[end]:  # strict: on a tie the earlier start, the longer last piece, stays
                best[end], back[end] = score, start
    if best[-1] == -math.inf:
        raise _unsegmentable(text, logprobs, max_len, [b > -math.inf for b in best])
    pieces, end = [], len(text)
    while end > 0:
        pieces.append(text[back[end] : end])
        end = back[end]
    return pieces[::-1], best[-1]


def viterbi(text: str, logprobs: Mapping[str, float]) -> tuple[list[str], float]:
    """The most probable segmentation of text into pieces and its total log-probability.

    Ties: among segmentations with exactly the same score, the one whose last piece is longest is
    returned (and, recursively, the same rule for the prefix before it). ValueError if text is
    empty or cannot be segmented with the usable pieces.
    """
    _check_text(text)
    return _viterbi(text, logprobs, _check_logprobs(logprobs))


def _logsumexp(values: Sequence[float]) -> float:
    m = max(values, default=-math.inf)
    if m == -math.inf:
        return -math.inf
    return m + math.log(sum(math.exp(v - m) for v in values))


def _forward_backward(
    text: str, logprobs: Mapping[str, float], max_len: int
) -> tuple[float, dict[str, float]]:
    n = len(text)
    edges = [list(_edges(text, logprobs, max_len, end)) for end in range(n + 1)]  # edges[end]: (start, lp)
    alpha = [0.0] + [-math.inf] * n  # alpha[i]: log of the summed probability of segmenting text[:i]
    for end in range(1, n + 1):
        alpha[end] = _logsumexp([alpha[start] + lp for start, lp in edges[end]])
    log_z = alpha[n]
    if log_z == -math.inf:
        raise _unsegmentable(text, logprobs, max_len, [a > -math.inf for a in alpha])
    beta = [-math.inf] * n + [0.0]  # beta[i]: the same for text[i:]
    for end in range(n, 0, -1):
        for start, lp in edges[end]:
            beta[start] = _logsumexp([beta[start], lp + beta[end]])
    counts: dict[str, float] = {}
    for end in range(1, n + 1):
        for start, lp in edges[end]:
            posterior = math.exp(alpha[start] + lp + beta[end] - log_z)  # P(this piece is used here)
            if posterior > 0:
                piece = text[start:end]
                counts[piece] = counts.get(piece, 0.0) + posterior
    return log_z, counts


def forward_backward(text: str, logprobs: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """log Z and each piece's expected number of uses under the posterior over segmentations.

    Z = sum over segmentations T of prod_{x in T} p(x). The expected counts of the pieces that
    have a non-zero count are returned; summed log-sum-exp keeps long texts from underflowing.
    ValueError if text is empty or cannot be segmented.
    """
    _check_text(text)
    return _forward_backward(text, logprobs, _check_logprobs(logprobs))


def _word_counts(corpus: Corpus) -> dict[str, int]:
    """The corpus as {word: count}; ValueError for a bare string, empty words or counts < 1,
    TypeError for a count that is not an int."""
    if isinstance(corpus, str):
        raise ValueError("corpus must be {word: count} or a list of words, not a single str")
    counts = dict(corpus) if isinstance(corpus, Mapping) else Counter(corpus)
    if not counts:
        raise ValueError("corpus is empty")
    for word, count in counts.items():
        if not isinstance(word, str) or not word:
            raise ValueError(f"every word must be a non-empty str, got {word!r}")
        positive_int(f"the count of {word!r}", count)
    return counts


def em_step(corpus: Corpus, logprobs: Mapping[str, float]) -> tuple[dict[str, float], float]:
    """One EM step: (new logprobs, log-likelihood of the corpus under the OLD logprobs).

    E: the expected piece counts of every word (``forward_backward``), weighted by word counts.
    M: log p(x) = log(count(x) / total count); pieces never used (those that occur in no word, or
    only where no segmentation passes) get -inf. The new dict has the same keys as logprobs. The
    log-likelihood is sum over words of count * log Z(word). When the old probabilities sum to 1,
    the likelihood under the new ones is never lower. ValueError if a word cannot be segmented
    (its log Z would be -inf): name the word rather than return a likelihood of -inf.
    """
    counts = _word_counts(corpus)
    max_len = _check_logprobs(logprobs)
    expected: dict[str, float] = {}
    log_likelihood = 0.0
    for word, count in counts.items():
        log_z, piece_counts = _forward_backward(word, logprobs, max_len)
        log_likelihood += count * log_z
        for piece, c in piece_counts.items():
            expected[piece] = expected.get(piece, 0.0) + count * c
    total = sum(expected.values())
    new = {
        piece: math.log(expected[piece] / total) if expected.get(piece, 0.0) > 0 else -math.inf
        for piece in logprobs
    }
    return new, log_likelihood


def seed_logprobs(corpus: Corpus, max_piece_len: int = 4) -> dict[str, float]:
    """Every substring of 1..max_piece_len characters of the corpus words, at log relative frequency.

    A substring's count is its number of occurrences in each word times the word's count.
    """
    positive_int("max_piece_len", max_piece_len)
    occurrences: Counter[str] = Counter()
    for word, count in _word_counts(corpus).items():
        for start in range(len(word)):
            for end in range(start + 1, min(start + max_piece_len, len(word)) + 1):
                occurrences[word[start:end]] += count
    total = sum(occurrences.values())
    return {piece: math.log(n / total) for piece, n in occurrences.items()}
