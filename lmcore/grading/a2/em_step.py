"""A2, part 5: ``em_step(corpus, logprobs)``.

Contract (``lmcore.unigram.em_step``): ``corpus`` is {word: count}; E-step, each piece's
expected count over all segmentations of every word (forward-backward), weighted by the
word's count; M-step, each piece's count over the total. Returns ``(new_logprobs, loglik)``:
a dict with exactly the keys of ``logprobs`` (a piece of expected count 0, one that never
occurs or is unusable, gets -inf), and the corpus log-likelihood under the OLD
log-probabilities, sum of count * log P(word). A word that cannot be segmented raises
ValueError. Checked to 1e-9 against lmcore on small and random corpora, with pieces that
never occur.
"""

import math
import random
from collections import defaultdict

from lmcore import unigram as ref
from lmcore.grading.a2._common import LOG_TOL, UNIGRAM_RULES
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report

HALF = math.log(0.5)


def cases(thorough: bool = False) -> dict:
    rng = random.Random(9)
    corpora = [{"ababc": 1, "abc": 2, "bab": 1}, {"aab": 3, "ba": 2, "abab": 1}]
    if thorough:
        for _ in range(4):
            words = ["".join(rng.choice("abcd") for _ in range(rng.randint(1, 9))) for _ in range(15)]
            corpora.append({w: rng.randint(1, 5) for w in words})
    runs = [dict(corpus=c, logprobs=ref.seed_logprobs(c, max_piece_len=3)) for c in corpora]
    invalid = []
    if thorough:
        corpus = {"abab": 2, "ba": 1, "b": 3}
        # "zz" never occurs and "bab" occurs but is unusable: both get -inf
        unused = {**ref.seed_logprobs(corpus, max_piece_len=3), "zz": -2.0, "bab": -math.inf}
        runs.append(dict(corpus=corpus, logprobs=unused))
        invalid.append(dict(corpus={"ab": 1, "axb": 2}, logprobs={"a": HALF, "b": HALF}))
    return dict(runs=runs, invalid=invalid)


def _plain_em(result) -> tuple:
    logprobs, loglik = result
    return {str(k): float(v) for k, v in dict(logprobs).items()}, float(loglik)


def _step(em_step, r: dict) -> dict:
    value, error = attempt(em_step, dict(r["corpus"]), dict(r["logprobs"]))
    if error is None:
        value, error = attempt(_plain_em, value)
    return dict(logprobs=value[0] if value else None, loglik=value[1] if value else None, error=error)


def probe(em_step, case: dict) -> dict:
    """Untrusted: one EM step on every corpus, and what a corpus that cannot be segmented gives."""
    return dict(
        runs=[_step(em_step, r) for r in case["runs"]], invalid=[_step(em_step, r) for r in case["invalid"]]
    )


def _same_log(a: float, b: float) -> bool:
    return a == b if math.isinf(a) or math.isinf(b) else abs(a - b) <= LOG_TOL


