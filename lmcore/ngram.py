"""Word-level n-gram language models: counts, maximum likelihood and four smoothed estimates.

A sentence is a sequence of word strings. An order-n model reads it padded with
n-1 begin markers and one end marker, ``pad(["a", "b"], 3) == ("<s>", "<s>", "a", "b", "</s>")``,
and predicts every word after the begin markers, the end marker included:

    P(w_1 .. w_T) = prod_{t=1}^{T+1} P(w_t | w_{t-n+1} .. w_{t-1}),   w_{T+1} = </s>

``NGramLM`` holds the counts and everything that only needs ``prob`` (distributions,
log-probabilities, perplexity, sampling); each estimator is a small subclass that
defines ``prob`` and precomputes its tables in ``prepare``:

- ``MLE``:          c(h w) / c(h)
- ``AddK``:         (c(h w) + k) / (c(h) + k |V|)
- ``Interpolated``: Jelinek-Mercer mixing of orders n, n-1, ..., 1 and the uniform distribution
- ``Backoff``:      absolute discounting, backing off to the lower order for unseen words
- ``KneserNey``:    interpolated Kneser-Ney with continuation counts at the lower orders
"""

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence

from lmcore.validation import non_negative_int, positive, positive_int, probability, real

BOS, EOS, UNK = "<s>", "</s>", "<unk>"

Context = tuple[str, ...]


def pad(sentence: Sequence[str], n: int) -> tuple[str, ...]:
    """n-1 begin markers, the words, one end marker: pad(["hi"], 3) == ("<s>", "<s>", "hi", "</s>")."""
    _check_order(n)
    return (BOS,) * (n - 1) + tuple(sentence) + (EOS,)


def ngrams(tokens: Sequence[str], m: int) -> list[tuple[str, ...]]:
    """All contiguous m-grams of tokens, in order (none if there are fewer than m tokens)."""
    _check_order(m, name="m")
    tokens = tuple(tokens)
    return [tokens[i : i + m] for i in range(len(tokens) - m + 1)]


def count_ngrams(sentences: Iterable[Sequence[str]], n: int) -> Counter:
    """Counter of the n-grams of pad(s, n) over all sentences."""
    counts = Counter()
    for sentence in sentences:
        counts.update(ngrams(pad(sentence, n), n))
    return counts


def _check_order(n: int, name: str = "n") -> None:
    positive_int(name, n, hint="1 for unigrams, 2 for bigrams, ...")


def _check_sentence(sentence, where: str) -> None:
    """A sentence is a list or tuple of word strings without the BOS/EOS markers."""
    if isinstance(sentence, str) or not isinstance(sentence, (list, tuple)):
        raise ValueError(
            f"{where} is {type(sentence).__name__} {sentence!r:.60}, not a list of words: "
            "pass a list of token lists, e.g. [s.split() for s in lines]"
        )
    for word in sentence:
        if not isinstance(word, str):
            raise ValueError(f"{where} holds {word!r} of type {type(word).__name__}; words must be str")
        if word in (BOS, EOS):
            raise ValueError(
                f"{where} contains the marker {word!r}; the model adds {BOS!r} and {EOS!r} itself"
            )


def _check_sentences(sentences) -> None:
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise ValueError(
            f"sentences is {type(sentences).__name__}, not a list of sentences: "
            "pass a list of token lists, e.g. [s.split() for s in lines]"
        )
    if not sentences:
        raise ValueError("sentences is empty: pass at least one sentence (a list of words)")
    for i, sentence in enumerate(sentences):
        _check_sentence(sentence, f"sentences[{i}]")


def _followers(grams: Counter) -> dict[Context, dict[str, int]]:
    """Group m-gram counts by context: {h: {w: c(h w)}} with c(h w) > 0 and w a predicted word (not BOS)."""
    table: dict[Context, dict[str, int]] = {}
    for gram, count in grams.items():
        if gram[-1] != BOS and count > 0:
            table.setdefault(gram[:-1], {})[gram[-1]] = count
    return table


