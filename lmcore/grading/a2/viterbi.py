"""A2, part 4: ``viterbi(text, logprobs)``.

Contract (``lmcore.unigram.viterbi``): ``logprobs`` maps pieces to natural log-probabilities
(``-inf``: the piece cannot be used); return ``(pieces, score)``, a most probable
segmentation of the text into usable pieces and its total log-probability. A text that is
empty or has no segmentation raises ValueError (it has no log-probability to return).
Checked on the lecture's example, a text where greedy longest match is wrong, random
vocabularies whose pieces mostly never occur in the text and are often longer than it, an
unusable piece, and texts that cannot be segmented. Any segmentation of the best score passes.
"""

import math
import random

from lmcore import unigram as ref
from lmcore.grading.a2._common import LOG_TOL, UNIGRAM_RULES
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report


def random_vocab(rng: random.Random, alphabet: str, n_pieces: int, max_len: int) -> dict[str, float]:
    """Every character of alphabet and random longer pieces, with normalized log-probabilities."""
    pieces = set(alphabet)
    while len(pieces) < n_pieces:
        pieces.add("".join(rng.choice(alphabet) for _ in range(rng.randint(2, max_len))))
    weights = {p: rng.random() + 0.05 for p in sorted(pieces)}
    total = sum(weights.values())
    return {p: math.log(w / total) for p, w in weights.items()}


# the chapter's example: with p(ab) = 2/3 and p(c) = 1/3, ab|ab|c has probability 2/3 * 2/3 * 1/3
ABABC = {"a": math.log(0.1), "b": math.log(0.1), "c": math.log(1 / 3), "ab": math.log(2 / 3)}
HALF = math.log(0.5)


def cases(thorough: bool = False) -> dict:
    rng = random.Random(5)
    runs = [
        dict(text="ababc", logprobs=ABABC),
        # greedy longest match takes "abc" then "d"; the best split is "ab" + "cd"
        dict(
            text="abcd",
            logprobs={"a": -3.0, "b": -3.0, "c": -3.0, "d": -3.0, "ab": -1.0, "cd": -1.0, "abc": -4.0},
        ),
    ]
    for _ in range(12 if thorough else 4):
        vocab = random_vocab(rng, "abc", 12, 4)
        runs.append(dict(text="".join(rng.choice("abc") for _ in range(rng.randint(1, 14))), logprobs=vocab))
    # texts that cannot be segmented: they have no log-probability, and must raise ValueError
    invalid = [dict(text="abz", logprobs={"a": -1.0, "b": -1.0}, what="a text no piece can cover")]
    if thorough:
        vocab = random_vocab(rng, "abcde", 60, 6)
        vocab["ab"] = -math.inf  # an unusable piece
        runs.append(dict(text="".join(rng.choice("abcde") for _ in range(300)), logprobs=vocab))
        # shorter than the longest piece, and most pieces never occur in the text
        runs += [dict(text=t, logprobs=vocab) for t in ("a", "ba", "ecd", "dcab")]
        runs.append(dict(text="b", logprobs={"b": HALF, "bb": HALF, "bbbb": -1.0}))
        invalid += [
            dict(text="", logprobs=ABABC, what="an empty text"),
            dict(
                text="abc",
                logprobs={"ab": -1.0, "bc": -1.0},
                what="a text whose every character is covered, yet has no segmentation",
            ),
            dict(
                text="abcd", logprobs={"a": HALF, "b": HALF, "cd": -math.inf}, what="an unusable (-inf) piece"
            ),
        ]
    return dict(runs=runs, invalid=invalid)


def _plain_segmentation(result) -> tuple:
    pieces, score = result
    return [str(p) for p in pieces], float(score)


def _segment(viterbi, r: dict) -> dict:
    value, error = attempt(viterbi, r["text"], dict(r["logprobs"]))
    if error is None:
        value, error = attempt(_plain_segmentation, value)
    return dict(pieces=value[0] if value else None, score=value[1] if value else None, error=error)


def probe(viterbi, case: dict) -> dict:
    """Untrusted: the segmentation of every text, and what the unsegmentable ones give."""
    return dict(
        runs=[_segment(viterbi, r) for r in case["runs"]],
        invalid=[_segment(viterbi, r) for r in case["invalid"]],
    )


