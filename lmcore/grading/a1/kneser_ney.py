"""A1, part 3: ``KneserNeyLM(n, discount=0.75)``, a subclass of ``lmcore.ngram.NGramLM``.

Contract (``lmcore.ngram.KneserNey``): interpolated Kneser-Ney with one discount
0 < d < 1, raw counts at the top order and continuation counts N1+(. g w) ('<s>' counted
as a left neighbour) below it, A(g) and T(g) summed over the vocabulary only, a context never
seen backing off to the lower order, down to the uniform P_0 = 1/|V|; for n = 1 the single
level uses raw counts. Checked as tables of prob(word, context) over the whole vocabulary,
'<unk>' included, for orders 1 to 4, the default discount and discounts from 0.01 to 0.99.
"""

from collections import Counter

from lmcore import ngram as ref
from lmcore.grading.a1._common import judge_model, model_cases, probe_model
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.ngram import BOS


def cases(thorough: bool = False) -> dict:
    settings = [dict(n=2), dict(n=3, discount=0.6), dict(n=1, discount=0.5)]
    if thorough:
        settings += [dict(n=4, discount=0.9), dict(n=2, discount=0.01), dict(n=3, discount=0.99)]
    return model_cases(thorough, settings)


def judge(case: dict, out: dict) -> Report:
    report = Report("KneserNeyLM")
    judge_model(report, case, out, ref.KneserNey, defaults={"discount": 0.75})
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str) -> type:
    """A KneserNeyLM with one classic mistake, written as the notebook's solution is."""

    class KneserNeyLM(ref.NGramLM):
        def __init__(self, n, discount=0.5 if mistake == "default_discount" else 0.75):
            super().__init__(n)
            self.discount = discount

        def prepare(self):
            vocab = set(self.vocab)
            self.a = {self.n: self.counts[self.n]}
            for m in range(1, self.n):
                if mistake == "raw_lower_counts":
                    self.a[m] = self.counts[m]
                elif mistake == "continuation_without_bos":
                    self.a[m] = Counter(gram[1:] for gram in self.counts[m + 1] if gram[0] != BOS)
                else:
                    self.a[m] = Counter(gram[1:] for gram in self.counts[m + 1])
            self.total, self.types = Counter(), Counter()
            for m, table in self.a.items():
                for gram, value in table.items():
                    if (gram[-1] in vocab or mistake == "sums_include_bos") and value > 0:
                        self.total[m, gram[:-1]] += value
                        self.types[m, gram[:-1]] += 1

        def prob(self, word, context):
            context = tuple(context)
            d = 0.75 if mistake == "fixed_discount" else self.discount
            p = 0.0 if mistake == "no_uniform" else 1 / len(self.vocab)
            for m in range(1, self.n + 1):
                g = context[len(context) - m + 1 :]
                total = self.total[m, g]
                if not total:
                    p = {"unseen_context_zero": 0.0, "unseen_context_nan": float("nan")}.get(mistake, p)
                    continue
                a = self.a[m][g + (word,)]
                kept = (a - d if mistake == "no_max" else max(a - d, 0)) / total
                p = kept if mistake == "no_redistribution" else kept + d * self.types[m, g] / total * p
            return p

    return KneserNeyLM


MISTAKES = tuple(
    Mistake(mistake, diagnosis, _wrong(mistake))
    for mistake, diagnosis in (
        (
            "raw_lower_counts",
            "the lower orders use raw counts; Kneser-Ney's lower orders count CONTINUATIONS, "
            "N1+(. g w): in how many distinct contexts the word appears",
        ),
        (
            "continuation_without_bos",
            "the continuation counts leave out '<s>' as a left neighbour: N1+(. g w) counts every "
            "distinct token x before g w, '<s>' included, so a word that only starts sentences keeps "
            "its count",
        ),
        (
            "no_redistribution",
            "the discounted mass is not redistributed: add d * T(g) / A(g) * P_lower(w | g') so the "
            "distribution sums to 1",
        ),
        (
            "unseen_context_zero",
            "an unseen context (A(g) = 0) must back off to the lower order, not give 0",
        ),
        (
            "unseen_context_nan",
            "an unseen context (A(g) = 0) must back off to the lower order, not compute 0/0 = NaN",
        ),
        (
            "no_uniform",
            "the recursion must start from the uniform P_0 = 1/|V|, so that the unigram level also "
            "interpolates with it and a word never seen as a continuation (such as '<unk>') keeps "
            "some probability",
        ),
        (
            "no_max",
            "max(a(g w) - d, 0) is missing: a word with a(g w) = 0 gets a negative first term -d / A(g)",
        ),
        (
            "fixed_discount",
            "the discount 0.75 is written into the formula: use self.discount, the value the model "
            "was built with",
        ),
        (
            "sums_include_bos",
            "A(g) and T(g) also sum over '<s>', which is never predicted: sum over the words of "
            "self.vocab only (at the lower orders '<s>' shows up as a continuation)",
        ),
        (
            "default_discount",
            "KneserNeyLM(n) must mean discount = 0.75: keep the signature KneserNeyLM(n, discount=0.75)",
        ),
    )
)


PART = Part(
    id="kneser_ney",
    names=("KneserNeyLM",),
    reference=(ref.KneserNey,),
    section="ch02_ngrams#2.7",
    cases=cases,
    probe=probe_model,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.KneserNey, ref.Backoff, ref.Interpolated), names=("KneserNey",)),
)
check = PART.check
