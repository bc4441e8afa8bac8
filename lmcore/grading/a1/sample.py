"""A1, part 5: ``sample(model, rng, max_words=100)``.

Contract (``lmcore.ngram.NGramLM.sample``): one sentence drawn word by word from
model.distribution(context), the context starting as ('<s>',) * (n - 1) and sliding one
word per draw (always () for n = 1); '</s>' ends it and is not returned; at most max_words
words (0 gives []), 100 by default; the only randomness is ``rng``, so a seed repeats a
sample. A student may draw with the rng differently from lmcore (rng.choices, rng.random),
so draws are judged by what they estimate: the first word's and whole sentences'
frequencies over thousands of samples, within Z binomial standard deviations, and a known
mistake is named when the judge finds the same failures in its samples (``agree``).
"""

import heapq
import math
import random
from collections import Counter

from lmcore import ngram as ref
from lmcore.grading.a1._common import TOY, reference_model, spec_label
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.ngram import BOS, EOS

Z = 5.0  # a correct sampler fails one frequency test in about 1.7 million
DRAWS = 4000  # samples per model in the frequency tests
MAX_WORDS = 30  # for the frequency runs: the toy models' sentences are far shorter
N_LIKELY = 8  # the most probable sentences (the model's and the sampler's) whose frequency is tested
N_REPEAT = 20  # samples drawn twice from the same seed
# a unigram model whose sentences run long (P('</s>') = 1/301), so every cap is reached
LONG = [["la", "di", "da"] * 100]
CAPS = (0, 1, 12)
DEFAULT_MAX_WORDS = 100


class _Remembered:
    """Mixed into a reference model: remembers each context's distribution and probabilities,
    so that thousands of draws cost a few dict lookups each, and refuses in prob() a context of
    the wrong length as distribution() does (lmcore's prob trusts its caller). Answers as the
    model does, a fresh dict each time."""

    def prepare(self) -> None:
        super().prepare()
        self._memo, self._probs = {}, {}

    def prob(self, word, context):
        key = (word, tuple(context))
        if key not in self._probs:
            if len(key[1]) != self.n - 1:
                raise ValueError(
                    f"an order-{self.n} model needs a context of exactly {self.n - 1} tokens "
                    f"(pad with {BOS!r} at a sentence start), got {len(key[1])}: {key[1]!r}"
                )
            self._probs[key] = super().prob(word, key[1])
        return self._probs[key]

    def distribution(self, context):
        if not isinstance(context, list | tuple):
            return super().distribution(context)  # raises, as lmcore's does
        key = tuple(context)
        if key not in self._memo:
            self._memo[key] = super().distribution(key)
        return dict(self._memo[key])


def _model(spec: tuple, train: list) -> ref.NGramLM:
    name, n, kwargs = spec
    cls = getattr(ref, name)
    return type(cls.__name__, (_Remembered, cls), {})(n, **kwargs).fit(train)


def likely_sentences(model: ref.NGramLM, k: int, max_len: int) -> dict[tuple, float]:
    """The k most probable sentences of at most max_len words and their probabilities, found
    best-first: a prefix is never more probable than its extensions are."""
    heap, found = [(0.0, ())], {}
    while heap and len(found) < k:
        nll, prefix = heapq.heappop(heap)
        if prefix and prefix[-1] == EOS:
            found[prefix[:-1]] = math.exp(-nll)
            continue
        if len(prefix) > max_len:
            continue
        context = ((BOS,) * (model.n - 1) + prefix)[len(prefix) :] if model.n > 1 else ()
        for word, p in model.distribution(context).items():
            if p > 0:
                heapq.heappush(heap, (nll - math.log(p), prefix + (word,)))
    return found


def cases(thorough: bool = False) -> dict:
    specs = [("KneserNey", 3, dict(discount=0.75))]
    if thorough:
        specs += [
            ("AddK", 2, dict(k=0.05)),
            ("KneserNey", 4, dict(discount=0.5)),
            ("KneserNey", 1, dict(discount=0.5)),
        ]
    runs = [
        dict(
            model=spec,
            train=TOY,
            seed=i + 1,
            likely=likely_sentences(reference_model(spec, TOY), N_LIKELY, 12),
        )
        for i, spec in enumerate(specs)
    ]
    long = dict(model=("MLE", 1, {}), train=LONG, seed=9, draws=50, default_draws=20)
    return dict(runs=runs, long=long, draws=DRAWS)


# ------------------------------------------------------------------------- the probe


def _samples(sample, model, rng, count: int, **max_words) -> tuple[list | None, str | None]:
    out = []
    for _ in range(count):
        words, error = attempt(sample, model, rng, **max_words)
        if error is None:
            words, error = attempt(lambda w=words: [str(x) for x in w])
        if error:
            return None, error
        out.append(words)
    return out, None