def _totals(followers: dict[Context, dict[str, int]]) -> dict[Context, int]:
    """{h: c(h)}: how often each context is followed by a predicted word."""
    return {h: sum(words.values()) for h, words in followers.items()}


def _check_discount(d: float) -> float:
    return real("discount", d, low=0.0, high=1.0, open_low=True, open_high=True)


class NGramLM:
    """An order-n word model fitted by counting; subclasses say how counts become probabilities.

    After ``fit(sentences)``:

    - ``self.vocab``: the sorted tuple of words the model predicts, every training word
      plus ``EOS`` and ``UNK``. ``BOS`` is context only: never predicted, not in vocab.
    - ``self.counts[m]`` for m = 1..n: Counter of the m-grams of ``pad(s, self.n)`` over all
      training sentences (always n-1 begin markers, also for the lower orders m < n).

    Definitions every subclass uses, for a context h (a tuple of m-1 tokens) and a word w:

    - c(h w)     = self.counts[len(h) + 1][h + (w,)]
    - c(h)       = sum over w in vocab of c(h w): how often h is followed by a predicted word.
      This is not self.counts[len(h)][h], which also counts h at the end of a sentence
      or followed by BOS.
    - N1+(h •)   = the number of w in vocab with c(h w) > 0.

    A subclass implements ``prob`` and may precompute tables in ``prepare``, which
    ``fit`` calls after counting.
    """

    def __init__(self, n: int):
        _check_order(n)
        self.n = n
        self.vocab: tuple[str, ...] = ()
        self.counts: dict[int, Counter] = {}

    def fit(self, sentences: Sequence[Sequence[str]]) -> "NGramLM":
        """Count the m-grams of the padded sentences for m = 1..n, build the vocabulary, call prepare()."""
        _check_sentences(sentences)
        words = {word for sentence in sentences for word in sentence}
        self.vocab = tuple(sorted(words | {EOS, UNK}))
        self._known = frozenset(self.vocab) | {BOS}
        self.counts = {m: Counter() for m in range(1, self.n + 1)}
        for sentence in sentences:
            padded = pad(sentence, self.n)
            for m in range(1, self.n + 1):
                self.counts[m].update(ngrams(padded, m))
        self.prepare()
        return self

    def prepare(self) -> None:
        """Hook for subclasses: precompute tables from self.counts. The default does nothing."""

    def prob(self, word: str, context: Context) -> float:
        """P(word | context). ``word`` is in self.vocab; ``context`` is a tuple of exactly n-1
        tokens, each in self.vocab or BOS (``distribution`` and ``logprob`` guarantee both)."""
        raise NotImplementedError(f"{type(self).__name__} must implement prob(word, context)")

    def _check_fitted(self) -> None:
        if not self.vocab:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(sentences) first")

    def map_unknown(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """Replace every token that is neither in the vocabulary nor BOS by UNK."""
        self._check_fitted()
        return tuple(t if t in self._known else UNK for t in tokens)

    def distribution(self, context: Sequence[str]) -> dict[str, float]:
        """{w: P(w | context) for w in vocab}; context is n-1 tokens (unknown ones become UNK)."""
        self._check_fitted()
        if isinstance(context, str) or not isinstance(context, (list, tuple)):
            raise ValueError(f"context must be a tuple of {self.n - 1} tokens, got {context!r:.60}")
        if len(context) != self.n - 1:
            raise ValueError(
                f"an order-{self.n} model needs a context of exactly {self.n - 1} tokens "
                f"(pad with {BOS!r} at a sentence start), got {len(context)}: {tuple(context)!r}"
            )
        ctx = self.map_unknown(context)
        return {w: self.prob(w, ctx) for w in self.vocab}

    def logprob(self, sentence: Sequence[str]) -> float:
        """Natural log-probability of the sentence and its EOS; -inf if any factor is 0."""
        self._check_fitted()
        _check_sentence(sentence, "sentence")
        padded = pad(self.map_unknown(sentence), self.n)
        total = 0.0
        for t in range(self.n - 1, len(padded)):
            p = self.prob(padded[t], padded[t - self.n + 1 : t])
            if p <= 0.0:
                return -math.inf
            total += math.log(p)
        return total

    def perplexity(self, sentences: Sequence[Sequence[str]]) -> float:
        """exp(-(sum of logprob) / N), N = number of words plus one EOS per sentence; inf if any is -inf."""
        _check_sentences(sentences)
        total = 0.0
        for sentence in sentences:
            lp = self.logprob(sentence)
            if lp == -math.inf:
                return math.inf
            total += lp
        n_predicted = sum(len(s) + 1 for s in sentences)
        return math.exp(-total / n_predicted)

    def sample(self, rng: random.Random, max_words: int = 100) -> list[str]:
        """Draw one sentence word by word, starting from n-1 BOS; EOS ends it and is not returned.

        Each word uses one ``rng.random()`` value r and is the first word, in vocab order,
        whose cumulative probability exceeds r (the last word with non-zero probability if
        rounding leaves the total below r). At most ``max_words`` words are drawn: 0 draws
        nothing and returns [].
        """
        self._check_fitted()
        if not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, e.g. random.Random(0), got {type(rng).__name__}")
        non_negative_int("max_words", max_words)
        context = (BOS,) * (self.n - 1)
        words: list[str] = []
        while len(words) < max_words:
            r, cumulative, word = rng.random(), 0.0, None
            for w, p in self.distribution(context).items():
                if p > 0.0:
                    word = w
                    cumulative += p
                    if r < cumulative:
                        break
            if word == EOS:
                break
            words.append(word)
            context = (context + (word,))[1:]
        return words


class MLE(NGramLM):
    """Maximum likelihood: P(w | h) = c(h w) / c(h); undefined (ValueError) where c(h) = 0."""

    def prepare(self) -> None:
        self._total = _totals(_followers(self.counts[self.n]))

    def prob(self, word: str, context: Context) -> float:
        total = self._total.get(context, 0)
        if total == 0:
            raise ValueError(
                f"context {context!r} never seen in training; maximum likelihood is undefined there, "
                "use a smoothed model"
            )
        return self.counts[self.n][context + (word,)] / total


class AddK(NGramLM):
    """Add-k (Laplace for k = 1): P(w | h) = (c(h w) + k) / (c(h) + k |V|); uniform for an unseen h."""

    def __init__(self, n: int, k: float = 1.0):
        super().__init__(n)
        self.k = positive("k", k, hint="k = 1 is Laplace smoothing")

    def prepare(self) -> None:
        self._total = _totals(_followers(self.counts[self.n]))

    def prob(self, word: str, context: Context) -> float:
        count = self.counts[self.n][context + (word,)]
        return (count + self.k) / (self._total.get(context, 0) + self.k * len(self.vocab))


class Interpolated(NGramLM):
    """Jelinek-Mercer interpolation of all orders down to the uniform distribution.

    P_0(w) = 1/|V|;  P_m(w | h_m) = lam_m c(h_m w)/c(h_m) + (1 - lam_m) P_{m-1}(w | h_{m-1})
    for m = 1..n, where h_m is the last m-1 tokens of the context and P_m = P_{m-1} if
    c(h_m) = 0. ``lambdas[m-1]`` is lam_m, each in [0, 1].
    """

    def __init__(self, n: int, lambdas: Sequence[float]):
        super().__init__(n)
        if isinstance(lambdas, str) or not isinstance(lambdas, Sequence) or len(lambdas) != n:
            raise ValueError(f"lambdas must be a sequence of n = {n} weights, one per order; got {lambdas!r}")
        self.lambdas = tuple(probability(f"lambdas[{i}]", lam) for i, lam in enumerate(lambdas))

    def prepare(self) -> None:
        self._total = {m: _totals(_followers(self.counts[m])) for m in range(1, self.n + 1)}

    def prob(self, word: str, context: Context) -> float:
        p = 1.0 / len(self.vocab)
        for m in range(1, self.n + 1):
            h = context[self.n - m :]
            total = self._total[m].get(h, 0)
            if total > 0:
                lam = self.lambdas[m - 1]
                p = lam * self.counts[m][h + (word,)] / total + (1.0 - lam) * p
        return p


class Backoff(NGramLM):
    """Absolute-discount backoff, normalized (Katz style), recursive down to the uniform P_0 = 1/|V|.

    For a context h of order m (h' = h without its first token):
    if c(h) = 0:       P(w | h) = P_lower(w | h')
    elif c(h w) > 0:   P(w | h) = (c(h w) - d) / c(h)
    else:              P(w | h) = alpha(h) P_lower(w | h'),
    alpha(h) = (d N1+(h •) / c(h)) / (sum of P_lower(w' | h') over the w' in V with c(h w') = 0),
    so the mass taken from the seen words is shared by the unseen ones in proportion to the
    lower order.
    """

    def __init__(self, n: int, discount: float = 0.75):
        super().__init__(n)
        self.discount = _check_discount(discount)

    def prepare(self) -> None:
        self._followers = {m: _followers(self.counts[m]) for m in range(1, self.n + 1)}
        self._total = {m: _totals(f) for m, f in self._followers.items()}
        self._alpha: dict[Context, float] = {}  # filled lazily: contexts are few, the sums are not free

    def prob(self, word: str, context: Context) -> float:
        return self._prob(word, context, self.n)

    def _prob(self, word: str, context: Context, m: int) -> float:
        """P_m(word | h), h = the last m-1 tokens of the context; P_0 is uniform."""
        if m == 0:
            return 1.0 / len(self.vocab)
        h = context[self.n - m :]
        total = self._total[m].get(h, 0)
        if total == 0:
            return self._prob(word, context, m - 1)
        count = self._followers[m][h].get(word, 0)
        if count > 0:
            return (count - self.discount) / total
        return self._backoff_weight(context, m) * self._prob(word, context, m - 1)

    def _backoff_weight(self, context: Context, m: int) -> float:
        """alpha(h) for the seen order-m context h = the last m-1 tokens of the context."""
        h = context[self.n - m :]
        if h not in self._alpha:
            seen = self._followers[m][h]
            unseen_mass = 1.0 - math.fsum(self._prob(w, context, m - 1) for w in seen)
            reserved = self.discount * len(seen) / self._total[m][h]
            self._alpha[h] = reserved / unseen_mass if unseen_mass > 0 else 0.0  # 0: every word was seen
        return self._alpha[h]


class KneserNey(NGramLM):
    """Interpolated Kneser-Ney with one discount d, down to the uniform P_0 = 1/|V|.

    The top order counts a(g w) = c(g w); every lower order m < n counts how many distinct
    tokens x (BOS included) precede g w, the continuation count a(g w) = N1+(• g w): a word
    that is frequent only after one context (San -> Francisco) gets a small continuation
    count. With A(g) = sum over w in V of a(g w) and T(g) = the number of w in V with a(g w) > 0:

        P_m(w | g) = max(a(g w) - d, 0) / A(g) + d T(g) / A(g) P_{m-1}(w | g')   if A(g) > 0
        P_m(w | g) = P_{m-1}(w | g')                                              if A(g) = 0

    For n = 1 the single level uses raw counts.
    """

    def __init__(self, n: int, discount: float = 0.75):
        super().__init__(n)
        self.discount = _check_discount(discount)

    def prepare(self) -> None:
        # self._a[m]: the count table of level m, Counter of m-grams (raw at the top, continuation below)
        self._a: dict[int, Counter] = {self.n: self.counts[self.n]}
        for m in range(1, self.n):
            self._a[m] = Counter(gram[1:] for gram in self.counts[m + 1])
        self._total, self._types = {}, {}
        for m, table in self._a.items():
            followers = _followers(table)
            self._total[m] = _totals(followers)
            self._types[m] = {g: len(words) for g, words in followers.items()}

    def prob(self, word: str, context: Context) -> float:
        p = 1.0 / len(self.vocab)
        d = self.discount
        for m in range(1, self.n + 1):
            g = context[self.n - m :]
            total = self._total[m].get(g, 0)
            if total > 0:
                p = max(self._a[m][g + (word,)] - d, 0.0) / total + d * self._types[m][g] / total * p
        return p
