"""A2, part 2: ``encode(text, merges, special_tokens=())``.

Contract (``lmcore.bpe.encode``): cut the text at special tokens (the longest match first),
each becoming its id ``256 + len(merges) + j``; pre-tokenize the rest with GPT-2's pattern and
encode each pre-token from its UTF-8 bytes by repeatedly merging the adjacent pair of lowest
merge rank (merge ``i`` is id ``256 + i``) until none is a merge. Checked exactly against
lmcore and against Hugging Face ``tokenizers`` loaded with the same merges (an oracle the
course did not write), on English, accents, emoji, CJK, whitespace runs, arbitrary Unicode,
the empty text, and special tokens of which one is a prefix of the others.
"""

import math
import random

import regex

from lmcore import bpe as ref
from lmcore.data import synthetic_text
from lmcore.grading.a2._common import (
    ASCII_PATTERN,
    BPE_RULES,
    PREFIX_SPECIALS,
    SPECIALS,
    random_unicode,
    split_specials,
)
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report

TEXTS = [
    "The cat sat on the mat.",
    "hello<|endoftext|>world",
    "<|endoftext|><|endoftext|> two specials, then <|pad|>.",
    "naïve café 🙂 日本語 — \"quotes\" don't, we'll, I'm",
    "numbers: 9.11 vs 9.9, 2024 and 1,000,000!",
    "  leading spaces\n\n\tand   runs   of whitespace  ",
]


def cases(thorough: bool = False) -> dict:
    rng = random.Random(7)
    texts = list(TEXTS)
    configs = [dict(train_seed=3, n_bytes=20_000, vocab_size=420, special_tokens=SPECIALS)]
    if thorough:
        texts += [synthetic_text(4_000, seed=99)[:4_000], "<|endoftext|>" * 3, "x<|pad|", ""]
        texts += ["a<|end|>b<|endoftext|>c<|end", "<|end|><|endoftext|><|end|"]
        texts += [random_unicode(rng, rng.randint(1, 60)) for _ in range(30)]
        configs += [
            dict(train_seed=4, n_bytes=20_000, vocab_size=500, special_tokens=()),
            dict(train_seed=5, n_bytes=8_000, vocab_size=300, special_tokens=PREFIX_SPECIALS),
        ]
    for c in configs:
        c["merges"] = ref.train_bpe(
            synthetic_text(c["n_bytes"], seed=c["train_seed"]), c["vocab_size"], c["special_tokens"]
        )
    return dict(configs=configs, texts=texts)


def probe(encode, case: dict) -> dict:
    """Untrusted: the ids of every text under every config's merges."""
    runs = []
    for c in case["configs"]:
        for text in case["texts"]:
            ids, error = attempt(encode, text, list(c["merges"]), list(c["special_tokens"]))
            if error is None:
                ids, error = attempt(lambda ids=ids: [int(i) for i in ids])
            runs.append(dict(ids=ids, error=error))
    return dict(runs=runs)


def _show(tokenizer, ids: list[int], at: int) -> str:
    window = ids[max(0, at - 2) : at + 3]
    try:
        return " | ".join(repr(b) for b in tokenizer.token_bytes(window))
    except (TypeError, ValueError):
        return repr(window)