def probe(sample, case: dict) -> dict:
    """Untrusted: many samples from each model, the same seed twice, and every cap of max_words."""
    runs = []
    for run in case["runs"]:
        model = _model(run["model"], run["train"])
        drawn, error = _samples(sample, model, random.Random(run["seed"]), case["draws"], max_words=MAX_WORDS)
        again = []
        for _ in range(2):  # the same seed: the same samples
            if error is None:
                words, error = _samples(sample, model, random.Random(run["seed"] + 100), N_REPEAT)
                again.append(words)
        runs.append(dict(error=error, samples=drawn, repeat=again))
    long = case["long"]
    model, lengths, error = _model(long["model"], long["train"]), {}, None
    for cap in CAPS + (None,):
        if error is None:
            rng = random.Random(long["seed"] + (cap or 0))
            kwargs, count = (
                ({}, long["default_draws"]) if cap is None else (dict(max_words=cap), long["draws"])
            )
            drawn, error = _samples(sample, model, rng, count, **kwargs)
            lengths[str(cap)] = None if drawn is None else [len(s) for s in drawn]
    return dict(runs=runs, long=dict(error=error, lengths=lengths))


# ------------------------------------------------------------------------- the judge


def _worst(counts: Counter, probs: dict, draws: int) -> tuple[float, object]:
    """The key whose count is furthest from draws * p, in binomial standard deviations."""
    worst = (0.0, next(iter(probs)))
    for key, p in probs.items():
        sigma = math.sqrt(max(draws * p * (1 - p), 1.0))
        worst = max(worst, (abs(counts[key] - draws * p) / sigma, key), key=lambda t: t[0])
    return worst


def _judge_run(report: Report, run: dict, got: dict) -> None:
    label = f"[{spec_label(run['model'])}]"
    if got["error"]:
        report.add(f"{label} runs", False, got["error"])
        return
    model = reference_model(run["model"], run["train"])
    vocab = set(model.vocab) - {EOS}
    samples = got["samples"]
    bad = [s for s in samples if any(w not in vocab for w in s)]
    report.add(
        f"{label} samples are lists of vocabulary words without '<s>' or '</s>'",
        not bad,
        f"e.g. {bad[0]!r}" if bad else "",
    )
    first, second = got["repeat"]
    report.add(
        f"{label} the same seed gives the same samples (use only the rng you are given)",
        first == second,
        f"{first[:2]} ... then {second[:2]} ...",
    )
    draws = len(samples)
    first_name = f"{label} the first word follows P(w | <s> ... <s>) over {draws} draws (within {Z:g} sigma)"
    whole_name = f"{label} whole sentences are drawn with their model probability (within {Z:g} sigma)"
    if bad:
        for name in (first_name, whole_name):
            report.skip(name, "the samples hold words outside the vocabulary")
        return
    firsts = Counter(s[0] if s else EOS for s in samples)
    start = model.distribution((BOS,) * (model.n - 1))
    z, word = _worst(firsts, start, draws)
    shown = "'</s>' first (an empty sentence)" if word == EOS else repr(word)
    report.add(first_name, z <= Z, f"{shown}: drawn {firsts[word]} times, expected {draws * start[word]:.1f}")
    whole = Counter(tuple(s) for s in samples)
    tested = dict(run["likely"])
    for sentence, _ in whole.most_common(N_LIKELY):
        if len(sentence) < MAX_WORDS:
            tested.setdefault(sentence, math.exp(model.logprob(list(sentence))))
    z, sentence = _worst(whole, tested, draws)
    report.add(
        whole_name,
        z <= Z,
        f"{' '.join(sentence) or '(empty)'}: drawn {whole[sentence]} times, "
        f"expected {draws * tested[sentence]:.1f}",
    )


def _judge_caps(report: Report, long: dict, got: dict) -> None:
    label = "[a unigram model whose sentences run long]"
    if got["error"]:
        report.add(f"{label} runs with max_words = 0, 1, 12 and the default", False, got["error"])
        return
    for cap in CAPS:
        lengths = got["lengths"][str(cap)]
        what = {0: "[] (no word is drawn)", 1: "at most one word"}.get(cap, f"at most {cap} words")
        report.add(
            f"{label} max_words={cap} gives {what}",
            max(lengths) <= cap,
            f"a sample of {max(lengths)} word" + "s" * (max(lengths) != 1),
        )
    lengths = got["lengths"]["None"]
    report.add(
        f"{label} without max_words, samples stop at {DEFAULT_MAX_WORDS} words (the default)",
        max(lengths) == DEFAULT_MAX_WORDS,
        f"the longest of {len(lengths)} samples has {max(lengths)} words; nearly all should reach "
        f"{DEFAULT_MAX_WORDS}, since '</s>' has probability 1/301",
    )


