"""Submissions of A1 that the grading must tell apart: mutants (one classic bug each), an
alternative correct solution written differently, and delegation to lmcore's reference.

A mutant is a list of (grade_id, old, new) edits to the solution notebook's cells, the set of
parts it breaks (every other part must keep its full points) and a text its report must contain.
"""

from tests.variants import Submissions

A1 = Submissions("A1")
PARTS = ("counts", "add_k", "kneser_ney", "perplexity", "sample")
COMPONENTS = {
    "counts": "count_ngrams",
    "add_k": "AddKLM",
    "kneser_ney": "KneserNeyLM",
    "perplexity": "perplexity",
    "sample": "sample",
}

MUTANTS = {
    "no_start_padding": (
        [("counts", "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]", "tokens = list(sentence) + [EOS]")],
        {"counts"},
        "start padding is missing",
    ),
    "add_k_unseen_context_zero": (
        [
            (
                "add_k",
                "        count = self.counts[self.n][tuple(context) + (word,)]\n",
                "        if self.context_total[tuple(context)] == 0:\n            return 0.0\n"
                "        count = self.counts[self.n][tuple(context) + (word,)]\n",
            )
        ],
        {"add_k"},
        "unseen context gives probability 0",
    ),
    "kn_raw_lower_counts": (
        [
            (
                "kneser_ney",
                "self.a[m] = Counter(gram[1:] for gram in self.counts[m + 1])",
                "self.a[m] = self.counts[m]",
            )
        ],
        {"kneser_ney"},
        "continuations",
    ),
    "kn_discount_not_redistributed": (
        [
            (
                "kneser_ney",
                "p = kept + self.discount * self.types[m, g] / total * p",
                "p = kept",
            )
        ],
        {"kneser_ney"},
        "not redistributed",
    ),
    "kn_unseen_context_zero": (
        [
            (
                "kneser_ney",
                "            if total:\n",
                "            if not total:\n                p = 0.0\n            else:\n",
            )
        ],
        {"kneser_ney"},
        "unseen context",
    ),
    "kn_unseen_context_nan": (
        [
            (
                "kneser_ney",
                "            if total:\n",
                '            if not total:\n                p = float("nan")\n            else:\n',
            )
        ],
        {"kneser_ney"},
        "0/0 = nan",
    ),
    "perplexity_without_end_token": (
        [("perplexity", "for t in range(n - 1, len(tokens)):", "for t in range(n - 1, len(tokens) - 1):")],
        {"perplexity"},
        "'</s>' is not scored",
    ),
    "sample_context_never_slides": (
        [("sample", "        context = (context + (word,))[1:] if model.n > 1 else ()\n", "")],
        {"sample"},
        "slide it",
    ),
}

# Delegation computes the right numbers, so it passes every visible check and loses only the
# hidden points of its part.
DELEGATING = {
    "add_k": """
import lmcore.ngram


class AddKLM(lmcore.ngram.AddK):
    pass
""",
    "perplexity": """
def perplexity(model, sentences):
    return model.perplexity(sentences)
""",
}

ALTERNATIVE = {
    "counts": """
def count_ngrams(sentences, n):
    counts = {}
    for sentence in sentences:
        padded = (BOS,) * (n - 1) + tuple(sentence) + (EOS,)
        for gram in zip(*(padded[i:] for i in range(n))):
            counts[gram] = counts.get(gram, 0) + 1
    return counts
""",
    "add_k": """
class AddKLM(NGramLM):
    def __init__(self, n, k=1.0):
        super().__init__(n)
        self.k = k

    def prob(self, word, context):
        top = self.counts[self.n]
        seen = sum(top.get(tuple(context) + (w,), 0) for w in self.vocab)
        return (top.get(tuple(context) + (word,), 0) + self.k) / (seen + self.k * len(self.vocab))
""",
    "kneser_ney": """
class KneserNeyLM(NGramLM):
    def __init__(self, n, discount=0.75):
        super().__init__(n)
        self.discount = discount

    def prepare(self):
        self.continuation = {}
        for m in range(1, self.n):
            table = {}
            for gram in self.counts[m + 1]:
                table[gram[1:]] = table.get(gram[1:], 0) + 1
            self.continuation[m] = table

    def _a(self, m, gram):
        return self.counts[m].get(gram, 0) if m == self.n else self.continuation[m].get(gram, 0)

    def _p(self, word, g, m):
        if m == 0:
            return 1.0 / len(self.vocab)
        values = [self._a(m, g + (w,)) for w in self.vocab]
        total = sum(values)
        lower = self._p(word, g[1:], m - 1)
        if total == 0:
            return lower
        types = sum(1 for v in values if v > 0)
        return max(self._a(m, g + (word,)) - self.discount, 0) / total + self.discount * types / total * lower

    def prob(self, word, context):
        return self._p(word, tuple(context), self.n)
""",
    "perplexity": """
def perplexity(model, sentences):
    bits, tokens = 0.0, 0
    for sentence in sentences:
        words = [w if w in model.vocab else UNK for w in sentence] + [EOS]
        history = [BOS] * (model.n - 1)
        for w in words:
            p = model.prob(w, tuple(history[len(history) - model.n + 1 :]) if model.n > 1 else ())
            if p <= 0:
                return float("inf")
            bits -= math.log2(p)
            tokens += 1
            history.append(w)
    return 2 ** (bits / tokens)
""",
    "sample": """
def sample(model, rng, max_words=100):
    history = [BOS] * (model.n - 1)
    out = []
    for _ in range(max_words):
        context = tuple(history[len(history) - model.n + 1 :]) if model.n > 1 else ()
        u, total = rng.random(), 0.0
        for w in model.vocab:
            total += model.prob(w, context)
            if u < total:
                break
        if w == EOS:
            break
        out.append(w)
        history.append(w)
    return out
""",
}
