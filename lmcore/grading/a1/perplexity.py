"""A1, part 4: ``perplexity(model, sentences)``.

Contract (``lmcore.ngram.NGramLM.perplexity``): exp(-(1/N) sum log P(x_t | context)) over
the words and one '</s>' per sentence (never the '<s>' padding), N = sum of (|s| + 1), so an
empty sentence predicts its '</s>'; a word outside model.vocab is scored as '<unk>', in the
context too; any probability 0 makes it math.inf. Uses only model.n, model.vocab and
model.prob. Checked on lmcore's reference models of orders 1 to 4, held-out text with
unknown and empty sentences, a corpus of only an empty sentence, a training corpus that
itself contains '<unk>', and an unseen bigram under maximum likelihood (inf).
"""

import math

from lmcore import ngram as ref
from lmcore.grading.a1._common import TOY, close, corpora, reference_model, spec_label
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.ngram import BOS, EOS, UNK

# rare words replaced by '<unk>' in the training text itself, as in the Penn Treebank: an
# unknown held-out word then gets the probability of that '<unk>', not of a word never seen
UNK_TRAIN = TOY + [["students", "opened", "their", UNK], ["the", UNK, "closed", "their", "books"]]
UNK_HELD_OUT = [["students", "opened", "their", "exams"], ["the", "dean", "closed", "their", "laptops"]]


def cases(thorough: bool = False) -> dict:
    named = {c["name"]: dict(train=c["train"], held_out=c["held_out"]) for c in corpora(thorough)}
    named["an unseen bigram"] = dict(train=TOY, held_out=[["students", "closed", "their", "books"]])
    named["only an empty sentence"] = dict(train=TOY, held_out=[[]])
    named["training text with '<unk>'"] = dict(train=UNK_TRAIN, held_out=UNK_HELD_OUT)
    toy, story = "the 'students opened their' corpus", "300 sentences of the story grammar"
    runs = [
        (("AddK", 2, dict(k=1.0)), toy),
        (("KneserNey", 3, dict(discount=0.75)), toy),
        (("KneserNey", 1, dict(discount=0.75)), toy),
        (("MLE", 2, {}), "an unseen bigram"),  # a probability 0: perplexity inf
    ]
    if thorough:
        runs += [
            (("KneserNey", 1, dict(discount=0.5)), story),
            (("AddK", 4, dict(k=0.1)), story),
            (("AddK", 2, dict(k=0.5)), "only an empty sentence"),
            (("AddK", 2, dict(k=0.5)), "training text with '<unk>'"),
            (("KneserNey", 3, dict(discount=0.75)), "training text with '<unk>'"),
        ]
    return dict(runs=[dict(model=spec, corpus=name, **named[name]) for spec, name in runs])


def probe(perplexity, case: dict) -> dict:
    """Untrusted: the perplexity of each reference model on its held-out sentences."""
    values = []
    for run in case["runs"]:
        model = reference_model(run["model"], run["train"])
        value, error = attempt(perplexity, model, [list(s) for s in run["held_out"]])
        if error is None:
            value, error = attempt(float, value)
        # inf is told apart on its own: within a relative tolerance of inf, every number is close
        values.append(dict(value=value, infinite=error is None and math.isinf(value), error=error))
    return dict(runs=values)


def judge(case: dict, out: dict) -> Report:
    report = Report("perplexity")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        label = f"[{spec_label(run['model'])} on {run['corpus']}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want = reference_model(run["model"], run["train"]).perplexity(run["held_out"])
        hint = (
            " (a probability of 0 makes the perplexity infinite: return math.inf)" if math.isinf(want) else ""
        )
        report.add(
            f"{label} held-out perplexity equals lmcore's",
            close(got["value"], want),
            f"yours {got['value']:.10g}, expected {want:.10g}{hint}",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """perplexity with one classic mistake, written as the notebook's solution is."""

    def perplexity(model, sentences):
        n, vocab = model.n, set(model.vocab)
        log_sum, count = 0.0, 0
        for sentence in sentences:
            if mistake == "skips_empty_sentences" and not sentence:
                continue
            words = (
                list(sentence)
                if mistake == "unknown_not_mapped"
                else [w if w in vocab else UNK for w in sentence]
            )
            tokens = [BOS] * (n - 1) + words + [EOS]
            count += {"bos_counted": len(tokens), "n_without_eos": len(sentence)}.get(mistake, 0)
            for t in range(n - 1, len(tokens) - (mistake == "eos_not_scored")):
                if mistake == "unigram_whole_history":  # tokens[:t][-0:] is all of it
                    context = tuple(tokens[:t][-(n - 1) :])
                else:
                    context = tuple(tokens[t - n + 1 : t])
                p = model.prob(tokens[t], context)
                if p == 0 and mistake != "log_of_zero":
                    if mistake == "skips_zero_probabilities":
                        continue
                    return math.inf
                log_sum += math.log2(p) if mistake == "log2_with_exp" else math.log(p)
                count += mistake not in ("bos_counted", "n_without_eos")
        mean = -log_sum / count
        return 2**mean if mistake == "exp2_with_ln" else math.exp(mean)

    return perplexity


MISTAKES = tuple(
    Mistake(mistake, diagnosis, _wrong(mistake))
    for mistake, diagnosis in (
        (
            "eos_not_scored",
            "'</s>' is not scored: every sentence also predicts its end, one '</s>' per sentence",
        ),
        (
            "bos_counted",
            "the '<s>' padding is counted as predicted tokens: N counts words plus one '</s>' each",
        ),
        (
            "n_without_eos",
            "'</s>' is scored but N counts only the words: N = sum of (|s| + 1), one '</s>' per "
            "sentence (a corpus of empty sentences has N > 0)",
        ),
        ("exp2_with_ln", "mixed logarithm bases: 2 ** (mean of natural logs); use exp"),
        ("log2_with_exp", "mixed logarithm bases: exp(mean of log2); use natural logs with exp"),
        (
            "skips_empty_sentences",
            "empty sentences are skipped: an empty sentence still predicts its '</s>' and counts once in N",
        ),
        (
            "log_of_zero",
            "a probability of 0 reaches math.log, which raises: return math.inf as soon as a "
            "probability is 0",
        ),
        (
            "skips_zero_probabilities",
            "tokens of probability 0 are skipped: one of them makes the perplexity infinite, return math.inf",
        ),
        (
            "unknown_not_mapped",
            "words outside model.vocab are passed to model.prob as they are: score them as '<unk>' "
            "(and use '<unk>' in the context too)",
        ),
        (
            "unigram_whole_history",
            "for n = 1 the context must be (): tokens[-(n - 1):] is tokens[-0:], the whole history; "
            "slice tokens[t - n + 1 : t] instead",
        ),
    )
)


PART = Part(
    id="perplexity",
    names=("perplexity",),
    reference=(ref.NGramLM.perplexity,),
    section="ch02_ngrams#2.8",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.NGramLM.perplexity, ref.NGramLM.logprob), names=("perplexity", "logprob")),
)
check = PART.check
