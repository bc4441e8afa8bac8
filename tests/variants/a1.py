"""A1's variants (see tests/variants/__init__.py for the format)."""

MUTANTS = {
    "counts": {
        "no_start_padding": [
            ("counts", "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]", "tokens = list(sentence) + [EOS]")
        ],
        "no_end_padding": [
            (
                "counts",
                "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]",
                "tokens = [BOS] * (n - 1) + list(sentence)",
            )
        ],
        "no_padding": [
            ("counts", "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]", "tokens = list(sentence)")
        ],
        "one_start_symbol": [
            (
                "counts",
                "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]",
                "tokens = [BOS] + list(sentence) + [EOS]",
            )
        ],
        "skips_empty_sentences": [
            (
                "counts",
                "    for sentence in sentences:\n",
                "    for sentence in sentences:\n        if not sentence:\n            continue\n",
            )
        ],
        "mutates_sentences": [
            (
                "counts",
                "tokens = [BOS] * (n - 1) + list(sentence) + [EOS]",
                "tokens = sentence\n        tokens[:0] = [BOS] * (n - 1)\n        tokens.append(EOS)",
            )
        ],
    },
    "add_k": {
        "unseen_context_zero": [
            (
                "add_k",
                "        count = self.counts[self.n][tuple(context) + (word,)]\n",
                "        if self.context_total[tuple(context)] == 0:\n            return 0.0\n"
                "        count = self.counts[self.n][tuple(context) + (word,)]\n",
            )
        ],
        "wrong_denominator": [("add_k", "+ self.k * len(self.vocab))", "+ self.k)")],
        "add_one": [
            (
                "add_k",
                "return (count + self.k) / (self.context_total[tuple(context)] + self.k * len(self.vocab))",
                "return (count + 1) / (self.context_total[tuple(context)] + len(self.vocab))",
            )
        ],
        "lower_order_total": [
            ("add_k", "(self.context_total[tuple(context)] +", "(self.counts[self.n - 1][tuple(context)] +")
        ],
        "default_k_not_1": [("add_k", "def __init__(self, n, k=1.0):", "def __init__(self, n, k=0.5):")],
    },
    "kneser_ney": {
        "raw_lower_counts": [
            (
                "kneser_ney",
                "self.a[m] = Counter(gram[1:] for gram in self.counts[m + 1])",
                "self.a[m] = self.counts[m]",
            )
        ],
        "continuation_without_bos": [
            (
                "kneser_ney",
                "Counter(gram[1:] for gram in self.counts[m + 1])",
                "Counter(gram[1:] for gram in self.counts[m + 1] if gram[0] != BOS)",
            )
        ],
        "no_redistribution": [
            ("kneser_ney", "p = kept + self.discount * self.types[m, g] / total * p", "p = kept")
        ],
        "unseen_context_zero": [
            (
                "kneser_ney",
                "            if total:\n",
                "            if not total:\n                p = 0.0\n            else:\n",
            )
        ],
        "unseen_context_nan": [
            (
                "kneser_ney",
                "            if total:\n",
                '            if not total:\n                p = float("nan")\n            else:\n',
            )
        ],
        "no_uniform": [("kneser_ney", "p = 1 / len(self.vocab)  # P_0", "p = 0.0  # no P_0")],
        "no_max": [
            (
                "kneser_ney",
                "max(self.a[m][g + (word,)] - self.discount, 0)",
                "(self.a[m][g + (word,)] - self.discount)",
            )
        ],
        "fixed_discount": [
            ("kneser_ney", "- self.discount, 0)", "- 0.75, 0)"),
            ("kneser_ney", "p = kept + self.discount * self.types", "p = kept + 0.75 * self.types"),
        ],
        "sums_include_bos": [("kneser_ney", "if gram[-1] in vocab and value > 0:", "if value > 0:")],
        "default_discount": [
            ("kneser_ney", "def __init__(self, n, discount=0.75):", "def __init__(self, n, discount=0.5):")
        ],
    },
    "perplexity": {
        "eos_not_scored": [
            ("perplexity", "for t in range(n - 1, len(tokens)):", "for t in range(n - 1, len(tokens) - 1):")
        ],
        "bos_counted": [
            ("perplexity", "            count += 1\n", ""),
            (
                "perplexity",
                "        for t in range(n - 1, len(tokens)):\n",
                "        count += len(tokens)\n        for t in range(n - 1, len(tokens)):\n",
            ),
        ],
        "n_without_eos": [
            ("perplexity", "            count += 1\n", ""),
            (
                "perplexity",
                "        for t in range(n - 1, len(tokens)):\n",
                "        count += len(sentence)\n        for t in range(n - 1, len(tokens)):\n",
            ),
        ],
        "exp2_with_ln": [
            ("perplexity", "return math.exp(-log_sum / count)", "return 2 ** (-log_sum / count)")
        ],
        "log2_with_exp": [("perplexity", "log_sum += math.log(p)", "log_sum += math.log2(p)")],
        "skips_empty_sentences": [
            (
                "perplexity",
                "    for sentence in sentences:\n",
                "    for sentence in sentences:\n        if not sentence:\n            continue\n",
            )
        ],
        "log_of_zero": [("perplexity", "            if p == 0:\n                return math.inf\n", "")],
        "skips_zero_probabilities": [("perplexity", "return math.inf", "continue")],
        "unknown_not_mapped": [
            ("perplexity", "[w if w in vocab else UNK for w in sentence]", "list(sentence)")
        ],
        "unigram_whole_history": [
            ("perplexity", "tuple(tokens[t - n + 1 : t])", "tuple(tokens[:t][-(n - 1) :])")
        ],
    },
    "sample": {
        "context_never_slides": [
            ("sample", "        context = (context + (word,))[1:] if model.n > 1 else ()\n", "")
        ],
        "context_grows": [
            (
                "sample",
                "context = (context + (word,))[1:] if model.n > 1 else ()",
                "context = context + (word,)",
            )
        ],
        "unigram_context_grows": [
            (
                "sample",
                "context = (context + (word,))[1:] if model.n > 1 else ()",
                "context = context[1:] + (word,)",
            )
        ],
        "eos_in_output": [
            (
                "sample",
                "        if word == EOS:\n            break\n        words.append(word)\n",
                "        words.append(word)\n        if word == EOS:\n            break\n",
            )
        ],
        "cap_off_by_one": [("sample", "while len(words) < max_words:", "while len(words) <= max_words:")],
        "ignores_max_words": [("sample", "while len(words) < max_words:", "while True:")],
        "draws_before_cap": [
            ("sample", "while len(words) < max_words:", "while True:"),
            (
                "sample",
                "        context = (context + (word,))[1:] if model.n > 1 else ()\n",
                "        context = (context + (word,))[1:] if model.n > 1 else ()\n"
                "        if len(words) >= max_words:\n            break\n",
            ),
        ],
        "global_random": [("sample", "rng.choices(", "random.choices(")],
        "uniform_choice": [
            ("sample", "rng.choices(list(dist), weights=list(dist.values()))[0]", "rng.choice(list(dist))")
        ],
        "default_max_words": [
            ("sample", "def sample(model, rng, max_words=100):", "def sample(model, rng, max_words=50):")
        ],
    },
}

