"""Generated text with a large vocabulary, for tokenizer training, its checks and benchmarks.

The stories and word problems have a few hundred distinct words, too few for byte-pair encoding
to behave as it does on real text; the synthetic lexicon adds 20,000 Zipf-distributed words.
"""

import itertools
import random

from lmcore.data.arithmetic import word_problems
from lmcore.data.grammar import stories
from lmcore.validation import positive_int

ONSETS = [
    "",
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "br",
    "st",
    "tr",
    "ch",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "é", "ö", "ñu"]
CODAS = ["", "", "", "n", "r", "s", "l", "t", "ng"]


def _lexicon(rng: random.Random, size: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        words[
            "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
        ] = None
    return list(words)


def synthetic_text(n_bytes: int, seed: int = 0) -> str:
    """At most n_bytes of generated text with the statistics BPE cares about: sentences over a
    synthetic lexicon of 20,000 words (some with accented letters) whose frequencies follow
    Zipf's law, with punctuation and numbers, taking turns with grammar stories and word
    problems in English. Unlike ``training_text`` it has none of the book's prose, so it does
    not change when a chapter is edited: the A2 checks and the tokenizer benchmark use it.
    Same arguments, same text."""
    n_bytes = positive_int("n_bytes", n_bytes)
    rng = random.Random(seed)
    lexicon = _lexicon(random.Random(0), 20_000)
    cumulative = list(itertools.accumulate(1 / (rank + 2.7) for rank in range(len(lexicon))))
    parts, size = [], 0
    while size < n_bytes:
        for _ in range(20):
            words = rng.choices(lexicon, cum_weights=cumulative, k=rng.randint(30, 90))
            for i in range(0, len(words), 9):
                words[i] = words[i].capitalize()
                words[i - 1] += rng.choice([".", ".", ".", ",", "!", "?", ";", f" {rng.randint(0, 2030)}."])
            parts.append(" ".join(words))
        parts += stories(5, seed=rng.getrandbits(32))
        parts += [p.question for p in word_problems(5, seed=rng.getrandbits(32))]
        size = sum(len(p.encode()) + 2 for p in parts)
    return "\n\n".join(parts).encode()[:n_bytes].decode("utf-8", errors="ignore")
