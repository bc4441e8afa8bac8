"""A small probabilistic grammar of story sentences whose probabilities are known exactly.

A ``Grammar`` maps each nonterminal to a list of ``(probability, right-hand side)``
rules. It is finite (no recursion) and, for ``STORY_GRAMMAR``, unambiguous: every
sentence has exactly one derivation, so p(sentence) is the product of the
probabilities of the rules used. That makes the entropy of the corpus, the
probability of any sentence and the KL divergence to a model computable without
sampling, which is what the chapters measure models against.

Sentences are tuples of lowercase words with punctuation as separate tokens, e.g.
``("the", "little", "cat", "saw", "a", "red", "ball", "in", "the", "garden", ".")``.
Log-probabilities are natural logs (nats).
"""

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain, product

from lmcore.validation import non_negative_int, positive

Rules = dict[str, list[tuple[float, tuple[str, ...]]]]
State = tuple[tuple[str, ...], tuple[tuple[str, int], ...], float]  # see Grammar._parse
END = "</s>"  # the end of a sentence, as a key of Grammar.next_word_probs


@dataclass(frozen=True)
class Sentence:
    """One sentence of a grammar: its words and its exact log-probability (nats)."""

    words: tuple[str, ...]
    logprob: float


class Grammar:
    """A finite probabilistic context-free grammar.

    A symbol is a nonterminal iff it is a key of ``rules``; every other symbol is a
    word. Construction checks that each nonterminal's rule probabilities are positive
    and sum to 1, that no nonterminal derives itself, that every nonterminal is
    reachable from ``start``, and that words are non-empty and free of whitespace.
    """

    def __init__(self, rules: Rules, start: str = "S"):
        self.rules = {lhs: [(float(p), tuple(rhs)) for p, rhs in alts] for lhs, alts in rules.items()}
        self.start = start
        self._validate()
        self._logp = {lhs: [math.log(p) for p, _ in alts] for lhs, alts in self.rules.items()}
        self._yields = cache(self._yields_uncached)

    # ----------------------------------------------------------------- checks
    def _validate(self) -> None:
        if self.start not in self.rules:
            raise ValueError(f"start symbol {self.start!r} has no rules; add rules[{self.start!r}]")
        for lhs, alts in self.rules.items():
            if not alts:
                raise ValueError(f"nonterminal {lhs!r} has no rules; give it at least one")
            for p, rhs in alts:
                positive(f"the probability of rule {lhs} -> {' '.join(rhs)}", p)
                for sym in rhs:
                    if not isinstance(sym, str) or not sym or sym != sym.strip() or " " in sym or sym == END:
                        raise ValueError(
                            f"rule {lhs} -> {rhs} has symbol {sym!r}; symbols must be non-empty "
                            f"strings without spaces, other than {END!r}"
                        )
            total = sum(p for p, _ in alts)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"the probabilities of the rules of {lhs!r} sum to {total!r}, not 1")
        # depth-first search from the start: a nonterminal met again on the current path is recursion
        state: dict[str, str] = {}  # "active" while on the path, "done" after

        def visit(sym: str, path: list[str]) -> None:
            state[sym] = "active"
            for _, rhs in self.rules[sym]:
                for child in rhs:
                    if child not in self.rules:
                        continue
                    if state.get(child) == "active":
                        cycle = " -> ".join(path[path.index(child) :] + [child])
                        raise ValueError(f"the grammar is recursive ({cycle}); it must be finite")
                    if child not in state:
                        visit(child, path + [child])
            state[sym] = "done"

        visit(self.start, [self.start])
        unreachable = sorted(set(self.rules) - set(state))
        if unreachable:
            raise ValueError(f"nonterminals {unreachable} cannot be reached from {self.start!r}; remove them")

    # ---------------------------------------------------------------- sampling
    def sample(self, rng: random.Random) -> Sentence:
        """Draw one sentence by expanding nonterminals left to right with ``rng``."""
        words: list[str] = []
        logprob = 0.0
        stack = [self.start]
        while stack:
            sym = stack.pop()
            if sym not in self.rules:
                words.append(sym)
                continue
            alts = self.rules[sym]
            u, i = rng.random(), 0
            while i < len(alts) - 1 and u >= alts[i][0]:
                u -= alts[i][0]
                i += 1
            logprob += self._logp[sym][i]
            stack.extend(reversed(alts[i][1]))
        return Sentence(tuple(words), logprob)

    # ----------------------------------------------------------------- parsing
    def _parse(
        self, words: Sequence[str]
    ) -> list[tuple[tuple[str, ...], tuple[tuple[str, int], ...], float]]:
        """The parse states after reading ``words``, each led by a word or finished.

        A state is (symbols still to produce, rules used so far as (nonterminal, rule
        index) pairs, their total log-probability). Raises ValueError at the first
        word that cannot continue a sentence of the grammar.
        """
        if isinstance(words, str):
            raise TypeError(f"words must be a list of words such as text.split(), not the string {words!r}")
        words = tuple(words)
        states = self._expand([((self.start,), (), 0.0)])
        for pos, word in enumerate(words):
            states = self._expand(
                [(todo[1:], used, lp) for todo, used, lp in states if todo and todo[0] == word]
            )
            if not states:
                context = " ".join(words[:pos]) or "(start of sentence)"
                raise ValueError(
                    f"word {word!r} at position {pos} (counting from 0) cannot follow {context!r} "
                    "in any sentence of the grammar"
                )
        return states

    def _expand(self, states: list[State]) -> list[State]:
        """Replace leading nonterminals by their right-hand sides until a word (or nothing) leads."""
        out = []
        while states:
            todo, used, lp = states.pop()
            if todo and todo[0] in self.rules:
                lhs = todo[0]
                for i, (_, rhs) in enumerate(self.rules[lhs]):
                    states.append((rhs + todo[1:], used + ((lhs, i),), lp + self._logp[lhs][i]))
            else:
                out.append((todo, used, lp))
        return out

    def _finished(self, words: Sequence[str]) -> list[State]:
        """The parse states that derive exactly ``words``; ValueError if there are none."""
        done = [state for state in self._parse(words) if not state[0]]
        if not done:
            raise ValueError(
                f"the sentence stops too early: no sentence of the grammar ends after {len(words)} words"
            )
        return done

    def derivations(self, words: Sequence[str]) -> list[tuple[tuple[str, int], ...]]:
        """All derivations of ``words``, each as the (nonterminal, rule index) pairs used, in order.

        Raises ValueError naming the first position whose word cannot continue a
        sentence of the grammar, or saying the sentence stops too early.
        """
        return [used for _, used, _ in self._finished(words)]

    def next_word_probs(self, prefix: Sequence[str]) -> dict[str, float]:
        """The exact distribution of the word after ``prefix``: p(w | prefix), summing to 1.

        The key ``END`` ("</s>") is the probability that the sentence ends there.
        Together with the chain rule this makes the grammar an autoregressive model:
        the product of these probabilities along a sentence, END included, is
        exp(logprob(sentence)).
        """
        mass: dict[str, float] = {}
        for todo, _, lp in self._parse(prefix):
            key = todo[0] if todo else END
            mass[key] = mass.get(key, 0.0) + math.exp(lp)
        total = sum(mass.values())
        return {w: m / total for w, m in sorted(mass.items(), key=lambda kv: -kv[1])}

    def logprob(self, words: Sequence[str]) -> float:
        """Exact log-probability (nats) of a sentence: the sum over its derivations."""
        logps = [lp for _, _, lp in self._finished(words)]
        top = max(logps)
        return top + math.log(sum(math.exp(lp - top) for lp in logps))

    # ------------------------------------------------------------ exact values
    def entropy(self) -> float:
        """Exact entropy of a sentence in nats (for an unambiguous grammar), by recursion over rules.

        H(A) = H(choice of rule at A) + sum_r p(r) * sum of H(child) over the rule's nonterminals.
        """

        @cache
        def h(sym: str) -> float:
            if sym not in self.rules:
                return 0.0
            return sum(p * (-math.log(p) + sum(h(c) for c in rhs)) for p, rhs in self.rules[sym])

        return h(self.start)

    def expected_length(self) -> float:
        """Exact expected number of words (punctuation included) per sentence."""

        @cache
        def length(sym: str) -> float:
            if sym not in self.rules:
                return 1.0
            return sum(p * sum(length(c) for c in rhs) for p, rhs in self.rules[sym])

        return length(self.start)

    def entropy_per_token(self) -> float:
        """Entropy per predicted token in nats: entropy() / (expected_length() + 1).

        The +1 counts the end of the sentence as one more predicted token, as an
        n-gram model predicts ``</s>``.
        """
        return self.entropy() / (self.expected_length() + 1)

    def vocabulary(self) -> tuple[str, ...]:
        """All words of the grammar, sorted."""
        symbols = {s for alts in self.rules.values() for _, rhs in alts for s in rhs}
        return tuple(sorted(symbols - set(self.rules)))

    def sentences(self) -> Iterator[Sentence]:
        """Every sentence of the grammar (one per derivation) with its exact log-probability."""
        for words, logprob in self._derive(self.start):
            yield Sentence(words, logprob)

    def _derive(self, sym: str) -> Iterator[tuple[tuple[str, ...], float]]:
        """Every (words, log-probability) that a nonterminal derives, one per derivation."""
        for logp, (_, rhs) in zip(self._logp[sym], self.rules[sym], strict=True):
            for parts in product(*(self._yields(c) for c in rhs)):
                words, logps = zip(*parts, strict=True) if parts else ((), ())
                yield tuple(chain.from_iterable(words)), logp + sum(logps)

    def _yields_uncached(self, sym: str) -> list[tuple[tuple[str, ...], float]]:
        """``_derive`` as a list, and a word as itself; cached per grammar in ``__init__``."""
        return list(self._derive(sym)) if sym in self.rules else [((sym,), 0.0)]

    def __repr__(self) -> str:
        size = f"{len(self.rules)} nonterminals, {len(self.vocabulary())} words"
        return f"Grammar({size}, start={self.start!r})"