ALTERNATIVES = {
    "counts": {
        "zip_of_shifts": """
def count_ngrams(sentences, n):
    counts = {}
    for sentence in sentences:
        padded = (BOS,) * (n - 1) + tuple(sentence) + (EOS,)
        for gram in zip(*(padded[i:] for i in range(n))):
            counts[gram] = counts.get(gram, 0) + 1
    return counts
""",
    },
    "add_k": {
        "sums_at_each_call": """
class AddKLM(NGramLM):
    def __init__(self, n, k=1.0):
        super().__init__(n)
        self.k = k

    def prob(self, word, context):
        top = self.counts[self.n]
        seen = sum(top.get(tuple(context) + (w,), 0) for w in self.vocab)
        return (top.get(tuple(context) + (word,), 0) + self.k) / (seen + self.k * len(self.vocab))
""",
    },
    "kneser_ney": {
        "recursive": """
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
        self.memo = {}

    def _a(self, m, gram):
        return self.counts[m].get(gram, 0) if m == self.n else self.continuation[m].get(gram, 0)

    def _totals(self, m, g):
        if (m, g) not in self.memo:
            values = [self._a(m, g + (w,)) for w in self.vocab]
            self.memo[m, g] = (sum(values), sum(1 for v in values if v > 0))
        return self.memo[m, g]

    def _p(self, word, g, m):
        if m == 0:
            return 1.0 / len(self.vocab)
        total, types = self._totals(m, g)
        lower = self._p(word, g[1:], m - 1)
        if total == 0:
            return lower
        return max(self._a(m, g + (word,)) - self.discount, 0) / total + self.discount * types / total * lower

    def prob(self, word, context):
        return self._p(word, tuple(context), self.n)
""",
    },
    "perplexity": {
        "bits_with_history": """
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
    },
    "sample": {
        "cumulative_sum": """
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
    },
}

DELEGATING = {
    "counts": {
        "fit_a_model": """
def count_ngrams(sentences, n):
    return NGramLM(n).fit(sentences).counts[n]
""",
    },
    "add_k": {
        "subclass_of_lmcore": """
import lmcore.ngram


class AddKLM(lmcore.ngram.AddK):
    pass
""",
    },
    "kneser_ney": {
        "subclass_of_lmcore": """
from lmcore.ngram import KneserNey


class KneserNeyLM(KneserNey):
    pass
""",
    },
    "perplexity": {
        "model_perplexity": """
def perplexity(model, sentences):
    return model.perplexity(sentences)
""",
    },
    "sample": {
        "model_sample": """
def sample(model, rng, max_words=100):
    return model.sample(rng, max_words)
""",
    },
}