def judge(case: dict, out: dict) -> Report:
    report = Report("sample")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        _judge_run(report, run, got)
    _judge_caps(report, case["long"], out["long"])
    return report


def _signature(case: dict, out: dict) -> tuple:
    """What the draws show: the properties they fail, and by how much the longest sample of
    each cap passes it (0, 1, or more: an off-by-one is not a loop that ignores the cap)."""
    failed = tuple(sorted(p.name for p in judge(case, out).failed()))
    lengths = out["long"]["lengths"] if not out["long"]["error"] else {}
    caps = [(str(c), c) for c in CAPS] + [("None", DEFAULT_MAX_WORDS)]
    over = tuple(min(max(0, max(lengths[key]) - cap), 2) for key, cap in caps if lengths.get(key))
    return failed, over


def agree(case: dict, student: dict, mistake: dict) -> bool:
    return _signature(case, student) == _signature(case, mistake)


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """sample with one classic mistake, written as the notebook's solution is."""

    def room_for(words: list, max_words: int) -> bool:
        if mistake in ("ignores_max_words", "draws_before_cap"):
            return True
        return len(words) <= max_words if mistake == "cap_off_by_one" else len(words) < max_words

    def sample(model, rng, max_words=50 if mistake == "default_max_words" else DEFAULT_MAX_WORDS):
        context = (BOS,) * (model.n - 1)
        words = []
        while room_for(words, max_words):
            dist = model.distribution(context)
            if mistake == "uniform_choice":
                word = rng.choice(list(dist))
            else:
                draw = random.choices if mistake == "global_random" else rng.choices
                word = draw(list(dist), weights=list(dist.values()))[0]
            if mistake == "eos_in_output":
                words.append(word)
            if word == EOS:
                break
            if mistake != "eos_in_output":
                words.append(word)
            if mistake == "context_grows":
                context = context + (word,)
            elif mistake == "unigram_context_grows":
                context = context[1:] + (word,)
            elif mistake != "context_never_slides":
                context = (context + (word,))[1:] if model.n > 1 else ()
            if mistake == "draws_before_cap" and len(words) >= max_words:
                break
        return words

    return sample


MISTAKES = tuple(
    Mistake(mistake, diagnosis, _wrong(mistake))
    for mistake, diagnosis in (
        (
            "context_never_slides",
            "the context never moves: every word is drawn after ('<s>',) * (n - 1). Slide it after "
            "each word: context = (context + (word,))[1:]",
        ),
        (
            "context_grows",
            "the context grows by one word per draw instead of sliding: drop its oldest word, "
            "context = (context + (word,))[1:], so it keeps n - 1 tokens",
        ),
        (
            "unigram_context_grows",
            "for n = 1 the context must stay (): context[1:] + (word,) gives it one word; use "
            "(context + (word,))[1:], which is () again for n = 1",
        ),
        (
            "eos_in_output",
            "'</s>' is returned as the last word: check for it before appending, and leave it out",
        ),
        (
            "cap_off_by_one",
            "one word too many: the loop runs while len(words) <= max_words; stop once "
            "len(words) == max_words",
        ),
        (
            "ignores_max_words",
            "max_words is ignored: stop after max_words words even if '</s>' has not been drawn",
        ),
        (
            "draws_before_cap",
            "a word is drawn before max_words is checked, so max_words=0 still gives a word: test "
            "len(words) < max_words before each draw",
        ),
        (
            "global_random",
            "the draws use the random module's global generator, so a seed does not repeat a sample: "
            "draw with the rng passed in (rng.choices, rng.random)",
        ),
        (
            "uniform_choice",
            "every word is equally likely: rng.choice ignores the probabilities; draw with "
            "rng.choices(words, weights=probs)",
        ),
        (
            "default_max_words",
            f"sample(model, rng) must stop at {DEFAULT_MAX_WORDS} words: keep the signature "
            f"sample(model, rng, max_words={DEFAULT_MAX_WORDS})",
        ),
    )
)


def _exercise(sample):
    model = _model(("KneserNey", 3, dict(discount=0.75)), TOY)
    return lambda: [sample(model, random.Random(seed), max_words=10) for seed in range(20)]


PART = Part(
    id="sample",
    names=("sample",),
    reference=(ref.NGramLM.sample,),
    section="ch02_ngrams#2.9",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.NGramLM.sample,)),
    exercise=_exercise,
    agree=agree,
)
check = PART.check
