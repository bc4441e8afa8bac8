"""A mixed English corpus of a chosen size, for training tokenizers and benchmarks."""

import random

from lmcore.data.arithmetic import word_problems
from lmcore.data.book_text import book_text
from lmcore.data.grammar import stories
from lmcore.validation import positive_int


def training_text(n_bytes: int, seed: int = 0) -> str:
    """Between n_bytes - 1000 and n_bytes UTF-8 bytes of paragraphs separated by blank lines.

    Paragraphs of the book's prose, grammar stories and arithmetic word problems
    take turns. Every round shuffles the book's paragraphs and draws new stories and
    problems with seeds taken from ``random.Random(seed)``, and rounds repeat until
    the size is reached. The text ends at a paragraph boundary when that leaves
    less than 1000 bytes unused, otherwise inside the last paragraph at a word
    (failing that, a character) boundary. Same arguments, same text.
    """
    n_bytes = positive_int("n_bytes", n_bytes)
    book = book_text().split("\n\n")
    rng = random.Random(seed)
    parts: list[str] = []
    size = -2  # the first paragraph has no separator before it
    while True:
        order = rng.sample(book, len(book))
        tales = stories(len(book), seed=rng.getrandbits(32))
        problems = [p.question for p in word_problems(len(book), seed=rng.getrandbits(32))]
        for paragraph in (p for trio in zip(order, tales, problems, strict=True) for p in trio):
            need = len(paragraph.encode()) + 2
            if size + need <= n_bytes:
                parts.append(paragraph)
                size += need
                continue
            room = n_bytes - size - 2
            if room >= 1000 - 2:  # too much left unused: cut this paragraph to fill the room
                parts.append(_prefix(paragraph, room))
            return "\n\n".join(parts)


def _prefix(text: str, n_bytes: int) -> str:
    """The longest prefix of ``text`` within n_bytes UTF-8 bytes, ending at a word boundary if one fits."""
    cut = text.encode()[:n_bytes].decode("utf-8", errors="ignore")  # drops only a split last character
    words = cut.rsplit(" ", 1)[0] if " " in cut and not text[len(cut) :].startswith(" ") else cut
    return words if len(words.encode()) >= n_bytes - 900 else cut