def judge(case: dict, out: dict) -> Report:
    from lmcore.oracles.hf_bpe import hf_token_bytes, hf_tokenizer

    report = Report("encode")
    results = iter(out["runs"])
    for c in case["configs"]:
        tokenizer = ref.Tokenizer(c["merges"], c["special_tokens"])
        oracle = hf_tokenizer(c["merges"], c["special_tokens"])
        label = f"[{len(c['merges'])} merges, special tokens {list(c['special_tokens'])}]"
        errors, wrong, not_oracle = [], [], []
        for text in case["texts"]:
            got = next(results)
            if got["error"]:
                errors.append(f"encode({text[:40]!r}) raised {got['error']}")
                continue
            want = tokenizer.encode(text)
            if got["ids"] != want:
                at = next(
                    (i for i, (a, b) in enumerate(zip(got["ids"], want, strict=False)) if a != b), len(want)
                )
                wrong.append((text, got["ids"], want, at))
            valid = all(0 <= i < len(tokenizer.vocab) for i in got["ids"])
            if not valid or tokenizer.token_bytes(got["ids"]) != hf_token_bytes(oracle, text):
                not_oracle.append(text)
        report.add(f"{label} runs on every text", not errors, "\n".join(errors[:3]))
        detail = ""
        if wrong:
            text, g, w, at = wrong[0]
            detail = (
                f"{len(wrong)} of {len(case['texts'])} texts differ; first: {text[:60]!r}\n"
                f"first difference at token {at}: yours {_show(tokenizer, g, at)}\n"
                f"                       expected {_show(tokenizer, w, at)}"
            )
        report.add(f"{label} ids equal lmcore's Tokenizer.encode", not wrong, detail)
        report.add(
            f"{label} tokens equal Hugging Face tokenizers' BPE with the same merges (external oracle)",
            not not_oracle,
            f"{len(not_oracle)} texts differ, e.g. {not_oracle[0][:60]!r}" if not_oracle else "",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(*, merge="lowest_rank", specials="longest", special_offset=True, pattern=ref.GPT2_PATTERN):
    """The solution notebook's encoder with one classic mistake; the defaults are the correct one."""

    def encode(text, merges, special_tokens=()):
        rank = {pair: i for i, pair in enumerate(merges)}
        first = 256 + len(merges) if special_offset else 256
        special_id = {s: first + j for j, s in enumerate(special_tokens)}
        by_bytes = {bytes([b]): b for b in range(256)}
        for i, (left, right) in enumerate(merges):
            by_bytes.setdefault(left + right, 256 + i)

        def longest_match(data):
            ids, start = [], 0
            while start < len(data):
                end = max(e for e in range(start + 1, len(data) + 1) if data[start:e] in by_bytes)
                ids.append(by_bytes[data[start:end]])
                start = end
            return ids

        def by_rank(data):
            tokens = [(bytes([b]), b) for b in data]  # (bytes, id)
            while len(tokens) > 1:
                pairs = [(a[0], b[0]) for a, b in zip(tokens, tokens[1:], strict=False)]
                if merge == "leftmost":  # the first mergeable pair from the left, whatever its rank
                    best = next((rank[p] for p in pairs if p in rank), math.inf)
                else:
                    best = min(rank.get(p, math.inf) for p in pairs)
                if best == math.inf:
                    break
                pair, merged, i = merges[best], [], 0
                while i < len(tokens):
                    if i + 1 < len(tokens) and (tokens[i][0], tokens[i + 1][0]) == pair:
                        merged.append((pair[0] + pair[1], 256 + best))
                        i += 2
                    else:
                        merged.append(tokens[i])
                        i += 1
                tokens = merged
            return [i for _, i in tokens]

        encode_piece = longest_match if merge == "longest_match" else by_rank
        if specials == "not_split":
            chunks = [(text, False)] if text else []
        else:
            chunks = split_specials(text, special_tokens, longest_first=specials == "longest")
        ids = []
        for chunk, special in chunks:
            if special:
                ids.append(special_id[chunk])
                continue
            for piece in regex.findall(pattern, chunk):
                ids.extend(encode_piece(piece.encode("utf-8")))
        return ids

    return encode


MISTAKES = (
    Mistake(
        "greedy_longest_match",
        "greedy longest match is not BPE: start from bytes and apply merges in the order they were "
        "learned (lowest rank first), as training did.",
        _wrong(merge="longest_match"),
    ),
    Mistake(
        "leftmost_merge_first",
        "the leftmost mergeable pair is merged first: at each step merge the pair with the LOWEST merge "
        "rank anywhere in the pre-token, as training did.",
        _wrong(merge="leftmost"),
    ),
    Mistake(
        "special_tokens_split",
        "special tokens were split into ordinary tokens: cut the text at special tokens first (longest "
        "match first) and give each its own id, 256 + len(merges) + its index.",
        _wrong(specials="not_split"),
    ),
    Mistake(
        "specials_in_given_order",
        "a special token that is a prefix of another cuts it short: at each position the LONGEST special "
        "token that matches wins, so try them longest first (split_specials does).",
        _wrong(specials="given"),
    ),
    Mistake(
        "special_ids_overlap_merges",
        "special token j gets id 256 + j, which is a merge's id: the special tokens come after the "
        "merges, 256 + len(merges) + j.",
        _wrong(special_offset=False),
    ),
    Mistake(
        "ascii_letter_classes",
        "the pre-tokenizer knows only ASCII letters and digits, so a word with an accent or in another "
        "script is cut apart: use GPT2_PATTERN with the regex module, whose \\p{L} and \\p{N} are "
        "Unicode's letters and numbers.",
        _wrong(pattern=ASCII_PATTERN),
    ),
)

PART = Part(
    id="encode",
    names=("encode",),
    reference=(ref.encode,),
    section="ch03_tokenization#3.3",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=BPE_RULES,
)
check = PART.check
