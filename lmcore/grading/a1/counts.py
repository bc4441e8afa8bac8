"""A1, part 1: ``count_ngrams(sentences, n)``.

Contract (``lmcore.ngram.count_ngrams``): a Counter of the n-grams of every sentence padded
with n-1 '<s>' in front and one '</s>' at the end, for any order n >= 1 and any sentence, the
empty one included (it still has its n-grams of padding). The sentences passed in are left
as they are. Checked exactly, on orders 1 to 5, empty sentences, repeated words and orders
longer than a sentence.
"""

from collections import Counter

from lmcore import ngram as ref
from lmcore.grading.a1._common import TOY, grammar
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.ngram import BOS, EOS


def cases(thorough: bool = False) -> dict:
    """(sentences, n): the toy corpus (with an empty sentence) at orders 1-3, then more."""
    configs = [(TOY, 1), (TOY, 2), (TOY, 3)]
    if thorough:
        story = grammar(200, 5)
        configs += [(story, 2), (story, 4), ([["a"], [], ["a", "a", "a"]], 3), ([["a", "b"], []], 5)]
    return dict(configs=configs)


def _plain(counts) -> dict:
    """The non-zero counts as {n-gram tuple: count}; a key that is not a tuple stays visible as its repr."""
    if not hasattr(counts, "items"):
        raise TypeError(f"count_ngrams must return a Counter, got {type(counts).__name__}")
    return {(k if isinstance(k, tuple) else repr(k)): int(v) for k, v in counts.items() if v}


def probe(count_ngrams, case: dict) -> dict:
    """Untrusted: count each config on a copy of its sentences; note whether the copy changed."""
    runs = []
    for sentences, n in case["configs"]:
        copy = [list(s) for s in sentences]
        counts, error = attempt(count_ngrams, copy, n)
        if error is None:
            counts, error = attempt(_plain, counts)
        runs.append(dict(counts=counts, error=error, mutated=copy != [list(s) for s in sentences]))
    return dict(runs=runs)


def judge(case: dict, out: dict) -> Report:
    report = Report("count_ngrams")
    for (sentences, n), got in zip(case["configs"], out["runs"], strict=True):
        label = f"[n={n}, {len(sentences)} sentences]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want, counts = dict(ref.count_ngrams(sentences, n)), got["counts"]
        missing = [g for g in want if g not in counts]
        extra = [g for g in counts if g not in want]
        wrong = [g for g in want if g in counts and counts[g] != want[g]]
        detail = []
        if missing:
            detail.append(f"{len(missing)} n-grams missing, e.g. {missing[0]} (count {want[missing[0]]})")
        if extra:
            detail.append(f"{len(extra)} n-grams that should not be there, e.g. {extra[0]}")
        if wrong:
            g = wrong[0]
            detail.append(f"{len(wrong)} wrong counts, e.g. {g}: yours {counts[g]}, expected {want[g]}")
        report.add(
            f"{label} every n-gram of the padded sentences counted exactly", not detail, "\n".join(detail)
        )
        report.add(
            f"{label} leaves the sentences passed in unchanged",
            not got["mutated"],
            "your function changed the caller's lists: pad a new list, e.g. [BOS] * (n - 1) + list(sentence)",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """count_ngrams with one classic mistake."""

    def count_ngrams(sentences, n):
        counts = Counter()
        for sentence in sentences:
            if mistake == "skips_empty_sentences" and not sentence:
                continue
            start = {"no_start_padding": 0, "no_padding": 0, "one_start_symbol": 1}.get(mistake, n - 1)
            end = [] if mistake in ("no_end_padding", "no_padding") else [EOS]
            if mistake == "mutates_sentences":
                tokens = sentence
                tokens[:0] = [BOS] * start
                tokens += end
            else:
                tokens = [BOS] * start + list(sentence) + end
            for i in range(len(tokens) - n + 1):
                counts[tuple(tokens[i : i + n])] += 1
        return counts

    return count_ngrams


MISTAKES = tuple(
    Mistake(mistake, diagnosis, _wrong(mistake))
    for mistake, diagnosis in (
        ("no_start_padding", "the start padding is missing: pad every sentence with n-1 '<s>' in front"),
        (
            "no_end_padding",
            "the n-grams ending in '</s>' are missing: every sentence ends with one '</s>', and a "
            "sequence of L tokens has L - n + 1 n-grams (range(len(tokens) - n + 1))",
        ),
        ("no_padding", "no padding at all: add n-1 '<s>' in front and one '</s>' at the end"),
        (
            "one_start_symbol",
            "every sentence gets one '<s>' whatever the order: it needs n-1 of them (none for n = 1, "
            "two for trigrams), so that the first word has a full context",
        ),
        (
            "skips_empty_sentences",
            "empty sentences are skipped: an empty sentence is still '<s> ... </s>' after padding, "
            "and its n-grams count (the model learns that a sentence may end at once)",
        ),
        (
            "mutates_sentences",
            "the padding is added to the caller's own lists (insert/append on the sentence): build a "
            "new list, tokens = [BOS] * (n - 1) + list(sentence) + [EOS]",
        ),
    )
)


PART = Part(
    id="counts",
    names=("count_ngrams",),
    reference=(ref.count_ngrams,),
    section="ch02_ngrams#2.2",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.count_ngrams, ref.ngrams, ref.pad, ref.NGramLM.fit), names=("count_ngrams",)),
)
check = PART.check
