"""Checks of assignment A1 (n-gram language models): counts, add-k, interpolated Kneser-Ney,
perplexity and sampling.

Each check follows cases -> probe (untrusted) -> judge (trusted); see ``common``. The
reference is ``lmcore.ngram``. A student's model classes subclass lmcore's ``NGramLM``,
whose ``fit`` stores lmcore's own counts, so a mistake in part 1 never costs parts 2-5;
perplexity and sampling are run on lmcore's reference models.
"""

import math
import random

from lmcore import ngram as ref
from lmcore.data import sample_sentences
from lmcore.grading.common import attempt
from lmcore.grading.delegation import trace
from lmcore.grading.part import Part
from lmcore.grading.report import Report

PROB_TOL = 1e-9  # relative; every probability is a ratio of small integer counts
SUM_TOL = 1e-9

# a corpus small enough to check by hand: "students opened their ___" (seed 003)
TOY = [
    "students opened their books".split(),
    "students opened their laptops".split(),
    "the students opened their books".split(),
    "teachers opened their minds".split(),
    "the teachers closed their books".split(),
    [],
]
TOY_HELD_OUT = [
    "students opened their minds".split(),
    "the students closed their laptops".split(),
    "students opened their exams".split(),  # "exams" is out of the vocabulary
    "teachers".split(),
]


def _grammar(n: int, seed: int) -> list[list[str]]:
    return [list(s.words) for s in sample_sentences(n, seed=seed)]


def _corpora(thorough: bool) -> list[dict]:
    corpora = [dict(name="the 'students opened their' corpus", train=TOY, held_out=TOY_HELD_OUT)]
    if thorough:
        corpora.append(
            dict(
                name="300 sentences of the story grammar", train=_grammar(300, 11), held_out=_grammar(40, 12)
            )
        )
    return corpora


def _contexts(train: list[list[str]], held_out: list[list[str]], n: int, limit: int) -> list[tuple]:
    """Contexts of length n-1: seen ones (with <s> padding), unseen ones and ones with unknown words."""
    seen = []
    for s in train + held_out:
        padded = ref.pad(s, n)
        seen += [tuple(padded[i : i + n - 1]) for i in range(len(padded) - n + 1)]
    unseen = [("zebra",) * (n - 1), tuple(reversed(seen[-1]))] if n > 1 else []
    out = []
    for c in seen[: limit - len(unseen)] + unseen:
        if c not in out:
            out.append(c)
    return out


def _trace_calls(run, banned: dict) -> tuple[object, list[str]]:
    """Run ``run()`` recording Python calls; return (its result, the banned functions it called)."""
    box = {}
    _, calls = trace(lambda: box.setdefault("result", run()))
    return box.get("result"), sorted({banned[c] for c in calls if c in banned})


def _code(*functions) -> dict:
    return {f.__code__: f.__qualname__ for f in functions}


def _judge_delegation(report: Report, out: dict, what: str) -> None:
    if "delegation" in out:
        report.add(
            f"does its own work (does not call lmcore's {what})",
            not out["delegation"],
            "found calls to: " + ", ".join(out["delegation"]) + "\nwrite this part yourself",
        )


def _close(a: float, b: float) -> bool:
    if math.isinf(b) or math.isinf(a):
        return a == b
    return abs(a - b) <= PROB_TOL * max(abs(b), 1e-300)


# --------------------------------------------------------------------------- counts


def counts_cases(thorough: bool = False) -> dict:
    configs = [(TOY, 1), (TOY, 2), (TOY, 3)]
    if thorough:
        configs += [(_grammar(200, 5), 2), (_grammar(200, 5), 4), ([["a"], [], ["a", "a", "a"]], 3)]
    return dict(configs=configs, thorough=thorough)


def _plain_counts(result) -> dict:
    if not hasattr(result, "items"):
        raise TypeError(f"count_ngrams must return a dict or Counter, got {type(result).__name__}")
    return {tuple(k): v for k, v in result.items()}


