"""What A2's parts share: the special tokens, arbitrary Unicode, the delegation rules, and the
two steps every byte-level BPE part starts with (cutting at special tokens, pre-tokenizing),
written once for the known mistakes to vary."""

import random

import regex

from lmcore import bpe as ref_bpe
from lmcore import unigram as ref_unigram
from lmcore.bpe import GPT2_PATTERN
from lmcore.grading.tracer import Rules

SPECIALS = ("<|endoftext|>", "<|pad|>")
# one special token is a prefix of the others, and comes first: only the longest-match rule
# cuts "<|endoftext|>" whole
PREFIX_SPECIALS = ("<|end", "<|end|>", "<|endoftext|>")
LOG_TOL = 1e-9  # absolute, on log-probabilities of short texts

LIBRARIES = ("tokenizers", "sentencepiece", "tiktoken")
BPE_RULES = Rules(
    code=(ref_bpe, ref_bpe.Tokenizer),
    libraries=LIBRARIES,
    names=("Tokenizer", "train_bpe_naive", "SentencePieceProcessor", "get_encoding"),
)
UNIGRAM_RULES = Rules(
    code=(ref_unigram,), libraries=LIBRARIES, names=("forward_backward", "SentencePieceProcessor")
)


def random_unicode(rng: random.Random, length: int) -> str:
    """Arbitrary text: ASCII, Latin accents, Greek, CJK, emoji, combining marks, odd whitespace and
    anything else below U+10FFFF except the surrogates (which UTF-8 cannot encode)."""
    ranges = [(0x20, 0x7E), (0x00, 0x1F), (0xC0, 0x17F), (0x370, 0x3FF), (0x300, 0x36F), (0x4E00, 0x4E7F)]
    ranges += [(0x1F600, 0x1F64F), (0x2000, 0x200F), (0x80, 0x10FFFF)]
    out = []
    for _ in range(length):
        lo, hi = rng.choice(ranges)
        c = rng.randint(lo, hi)
        out.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0xFFFD))
    return "".join(out)


# ------------------------------------------------------------- for the known mistakes


def split_specials(text: str, special_tokens, longest_first: bool = True) -> list[tuple[str, bool]]:
    """[(chunk, is_special), ...] as the notebook's helper cuts it; ``longest_first=False`` tries
    the special tokens in the order given, so a shorter one can cut a longer one short."""
    if not special_tokens:
        return [(text, False)] if text else []
    ordered = sorted(special_tokens, key=len, reverse=True) if longest_first else special_tokens
    alternatives = "|".join(regex.escape(s) for s in ordered)
    return [(c, i % 2 == 1) for i, c in enumerate(regex.split(f"({alternatives})", text)) if c]


# GPT-2's pattern with ASCII classes in place of \p{L} and \p{N}, as written for ``re``: a
# letter outside A-Z starts a new pre-token
ASCII_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
# GPT-2's pattern copied by hand with one parenthesis lost: it does not compile
BROKEN_PATTERN = GPT2_PATTERN.replace("(?:[sdmt]|ll|ve|re)", "(?:[sdmt]|ll|ve|re")
