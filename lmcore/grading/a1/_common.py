"""What A1's parts share: the corpora, lmcore's reference models built from a spec, and the
check of a model class (AddKLM, KneserNeyLM) as a table of P(word | context) on seen and
unseen contexts, compared with lmcore's estimator."""

import math

from lmcore import ngram as ref
from lmcore.data import sample_sentences
from lmcore.grading.common import attempt
from lmcore.grading.report import Report

PROB_TOL = 1e-9  # relative; every probability is a ratio of small integer counts
SUM_TOL = 1e-9

# a corpus small enough to check by hand: "students opened their ___", with an empty sentence
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
    [],
    "teachers".split(),
]


def grammar(n: int, seed: int) -> list[list[str]]:
    return [list(s.words) for s in sample_sentences(n, seed=seed)]


def corpora(thorough: bool) -> list[dict]:
    found = [dict(name="the 'students opened their' corpus", train=TOY, held_out=TOY_HELD_OUT)]
    if thorough:
        found.append(
            dict(name="300 sentences of the story grammar", train=grammar(300, 11), held_out=grammar(40, 12))
        )
    return found


def reference_model(spec: tuple, train: list) -> ref.NGramLM:
    """lmcore's model of spec = (class name, n, keyword arguments), fitted on train."""
    name, n, kwargs = spec
    return getattr(ref, name)(n, **kwargs).fit(train)


def spec_label(spec: tuple) -> str:
    name, n, kwargs = spec
    return f"{name} n={n}" + "".join(f", {k}={v}" for k, v in kwargs.items())


def close(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= PROB_TOL * max(abs(b), 1e-300)


# ------------------------------------------------------------------ a model as a table


def contexts(train: list, held_out: list, n: int, limit: int) -> list[tuple]:
    """Contexts of n-1 tokens, each in the vocabulary or '<s>' (held-out words outside it are
    '<unk>'): the seen ones first, then some never seen in training: all '<unk>', a seen one
    reversed, and one ending in '</s>' (a token that is never followed by a word)."""
    if n == 1:
        return [()]
    known = ref.NGramLM(1).fit(train)  # its map_unknown: the vocabulary of train
    seen = []
    for sentence in train + held_out:
        padded = ref.pad(known.map_unknown(sentence), n)
        seen += [padded[i : i + n - 1] for i in range(len(padded) - n + 1)]
    unseen = [(ref.UNK,) * (n - 1), tuple(reversed(seen[-1])), seen[0][1:] + (ref.EOS,)]
    out = []
    for c in seen[: limit - len(unseen)] + unseen:
        if c not in out:
            out.append(c)
    return out


def model_cases(thorough: bool, settings: list[dict]) -> dict:
    """One run per corpus and setting (n and the smoothing arguments; one left out means its
    default), each with the contexts to query."""
    runs = []
    for corpus in corpora(thorough):
        for setting in settings:
            found = contexts(corpus["train"], corpus["held_out"], setting["n"], 40 if thorough else 12)
            runs.append(dict(corpus=corpus["name"], train=corpus["train"], setting=setting, contexts=found))
    return dict(runs=runs)


def probe_model(model_cls, case: dict) -> dict:
    """Untrusted: fit the class on each run's corpus and tabulate prob(word, context) for every
    context and every word of the model's vocabulary."""
    return dict(runs=[_table(model_cls, run) for run in case["runs"]])


def _table(model_cls, run: dict) -> dict:
    setting = dict(run["setting"])
    n = setting.pop("n")
    model, error = attempt(lambda: model_cls(n, **setting).fit([list(s) for s in run["train"]]))
    if error:
        return dict(error=error, where="fit")
    vocab, error = attempt(lambda: [str(w) for w in model.vocab])
    if error:
        return dict(error=error, where="model.vocab")
    table = []
    for context in run["contexts"]:
        row = []
        for word in vocab:
            p, error = attempt(lambda w=word, c=context: float(model.prob(w, tuple(c))))
            if error:
                return dict(error=error, where=f"prob({word!r}, {tuple(context)})")
            row.append(p)
        table.append(row)
    return dict(error=None, vocab=vocab, table=table)


def setting_label(run: dict, defaults: dict) -> str:
    setting = dict(run["setting"])
    n = setting.pop("n")
    given = "".join(f", {k}={v}" for k, v in setting.items())
    default = "".join(f", {k}={v} (the default)" for k, v in defaults.items() if k not in setting)
    return f"[{run['corpus']}, n={n}{given}{default}]"


def judge_model(report: Report, case: dict, out: dict, reference_cls, defaults: dict) -> None:
    """Each run's table against the reference class: finite, normalised, and equal to it."""
    for run, got in zip(case["runs"], out["runs"], strict=True):
        label = setting_label(run, defaults)
        if got["error"]:
            report.add(
                f"{label} fits and answers prob(word, context)", False, f"{got['where']}: {got['error']}"
            )
            continue
        setting = dict(run["setting"])
        n = setting.pop("n")
        reference = reference_cls(n, **setting).fit(run["train"])
        if got["vocab"] != list(reference.vocab):
            report.add(f"{label} vocabulary", False, "model.vocab was changed; keep the one NGramLM.fit sets")
            continue
        bad_sum, bad_value, nonfinite = [], [], []
        for context, row in zip(run["contexts"], got["table"], strict=True):
            if any(not math.isfinite(p) or p < 0 for p in row):
                nonfinite.append(context)
            elif abs(math.fsum(row) - 1) > SUM_TOL:
                bad_sum.append((context, math.fsum(row)))
            want = reference.distribution(context)
            for word, p in zip(got["vocab"], row, strict=True):
                if not close(p, want[word]):
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
            seen = reference.counts[n][tuple(context) + (word,)]
            detail = (
                f"{len(bad_value)} of {len(run['contexts'])} contexts differ; first: "
                f"P({word!r} | {context}) = {p:.10g}, expected {w:.10g} "
                f"(count of the n-gram in training: {seen})"
            )
        report.add(
            f"{label} P(word | context) equals lmcore's on every tested context", not bad_value, detail
        )
