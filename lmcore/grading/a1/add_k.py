"""A1, part 2: ``AddKLM(n, k=1.0)``, a subclass of ``lmcore.ngram.NGramLM``.

Contract (``lmcore.ngram.AddK``): P(w | h) = (c(h w) + k) / (c(h) + k |V|) for any k > 0,
c(h) = the sum over w in V of c(h w), so a context never seen in training (all '<unk>', one
ending in '</s>') is uniform; k defaults to 1 (Laplace). Checked as tables of
prob(word, context) over the whole vocabulary, '<unk>' included, for orders 1 to 4, the
default k and k from 1e-6 to 100, on the toy corpus and the story grammar.
"""

from collections import Counter

from lmcore import ngram as ref
from lmcore.grading.a1._common import judge_model, model_cases, probe_model
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules


def cases(thorough: bool = False) -> dict:
    settings = [dict(n=2), dict(n=3, k=0.1), dict(n=1, k=0.5)]
    if thorough:
        settings += [dict(n=4, k=0.01), dict(n=2, k=1e-6), dict(n=3, k=100.0)]
    return model_cases(thorough, settings)


def judge(case: dict, out: dict) -> Report:
    report = Report("AddKLM")
    judge_model(report, case, out, ref.AddK, defaults={"k": 1.0})
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str) -> type:
    """An AddKLM with one classic mistake, written as the notebook's solution is."""

    class AddKLM(ref.NGramLM):
        def __init__(self, n, k=0.5 if mistake == "default_k_not_1" else 1.0):
            super().__init__(n)
            self.k = k

        def prepare(self):
            vocab = set(self.vocab)
            self.context_total = Counter()
            for gram, count in self.counts[self.n].items():
                if gram[-1] in vocab:
                    self.context_total[gram[:-1]] += count

        def prob(self, word, context):
            context = tuple(context)
            count = self.counts[self.n][context + (word,)]
            if mistake == "lower_order_total":  # KeyError at n = 1: there is no counts[0]
                total = self.counts[self.n - 1][context]
            else:
                total = self.context_total[context]
            if mistake == "unseen_context_zero" and total == 0:
                return 0.0
            if mistake == "add_one":
                return (count + 1) / (total + len(self.vocab))
            if mistake == "wrong_denominator":
                return (count + self.k) / (total + self.k)
            return (count + self.k) / (total + self.k * len(self.vocab))

    return AddKLM


MISTAKES = tuple(
    Mistake(mistake, diagnosis, _wrong(mistake))
    for mistake, diagnosis in (
        (
            "unseen_context_zero",
            "an unseen context gives probability 0: with add-k it gets k / (0 + k|V|) = 1/|V| for every word",
        ),
        (
            "wrong_denominator",
            "the denominator must add k once per vocabulary word, c(h) + k|V|, so the distribution sums to 1",
        ),
        (
            "add_one",
            "the formula adds 1 instead of k (Laplace): use self.k in the numerator and k|V| in the "
            "denominator",
        ),
        (
            "lower_order_total",
            "c(h) is taken from the lower-order count self.counts[n - 1][h], which also counts h where "
            "nothing follows it (a context ending in '</s>') and does not exist for n = 1; c(h) is the "
            "sum over w in the vocabulary of c(h w), precomputed in prepare()",
        ),
        (
            "default_k_not_1",
            "AddKLM(n) must mean k = 1 (Laplace smoothing): keep the signature AddKLM(n, k=1.0)",
        ),
    )
)


PART = Part(
    id="add_k",
    names=("AddKLM",),
    reference=(ref.AddK,),
    section="ch02_ngrams#2.5",
    cases=cases,
    probe=probe_model,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.AddK,), names=("AddK",)),
)
check = PART.check