def probe_counts(count_ngrams, case: dict) -> dict:
    runs = []
    banned = _code(ref.count_ngrams, ref.NGramLM.fit)
    delegation: set = set()
    for sentences, n in case["configs"]:
        copy = [list(s) for s in sentences]
        result, found = _trace_calls(lambda c=copy, n=n: attempt(count_ngrams, c, n), banned)
        delegation.update(found)
        counts, error = result
        if error is None:
            counts, error = attempt(_plain_counts, counts)
        runs.append(dict(counts=counts, error=error))
    out = dict(runs=runs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    return out


def _unpadded(sentences, n: int, start: bool, end: bool) -> dict:
    grams = {}
    for s in sentences:
        tokens = (ref.BOS,) * (n - 1) * start + tuple(s) + (ref.EOS,) * end
        for g in ref.ngrams(tokens, n):
            grams[g] = grams.get(g, 0) + 1
    return grams


COUNT_MISTAKES = [
    (dict(start=False, end=True), "the start padding is missing: pad every sentence with n-1 '<s>' in front"),
    (dict(start=True, end=False), "the end padding is missing: every sentence ends with one '</s>'"),
    (dict(start=False, end=False), "no padding at all: add n-1 '<s>' in front and one '</s>' at the end"),
]


def judge_counts(case: dict, out: dict) -> Report:
    report = Report("count_ngrams")
    for (sentences, n), got in zip(case["configs"], out["runs"], strict=True):
        label = f"n={n}, {len(sentences)} sentences"
        if got["error"]:
            report.add(f"{label}: runs", False, got["error"])
            continue
        want = dict(ref.count_ngrams(sentences, n))
        missing = [g for g in want if g not in got["counts"]]
        extra = [g for g in got["counts"] if g not in want and got["counts"][g]]
        wrong = [g for g in want if g in got["counts"] and got["counts"][g] != want[g]]
        detail = []
        if missing:
            detail.append(f"{len(missing)} n-grams missing, e.g. {missing[0]} (count {want[missing[0]]})")
        if extra:
            detail.append(f"{len(extra)} n-grams that should not be there, e.g. {extra[0]}")
        if wrong:
            g = wrong[0]
            detail.append(
                f"{len(wrong)} wrong counts, e.g. {g}: yours {got['counts'][g]}, expected {want[g]}"
            )
        report.add(
            f"{label}: every n-gram of the padded sentences counted exactly", not detail, "\n".join(detail)
        )
        if detail and n > 1:
            for variant, why in COUNT_MISTAKES:
                if {k: v for k, v in got["counts"].items() if v} == _unpadded(sentences, n, **variant):
                    if why not in report.diagnosis:
                        report.diagnosis.append(why)
    _judge_delegation(report, out, "count_ngrams")
    return report


def check_counts(count_ngrams, *, thorough: bool = False) -> Report:
    case = counts_cases(thorough)
    return judge_counts(case, probe_counts(count_ngrams, case))


# ------------------------------------------------------------------ model probabilities


def _model_cases(thorough: bool, settings: list[dict]) -> dict:
    runs = []
    for corpus in _corpora(thorough):
        for setting in settings:
            n = setting["n"]
            if not thorough and n > 3:
                continue
            contexts = _contexts(corpus["train"], corpus["held_out"], n, 40 if thorough else 12)
            runs.append(
                dict(corpus=corpus["name"], train=corpus["train"], setting=setting, contexts=contexts)
            )
    return dict(runs=runs, thorough=thorough)


def _probe_model(model_cls, case: dict, banned: dict) -> dict:
    outs, delegation = [], set()
    for run in case["runs"]:
        setting = dict(run["setting"])
        n = setting.pop("n")

        def build_and_query(run=run, n=n, setting=setting):
            model, error = attempt(lambda: model_cls(n, **setting).fit([list(s) for s in run["train"]]))
            if error:
                return dict(error=error)
            table = []
            for context in run["contexts"]:
                row = []
                for word in model.vocab:
                    p, error = attempt(model.prob, word, tuple(context))
                    if error:
                        return dict(error=f"prob({word!r}, {tuple(context)}) raised {error}")
                    row.append(float(p))
                table.append(row)
            return dict(error=None, vocab=list(model.vocab), table=table)

        result, found = _trace_calls(build_and_query, banned)
        delegation.update(found)
        outs.append(result)
    out = dict(runs=outs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    return out


def _judge_model(report: Report, case: dict, out: dict, reference_cls, variants: dict) -> None:
    for run, got in zip(case["runs"], out["runs"], strict=True):
        setting = dict(run["setting"])
        n = setting.pop("n")
        label = f"[{run['corpus']}, n={n}" + "".join(f", {k}={v}" for k, v in setting.items()) + "]"
        if got["error"]:
            report.add(f"{label} fits and answers prob(word, context)", False, got["error"])
            continue
        reference = reference_cls(n, **setting).fit(run["train"])
        if got["vocab"] != list(reference.vocab):
            report.add(f"{label} vocabulary", False, "model.vocab was changed; keep the one NGramLM.fit sets")
            continue
        bad_sum, bad_value, nonfinite = [], [], []
        for context, row in zip(run["contexts"], got["table"], strict=True):
            if any(not math.isfinite(p) or p < 0 for p in row):
                nonfinite.append(context)
            elif abs(sum(row) - 1) > SUM_TOL:
                bad_sum.append((context, sum(row)))
            want = reference.distribution(context)
            for word, p in zip(got["vocab"], row, strict=True):
                if not _close(p, want[word]):
                    bad_value.append((context, word, p, want[word]))
                    break
        report.add(
            f"{label} probabilities are finite and non-negative for every context, seen or unseen",
            not nonfinite,
            f"NaN, inf or negative values for context {nonfinite[0]}" if nonfinite else "",
        )
        report.add(
            f"{label} the distribution over the vocabulary sums to 1 for every context",
            not bad_sum,
            f"context {bad_sum[0][0]} sums to {bad_sum[0][1]:.6f}" if bad_sum else "",
        )
        detail = ""
        if bad_value:
            context, word, p, w = bad_value[0]
            seen = reference.counts[n][tuple(context) + (word,)] if n > 1 or context == () else 0
            detail = (
                f"{len(bad_value)} of {len(run['contexts'])} contexts differ; first: "
                f"P({word!r} | {context}) = {p:.10g}, expected {w:.10g} "
                f"(count of the n-gram in training: {seen})"
            )
        report.add(
            f"{label} P(word | context) equals lmcore's on every tested context", not bad_value, detail
        )
        if bad_value or bad_sum or nonfinite:
            for why, candidates in variants.items():
                if any(_matches_variant(v, run, n, setting, got) for v in candidates):
                    if why not in report.diagnosis:
                        report.diagnosis.append(why)


def _matches_variant(variant, run: dict, n: int, setting: dict, got: dict) -> bool:
    model = variant(n, **setting).fit(run["train"])
    for context, row in zip(run["contexts"], got["table"], strict=True):
        for word, p in zip(got["vocab"], row, strict=True):
            want = model.prob(word, tuple(context))
            if not (math.isnan(p) and math.isnan(want)) and not _close(p, want):
                return False
    return True


# --------------------------------------------------------------------------- add-k


def _context_count(model, context: tuple) -> int:
    """c(h): how often the context is followed by a predicted word."""
    return sum(model.counts[model.n][tuple(context) + (w,)] for w in model.vocab)


class _AddKUnseenZero(ref.AddK):
    def prob(self, word, context):
        return 0.0 if not _context_count(self, context) else super().prob(word, context)


class _AddKWrongDenominator(ref.AddK):
    """(c + k) / (c(h) + k) instead of (c + k) / (c(h) + k|V|)."""

    def prob(self, word, context):
        count = self.counts[self.n][tuple(context) + (word,)]
        return (count + self.k) / (_context_count(self, context) + self.k)


# the diagnosis -> the wrong models that show it (a wrong submission matching any of them gets it)
ADD_K_MISTAKES = {
    "an unseen context gives probability 0: with add-k it gets k / (0 + k|V|) = 1/|V| for every word": (
        _AddKUnseenZero,
    ),
    "the denominator must add k once per vocabulary word, c(h) + k|V|, so the distribution sums to 1": (
        _AddKWrongDenominator,
    ),
}


def add_k_cases(thorough: bool = False) -> dict:
    settings = [dict(n=2, k=1.0), dict(n=3, k=0.1)]
    if thorough:
        settings += [dict(n=1, k=0.5), dict(n=4, k=0.01)]
    return _model_cases(thorough, settings)


def probe_add_k(model_cls, case: dict) -> dict:
    return _probe_model(model_cls, case, _code(ref.AddK.prob))


def judge_add_k(case: dict, out: dict) -> Report:
    report = Report("AddKLM")
    _judge_model(report, case, out, ref.AddK, ADD_K_MISTAKES)
    _judge_delegation(report, out, "AddK")
    return report


def check_add_k(model_cls, *, thorough: bool = False) -> Report:
    case = add_k_cases(thorough)
    return judge_add_k(case, probe_add_k(model_cls, case))


# --------------------------------------------------------------------------- Kneser-Ney


def kneser_ney_cases(thorough: bool = False) -> dict:
    settings = [dict(n=2, discount=0.75), dict(n=3, discount=0.75)]
    if thorough:
        settings += [dict(n=1, discount=0.5), dict(n=4, discount=0.9)]
    return _model_cases(thorough, settings)


def probe_kneser_ney(model_cls, case: dict) -> dict:
    return _probe_model(
        model_cls,
        case,
        _code(ref.KneserNey.prob, ref.KneserNey.prepare, ref.Backoff.prob, ref.Interpolated.prob),
    )


UNSEEN_CONTEXT_MISTAKES = {"unseen_zero": 0.0, "unseen_nan": math.nan}  # what an unseen context gives


class _KneserNeyVariant(ref.NGramLM):
    """Interpolated Kneser-Ney written out level by level, with one classic mistake switched on,
    to name what a wrong submission did. ``mistake=None`` is the correct model."""

    mistake: str | None = None

    def __init__(self, n: int, discount: float = 0.75):
        super().__init__(n)
        self.d = discount

    def prepare(self) -> None:
        vocab = set(self.vocab)
        self.a = {self.n: dict(self.counts[self.n])}
        for m in range(1, self.n):
            if self.mistake == "raw_lower_counts":
                self.a[m] = dict(self.counts[m])
                continue
            cont: dict = {}
            for gram in self.counts[m + 1]:
                cont[gram[1:]] = cont.get(gram[1:], 0) + 1
            self.a[m] = cont
        self.totals = {}  # (m, g) -> (A(g), T(g))
        for m, table in self.a.items():
            for gram, value in table.items():
                if gram[-1] in vocab and value > 0:
                    total, types = self.totals.get((m, gram[:-1]), (0, 0))
                    self.totals[(m, gram[:-1])] = (total + value, types + 1)

    def _p(self, word: str, context: tuple, m: int) -> float:
        if m == 0:
            return 1.0 / len(self.vocab)
        g = tuple(context[len(context) - (m - 1) :]) if m > 1 else ()
        total, types = self.totals.get((m, g), (0, 0))
        if total == 0:
            if self.mistake in UNSEEN_CONTEXT_MISTAKES:
                return UNSEEN_CONTEXT_MISTAKES[self.mistake]
            return self._p(word, context, m - 1)
        a = self.a[m].get(g + (word,), 0)
        if m == 1 and self.mistake == "no_uniform":
            return a / total
        kept = max(a - self.d, 0) / total
        if self.mistake == "no_redistribution":
            return kept
        return kept + self.d * types / total * self._p(word, context, m - 1)

    def prob(self, word: str, context: tuple) -> float:
        return self._p(word, tuple(context), self.n)


def _kn_variant(mistake: str) -> type:
    return type(f"KneserNey_{mistake}", (_KneserNeyVariant,), {"mistake": mistake})


KN_MISTAKES = {
    "the lower orders use raw counts; Kneser-Ney's lower orders count CONTINUATIONS, N1+(. g w): "
    "in how many distinct contexts the word appears": (_kn_variant("raw_lower_counts"),),
    "the discounted mass is not redistributed: add d * T(g) / A(g) * P_lower(w | g') so the "
    "distribution sums to 1": (_kn_variant("no_redistribution"),),
    "an unseen context (A(g) = 0) must back off to the lower order, not give 0 or 0/0 = NaN": (
        _kn_variant("unseen_zero"),
        _kn_variant("unseen_nan"),
    ),
    "the unigram level must also interpolate with the uniform distribution 1/|V|, so a word never "
    "seen as a continuation (such as '<unk>') keeps some probability": (_kn_variant("no_uniform"),),
}


def judge_kneser_ney(case: dict, out: dict) -> Report:
    report = Report("KneserNeyLM")
    _judge_model(report, case, out, ref.KneserNey, KN_MISTAKES)
    _judge_delegation(report, out, "KneserNey")
    return report


def check_kneser_ney(model_cls, *, thorough: bool = False) -> Report:
    case = kneser_ney_cases(thorough)
    return judge_kneser_ney(case, probe_kneser_ney(model_cls, case))


# --------------------------------------------------------------------------- perplexity


def perplexity_cases(thorough: bool = False) -> dict:
    runs = [
        dict(model=("AddK", 2, dict(k=1.0)), corpus=0),
        dict(model=("KneserNey", 3, dict(discount=0.75)), corpus=0),
    ]
    if thorough:
        runs += [
            dict(model=("KneserNey", 1, dict(discount=0.5)), corpus=1),
            dict(model=("AddK", 4, dict(k=0.1)), corpus=1),
            dict(model=("MLE", 2, {}), corpus=2),  # a held-out bigram never seen: perplexity inf
        ]
    corpora = _corpora(thorough)
    corpora.append(dict(name="unseen bigram", train=TOY, held_out=[["students", "closed", "their", "books"]]))
    return dict(runs=runs, corpora=corpora, thorough=thorough)


def _reference_model(spec, train):
    name, n, kwargs = spec
    return getattr(ref, name)(n, **kwargs).fit(train)


def probe_perplexity(perplexity, case: dict) -> dict:
    banned = _code(ref.NGramLM.perplexity, ref.NGramLM.logprob)
    outs, delegation = [], set()
    for run in case["runs"]:
        corpus = case["corpora"][run["corpus"]]
        model = _reference_model(run["model"], corpus["train"])
        held_out = [list(s) for s in corpus["held_out"]]
        (value, error), found = _trace_calls(lambda m=model, h=held_out: attempt(perplexity, m, h), banned)
        delegation.update(found)
        if error is None:
            value, error = attempt(float, value)
        outs.append(dict(value=value, error=error))
    out = dict(runs=outs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    return out


def _perplexity_variant(model, sentences, *, eos=True, bos=False, exp=math.exp, log=math.log) -> float:
    total, count = 0.0, 0
    for s in sentences:
        padded = ref.pad(model.map_unknown(s), model.n)
        stop = len(padded) - (0 if eos else 1)
        for t in range(model.n - 1, stop):
            total += log(model.prob(padded[t], padded[t - model.n + 1 : t]))
        count += stop - (model.n - 1) + (model.n - 1) * bos
    return exp(-total / count)


PERPLEXITY_MISTAKES = [
    (dict(eos=False), "'</s>' is not scored: every sentence also predicts its end, one '</s>' per sentence"),
    (dict(bos=True), "the '<s>' padding is counted as predicted tokens: N counts words plus one '</s>' each"),
    (dict(exp=lambda x: 2**x), "mixed logarithm bases: 2 ** (mean of natural logs); use exp"),
    (dict(log=math.log2), "mixed logarithm bases: exp(mean of log2); use natural logs with exp"),
]


def judge_perplexity(case: dict, out: dict) -> Report:
    report = Report("perplexity")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        corpus = case["corpora"][run["corpus"]]
        name, n, kwargs = run["model"]
        label = f"[{name} n={n} on {corpus['name']}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        model = _reference_model(run["model"], corpus["train"])
        want = model.perplexity(corpus["held_out"])
        ok = _close(got["value"], want)
        report.add(
            f"{label} held-out perplexity equals lmcore's",
            ok,
            f"yours {got['value']:.10g}, expected {want:.10g}"
            + (
                " (a probability of 0 makes the perplexity infinite: return math.inf)"
                if math.isinf(want)
                else ""
            ),
        )
        if not ok and math.isfinite(want):
            for variant, why in PERPLEXITY_MISTAKES:
                if _close(got["value"], _perplexity_variant(model, corpus["held_out"], **variant)):
                    if why not in report.diagnosis:
                        report.diagnosis.append(why)
    _judge_delegation(report, out, "NGramLM.perplexity or NGramLM.logprob")
    return report


def check_perplexity(perplexity, *, thorough: bool = False) -> Report:
    case = perplexity_cases(thorough)
    return judge_perplexity(case, probe_perplexity(perplexity, case))


# --------------------------------------------------------------------------- sampling

SAMPLE_DRAWS = 4000
SAMPLE_SIGMAS = 5.0  # a correct sampler fails one frequency test in about 1.7 million


def sampling_cases(thorough: bool = False) -> dict:
    runs = [dict(model=("KneserNey", 3, dict(discount=0.75)), seed=1)]
    if thorough:
        runs += [
            dict(model=("AddK", 2, dict(k=0.05)), seed=2),
            dict(model=("KneserNey", 4, dict(discount=0.5)), seed=3),
        ]
    return dict(
        runs=runs, train=TOY, draws=SAMPLE_DRAWS if not thorough else 2 * SAMPLE_DRAWS, thorough=thorough
    )


def probe_sampling(sample, case: dict) -> dict:
    banned = _code(ref.NGramLM.sample)
    outs, delegation = [], set()
    for run in case["runs"]:
        model = _reference_model(run["model"], case["train"])

        def draw(model=model, seed=run["seed"]):
            rng = random.Random(seed)
            samples = []
            for _ in range(case["draws"]):
                words, error = attempt(sample, model, rng, max_words=12)
                if error:
                    return dict(error=error)
                samples.append(list(words))
            capped, error = attempt(sample, model, random.Random(seed), max_words=2)
            if error:
                return dict(error=error)
            again = [attempt(sample, model, random.Random(seed), max_words=12) for _ in range(2)]
            errors = [e for _, e in again if e]
            if errors:
                return dict(error=errors[0])
            return dict(error=None, samples=samples, capped=list(capped), repeat=[list(a) for a, _ in again])

        result, found = _trace_calls(draw, banned)
        delegation.update(found)
        outs.append(result)
    out = dict(runs=outs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    return out


def judge_sampling(case: dict, out: dict) -> Report:
    report = Report("sample")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        name, n, kwargs = run["model"]
        label = f"[{name} n={n}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        model = _reference_model(run["model"], case["train"])
        vocab = set(model.vocab) - {ref.EOS}
        bad = [s for s in got["samples"] if not isinstance(s, list) or any(w not in vocab for w in s)]
        report.add(
            f"{label} samples are lists of vocabulary words without '<s>' or '</s>'",
            not bad,
            f"e.g. {bad[0]!r}" if bad else "",
        )
        too_long = [s for s in got["samples"] if len(s) > 12]
        report.add(f"{label} respects max_words", not too_long and len(got["capped"]) <= 2, "")
        report.add(
            f"{label} the same seed gives the same sample (use only the rng you are given)",
            got["repeat"][0] == got["repeat"][1],
            f"{got['repeat'][0]} then {got['repeat'][1]}",
        )
        if bad:
            continue
        # frequencies: the first word, and the most likely whole sentences
        draws = len(got["samples"])
        first = {}
        for s in got["samples"]:
            key = s[0] if s else ref.EOS
            first[key] = first.get(key, 0) + 1
        start = model.distribution((ref.BOS,) * (n - 1))
        worst = _worst_sigma(first, start, draws)
        report.add(
            f"{label} the first word follows P(w | <s> ... <s>) over {draws} draws "
            f"(within {SAMPLE_SIGMAS:.0f} sigma)",
            worst[0] <= SAMPLE_SIGMAS,
            f"{worst[1]!r}: drawn {first.get(worst[1], 0)} times, expected {draws * start[worst[1]]:.1f}",
        )
        whole = {}
        for s in got["samples"]:
            whole[tuple(s)] = whole.get(tuple(s), 0) + 1
        likely = sorted(whole, key=lambda s: -whole[s])[:8]
        expected = {s: math.exp(model.logprob(list(s))) for s in likely if len(s) < 12}
        worst = _worst_sigma(whole, expected, draws)
        report.add(
            f"{label} whole sentences are drawn with their model probability "
            f"(within {SAMPLE_SIGMAS:.0f} sigma)",
            worst[0] <= SAMPLE_SIGMAS,
            f"{' '.join(worst[1]) or '(empty)'}: drawn {whole.get(worst[1], 0)} times, "
            f"expected {draws * expected.get(worst[1], 0):.1f}",
        )
        if worst[0] > SAMPLE_SIGMAS and n > 1:
            report.diagnosis.append(
                "start from the context ('<s>',) * (n - 1) and slide it: context = context[1:] + (word,)"
            )
    _judge_delegation(report, out, "NGramLM.sample")
    return report


def _worst_sigma(counts: dict, probs: dict, draws: int) -> tuple[float, object]:
    worst = (0.0, next(iter(probs)))
    for key, p in probs.items():
        sigma = math.sqrt(max(draws * p * (1 - p), 1.0))
        z = abs(counts.get(key, 0) - draws * p) / sigma
        worst = max(worst, (z, key), key=lambda t: t[0])
    return worst


def check_sampling(sample, *, thorough: bool = False) -> Report:
    case = sampling_cases(thorough)
    return judge_sampling(case, probe_sampling(sample, case))


# --------------------------------------------------------------------------- registry

PARTS = [
    Part("counts", "count_ngrams", counts_cases, probe_counts, judge_counts),
    Part("add_k", "AddKLM", add_k_cases, probe_add_k, judge_add_k),
    Part("kneser_ney", "KneserNeyLM", kneser_ney_cases, probe_kneser_ney, judge_kneser_ney),
    Part("perplexity", "perplexity", perplexity_cases, probe_perplexity, judge_perplexity),
    Part("sample", "sample", sampling_cases, probe_sampling, judge_sampling),
]
TESTS = {f"test_{p.name}{suffix}": (p.name, suffix == "_hidden") for p in PARTS for suffix in ("", "_hidden")}

from lmcore.grading.legacy import assignment  # noqa: E402

ASSIGNMENT = assignment("A1", "ch02_ngrams", PARTS)