def judge(case: dict, out: dict) -> Report:
    report = Report("viterbi")
    errors, invalid, inconsistent, suboptimal = [], [], [], []
    for r, got in zip(case["runs"], out["runs"], strict=True):
        if got["error"]:
            errors.append(f"viterbi({r['text'][:20]!r}) raised {got['error']}")
            continue
        pieces, score = got["pieces"], got["score"]
        lp = r["logprobs"]
        if "".join(pieces) != r["text"] or any(not math.isfinite(lp.get(p, -math.inf)) for p in pieces):
            invalid.append((r["text"], pieces))
            continue
        if abs(sum(lp[p] for p in pieces) - score) > LOG_TOL:
            inconsistent.append((r["text"], pieces, score))
        _, best = ref.viterbi(r["text"], lp)
        if abs(sum(lp[p] for p in pieces) - best) > LOG_TOL:
            suboptimal.append((r["text"], pieces, best, lp))
    report.add("runs on every text", not errors, "\n".join(errors[:3]))
    report.add(
        "the pieces join to the text and are all in the vocabulary (with a finite log-probability)",
        not invalid,
        f"text {invalid[0][0][:30]!r}: pieces {invalid[0][1][:10]}" if invalid else "",
    )
    report.add(
        "the returned score is the sum of the pieces' log-probabilities",
        not inconsistent,
        f"text {inconsistent[0][0][:30]!r}: returned {inconsistent[0][2]}" if inconsistent else "",
    )
    detail = ""
    if suboptimal:
        text, pieces, best, lp = suboptimal[0]
        detail = (
            f"{len(suboptimal)} texts; first {text[:30]!r}: your pieces {pieces[:10]} score "
            f"{sum(lp[p] for p in pieces):.6f}, the best segmentation scores {best:.6f}"
        )
    report.add(
        "the segmentation has the highest probability (equal to lmcore's best score)", not suboptimal, detail
    )
    for r, got in zip(case["invalid"], out["invalid"], strict=True):
        error = got["error"] or ""
        returned = f"no error, but returned ({got['pieces']}, {got['score']})"
        report.add(
            f"{r['what']} ({r['text']!r}) raises ValueError",
            error.startswith("ValueError"),
            error or returned,
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(*, greedy=False, check_empty=True, check_unsegmentable=True, clamp=True, missing=-math.inf):
    """The solution notebook's Viterbi with one classic mistake; the defaults are the correct one."""

    def viterbi(text, logprobs):
        if check_empty and not text:
            raise ValueError("cannot segment an empty text")
        longest = max(len(piece) for piece in logprobs)
        best = [0.0] + [-math.inf] * len(text)
        start = [0] * (len(text) + 1)
        for j in range(1, len(text) + 1):
            for i in range(max(0, j - longest) if clamp else j - longest, j):
                score = best[i] + logprobs.get(text[i:j], missing)
                if score > best[j]:
                    best[j], start[j] = score, i
        if check_unsegmentable and best[-1] == -math.inf:
            raise ValueError(f"no segmentation of {text!r} uses only pieces of the vocabulary")
        if greedy:  # at each position the longest usable piece
            pieces, i = [], 0
            while i < len(text):
                usable = [j for j in range(i + 1, len(text) + 1) if text[i:j] in logprobs]
                j = max(j for j in usable if logprobs[text[i:j]] > -math.inf)
                pieces.append(text[i:j])
                i = j
            return pieces, sum(logprobs[p] for p in pieces)
        pieces, j = [], len(text)
        while j > 0:
            pieces.append(text[start[j] : j])
            j = start[j]
        return pieces[::-1], best[-1]

    return viterbi


MISTAKES = (
    Mistake(
        "viterbi_greedy",
        "greedy longest match is not the most probable segmentation: keep, for every end position, the "
        "best score of any segmentation of the prefix (dynamic programming).",
        _wrong(greedy=True),
    ),
    Mistake(
        "missing_pieces_score_zero",
        "a substring that is not in the vocabulary was given log-probability 0 (probability 1): only "
        "vocabulary pieces may be used, so look them up with logprobs.get(piece, -math.inf).",
        _wrong(missing=0.0),
    ),
    Mistake(
        "start_before_text",
        "with a text shorter than the longest piece, start positions went below 0 (and Python's "
        "negative indices wrapped around): start at max(0, j - longest).",
        _wrong(clamp=False),
    ),
    Mistake(
        "empty_text_accepted",
        "an empty text was segmented into no pieces: the contract has no segmentation of it, raise "
        "ValueError.",
        _wrong(check_empty=False),
    ),
    Mistake(
        "unsegmentable_accepted",
        "a text with no segmentation returned a score of -inf instead of raising ValueError: a text "
        "that the usable pieces cannot cover has no log-probability to return.",
        _wrong(check_unsegmentable=False),
    ),
)

PART = Part(
    id="viterbi",
    names=("viterbi",),
    reference=(ref.viterbi,),
    section="ch03_tokenization#3.6",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=UNIGRAM_RULES,
)
check = PART.check