def judge(case: dict, out: dict) -> Report:
    report = Report("em_step")
    for i, (r, got) in enumerate(zip(case["runs"], out["runs"], strict=True)):
        label = f"[corpus {i}: {dict(list(r['corpus'].items())[:3])}...]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want, want_loglik = ref.em_step(r["corpus"], r["logprobs"])
        if set(got["logprobs"]) != set(want):
            missing = sorted(set(want) - set(got["logprobs"]))
            report.add(
                f"{label} returns a log-probability for every piece",
                False,
                "keep exactly the input's keys (a piece of expected count 0 gets -math.inf)"
                + (f"; missing {missing[:5]}" if missing else ""),
            )
            continue
        bad = [p for p in want if not _same_log(got["logprobs"][p], want[p])]
        report.add(
            f"{label} new log-probabilities equal lmcore's (expected counts by forward-backward, normalized)",
            not bad,
            f"{len(bad)} pieces differ; e.g. {bad[0]!r}: yours {got['logprobs'][bad[0]]:.8f}, expected "
            f"{want[bad[0]]:.8f}"
            if bad
            else "",
        )
        report.add(
            f"{label} the returned log-likelihood is the corpus's under the OLD log-probabilities",
            _same_log(got["loglik"], want_loglik),
            f"yours {got['loglik']:.8f}, expected {want_loglik:.8f}",
        )
    for r, got in zip(case["invalid"], out["invalid"], strict=True):
        error = got["error"] or ""
        report.add(
            f"a corpus with a word that cannot be segmented ({r['corpus']}) raises ValueError",
            error.startswith("ValueError"),
            error or f"no error, but a log-likelihood of {got['loglik']}",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _logsumexp(values):
    values = [v for v in values if v != -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _wrong(*, hard=False, all_keys=True, weighted_counts=True, weighted_loglik=True, check=True):
    """The solution notebook's EM step with one classic mistake; the defaults are the correct one."""

    def em_step(corpus, logprobs):
        longest = max(len(piece) for piece in logprobs)
        expected = dict.fromkeys(logprobs, 0.0) if all_keys else defaultdict(float)
        loglik = 0.0
        for word, count in corpus.items():
            n = len(word)
            spans = [
                (i, j, logprobs[word[i:j]])
                for j in range(1, n + 1)
                for i in range(max(0, j - longest), j)
                if logprobs.get(word[i:j], -math.inf) > -math.inf
            ]
            alpha = [0.0] + [-math.inf] * n
            for j in range(1, n + 1):
                alpha[j] = _logsumexp([alpha[i] + lp for i, jj, lp in spans if jj == j])
            beta = [-math.inf] * n + [0.0]
            for i in range(n - 1, -1, -1):
                beta[i] = _logsumexp([lp + beta[j] for ii, j, lp in spans if ii == i])
            if check and alpha[n] == -math.inf:
                raise ValueError(f"{word!r} cannot be segmented with this vocabulary")
            if hard:  # the best segmentation only
                for piece in ref.viterbi(word, logprobs)[0]:
                    expected[piece] += count
            else:
                weight = count if weighted_counts else 1
                for i, j, lp in spans:
                    expected[word[i:j]] += weight * math.exp(alpha[i] + lp + beta[j] - alpha[n])
            loglik += (count if weighted_loglik else 1) * alpha[n]
        total = sum(expected.values())
        return {piece: math.log(c / total) if c > 0 else -math.inf for piece, c in expected.items()}, loglik

    return em_step


MISTAKES = (
    Mistake(
        "hard_counts",
        "these are Viterbi (hard) counts: EM counts every segmentation weighted by its posterior "
        "probability (forward-backward), not only the best one.",
        _wrong(hard=True),
    ),
    Mistake(
        "unused_pieces_dropped",
        "pieces with expected count 0 (that never occur, or are unusable) are missing from the result: "
        "return every key of logprobs, those pieces with -math.inf.",
        _wrong(all_keys=False),
    ),
    Mistake(
        "counts_ignore_word_counts",
        "the expected counts ignore how often each word occurs: multiply each word's posterior counts "
        "by its count in the corpus.",
        _wrong(weighted_counts=False),
    ),
    Mistake(
        "loglik_ignores_word_counts",
        "the log-likelihood counts each distinct word once: it is sum over words of count * log P(word).",
        _wrong(weighted_loglik=False),
    ),
    Mistake(
        "unsegmentable_accepted",
        "a word that cannot be segmented has probability 0 and no posterior over segmentations: raise "
        "ValueError naming it instead of returning a log-likelihood of -inf.",
        _wrong(check=False),
    ),
)

PART = Part(
    id="em_step",
    names=("em_step",),
    reference=(ref.em_step,),
    section="ch03_tokenization#3.6",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=UNIGRAM_RULES,
)
check = PART.check