def _even(*options: str) -> list[tuple[float, tuple[str, ...]]]:
    """Equally likely alternatives, each a space-separated right-hand side ("was happy")."""
    return [(1 / len(options), tuple(o.split())) for o in options]


def _optional(p_none: float, *options: str) -> list[tuple[float, tuple[str, ...]]]:
    """Nothing with probability p_none, else one of the equally likely options."""
    return [(p_none, ())] + [(p * (1 - p_none), rhs) for p, rhs in _even(*options)]


# Story sentences in five shapes: past-tense events ("the little cat saw a red ball in the garden ."),
# a named child and a pronoun that must agree with the name four or more words back ("anna lost her kite
# , so she cried ."), present-tense sentences whose verb agrees in number with a subject that a relative
# clause may separate from it ("the dogs that saw the cat sleep ."), "there was a ..." openers and
# scene changes ("one day , tom ran to the park ."). Each shape is unambiguous and no two share a string.
STORY_GRAMMAR = Grammar(
    {
        "S": [
            (0.40, ("SUBJ", "VT_PAST", "OBJ", "PLACE_OPT", ".")),
            (0.09, ("BOY", "VT_PAST", "his", "COLOR_OPT", "THING", "CONJ", "he", "AFTER", ".")),
            (0.09, ("GIRL", "VT_PAST", "her", "COLOR_OPT", "THING", "CONJ", "she", "AFTER", ".")),
            (0.15, ("NP_SG", "REL_OPT", "VP_SG", ".")),
            (0.15, ("NP_PL", "REL_OPT", "VP_PL", ".")),
            (0.04, ("there", "was", "a", "ADJ_OPT", "ANIMAL_SG", "PLACE_OPT", ".")),
            (0.08, ("TIME", ",", "NAME", "MOVED", "to", "the", "PLACE", ".")),
        ],
        "SUBJ": [(0.5, ("NAME",)), (0.5, ("NP_SG",))],
        "NAME": [(0.5, ("BOY",)), (0.5, ("GIRL",))],
        "BOY": _even("tom", "sam", "ben", "max", "leo", "jack"),
        "GIRL": _even("anna", "lily", "mia", "emma", "lucy", "rose"),
        "NP_SG": [(1.0, ("the", "ADJ_OPT", "ANIMAL_SG"))],
        "NP_PL": [(1.0, ("the", "ADJ_OPT", "ANIMAL_PL"))],
        "ADJ_OPT": _optional(0.5, "little", "big", "happy", "hungry", "brown", "lazy"),
        "ANIMAL_SG": _even("cat", "dog", "bird", "rabbit", "fox", "duck", "mouse", "frog"),
        "ANIMAL_PL": _even("cats", "dogs", "birds", "rabbits", "foxes", "ducks", "mice", "frogs"),
        "ANIMAL": [(0.5, ("ANIMAL_SG",)), (0.5, ("ANIMAL_PL",))],
        "VT_PAST": _even("saw", "found", "lost", "liked", "took", "wanted", "dropped", "kicked"),
        "OBJ": [(0.5, ("a", "COLOR_OPT", "THING")), (0.5, ("the", "COLOR_OPT", "THING"))],
        "COLOR_OPT": _optional(0.5, "red", "blue", "green", "shiny"),
        "THING": _even("ball", "box", "hat", "cake", "book", "kite", "boat", "drum"),
        "PLACE_OPT": _optional(0.5, "PREP the PLACE"),
        "PREP": _even("in", "near"),
        "PLACE": _even("garden", "park", "forest", "house", "kitchen", "barn", "yard", "school"),
        "CONJ": [(0.5, ("and",)), (0.3, (",", "so")), (0.2, ("but",))],
        "AFTER": _even("was happy", "was sad", "smiled", "laughed", "cried", "went home", "ran away", "sang"),
        "MOVED": _even("went", "ran", "walked"),
        "REL_OPT": [(0.5, ()), (0.5, ("that", "VT_PAST", "the", "ANIMAL"))],
        "VP_SG": [(0.6, ("VI_SG", "WHEN_OPT")), (0.4, ("is", "STATE"))],
        "VP_PL": [(0.6, ("VI_PL", "WHEN_OPT")), (0.4, ("are", "STATE"))],
        "VI_SG": _even("sleeps", "runs", "jumps", "plays", "eats", "sings", "hides", "swims"),
        "VI_PL": _even("sleep", "run", "jump", "play", "eat", "sing", "hide", "swim"),
        "WHEN_OPT": _optional(0.5, "every day", "at night", "all day", "today"),
        "STATE": _even("happy", "sad", "hungry", "tired", "sleepy", "brave", "quiet", "funny"),
        "TIME": _even("one day", "that night", "after lunch", "in the morning", "later"),
    }
)


def sample_sentences(n: int, seed: int = 0, grammar: Grammar = STORY_GRAMMAR) -> list[Sentence]:
    """``n`` i.i.d. sentences drawn with ``random.Random(seed)``: the same seed gives the same corpus."""
    n = non_negative_int("n", n)
    rng = random.Random(seed)
    return [grammar.sample(rng) for _ in range(n)]


def stories(n: int, seed: int = 0, sentences_per_story: tuple[int, int] = (3, 6)) -> list[str]:
    """``n`` short stories from ``STORY_GRAMMAR``, each of lo..hi sentences (both inclusive).

    A story is its sentences' tokens joined by single spaces, punctuation included
    ("tom found a ball . the dog is happy ."), so ``story.split()`` gives the tokens
    back. Sentences are i.i.d., so a story's log-probability is the sum of its
    sentences'.
    """
    n = non_negative_int("n", n)
    lo, hi = sentences_per_story
    if not 1 <= lo <= hi:
        raise ValueError(f"sentences_per_story needs 1 <= lo <= hi, got {sentences_per_story}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(lo, hi)
        out.append(" ".join(w for _ in range(k) for w in STORY_GRAMMAR.sample(rng).words))
    return out
