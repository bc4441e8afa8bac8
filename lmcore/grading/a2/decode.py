"""A2, part 3: ``decode(ids, merges, special_tokens=())``.

Contract (``lmcore.bpe.decode``): join the bytes of every id (0..255 the bytes, 256 + i merge
i, then the special tokens) and decode them once as UTF-8 with ``errors="replace"``, so a
character split across tokens comes back whole and invalid bytes become U+FFFD; the empty
list is the empty text. An id outside the vocabulary, a negative one included, raises
ValueError. Checked exactly on round trips of arbitrary Unicode, characters split across
tokens, invalid UTF-8, special tokens and out-of-range ids.
"""

import random

from lmcore import bpe as ref
from lmcore.data import synthetic_text
from lmcore.grading.a2._common import BPE_RULES, SPECIALS, random_unicode
from lmcore.grading.a2.encode import TEXTS
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report


def cases(thorough: bool = False) -> dict:
    rng = random.Random(11)
    merges = ref.train_bpe(synthetic_text(20_000, seed=3), 420, SPECIALS)
    tokenizer = ref.Tokenizer(merges, SPECIALS)
    texts = TEXTS + [random_unicode(rng, rng.randint(1, 40)) for _ in range(60 if thorough else 12)]
    ids = [tokenizer.encode(t) for t in texts]
    ids += [[0xC3, 0xA9], [0xF0, 0x9F], [0x9F, 0x99, 0x82], [0xFF, 104, 105], [0xE2, 0x82], [0x80]]
    split_emoji = list("🙂".encode())  # one character over four byte tokens
    ids += [[104, *split_emoji, 105]]
    invalid = [len(tokenizer.vocab)]  # the first id past the special tokens
    if thorough:
        ids += [[], [len(tokenizer.vocab) - 1, 0xF0], [rng.randrange(256) for _ in range(50)]]
        invalid += [-1, -len(SPECIALS)]  # Python's negative indexing would find a special token
    return dict(merges=merges, special_tokens=SPECIALS, ids=ids, invalid=invalid)


def probe(decode, case: dict) -> dict:
    """Untrusted: the text of every list of ids, and the error of each invalid id."""
    merges, specials = list(case["merges"]), list(case["special_tokens"])
    runs = []
    for ids in case["ids"]:
        text, error = attempt(decode, list(ids), merges, specials)
        runs.append(dict(text=text if isinstance(text, str) else repr(text), error=error))
    invalid = []
    for i in case["invalid"]:
        text, error = attempt(decode, [104, i], merges, specials)
        invalid.append(dict(text=repr(text), error=error))
    return dict(runs=runs, invalid=invalid)


def judge(case: dict, out: dict) -> Report:
    report = Report("decode")
    tokenizer = ref.Tokenizer(case["merges"], case["special_tokens"])
    errors, wrong = [], []
    for ids, got in zip(case["ids"], out["runs"], strict=True):
        want = tokenizer.decode(ids)
        if got["error"]:
            errors.append(f"decode({ids[:8]}...) raised {got['error']}")
        elif got["text"] != want:
            wrong.append((ids, got["text"], want))
    report.add("runs on every list of ids, including invalid UTF-8", not errors, "\n".join(errors[:3]))
    detail = ""
    if wrong:
        ids, g, w = wrong[0]
        detail = f"{len(wrong)} of {len(case['ids'])} differ; first: ids {ids[:12]}\n"
        detail += f"yours    {g!r}\nexpected {w!r}"
    report.add(
        "decode(encode(text)) == text for arbitrary Unicode, and invalid UTF-8 becomes U+FFFD as "
        "bytes.decode('utf-8', errors='replace') does",
        not wrong,
        detail,
    )
    for i, got in zip(case["invalid"], out["invalid"], strict=True):
        error = got["error"] or ""
        report.add(
            f"an id outside the vocabulary 0..{len(tokenizer.vocab) - 1} (id {i}) raises ValueError",
            error.startswith("ValueError"),
            f"got {error or 'no error, but ' + got['text']}",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(*, joined=True, errors="replace", check_low=True, specials=True):
    """The solution notebook's decoder with one classic mistake; the defaults are the correct one."""

    def decode(ids, merges, special_tokens=()):
        vocab = [bytes([b]) for b in range(256)]
        vocab += [left + right for left, right in merges]
        vocab += [s.encode("utf-8") for s in special_tokens] if specials else []
        data = []
        for i in ids:
            if i >= len(vocab) or (check_low and i < 0):
                raise ValueError(f"id {i} is not in the vocabulary (ids 0 to {len(vocab) - 1})")
            data.append(vocab[i])
        if joined:
            return b"".join(data).decode("utf-8", errors=errors)
        return "".join(piece.decode("utf-8", errors=errors) for piece in data)

    return decode


MISTAKES = (
    Mistake(
        "decode_token_by_token",
        "each token was decoded on its own: a character's UTF-8 bytes can be split across tokens, so "
        "join all the bytes first and decode once.",
        _wrong(joined=False),
    ),
    Mistake(
        "decode_strict_utf8",
        "decoding raised on bytes that are not valid UTF-8 (a model can emit half a character): decode "
        "with errors='replace', so each bad byte sequence becomes U+FFFD.",
        _wrong(errors="strict"),
    ),
    Mistake(
        "decode_errors_ignored",
        "invalid UTF-8 was dropped (errors='ignore'): the contract keeps a trace of it, errors='replace' "
        "turns each bad byte sequence into U+FFFD.",
        _wrong(errors="ignore"),
    ),
    Mistake(
        "negative_ids_accepted",
        "a negative id was looked up as a Python index from the end of the vocabulary (-1 is the last "
        "special token): only 0 <= id < vocabulary size is an id; raise ValueError for the others.",
        _wrong(check_low=False),
    ),
    Mistake(
        "special_tokens_missing",
        "the special tokens are missing from the vocabulary: after the merges come the special tokens, "
        "256 + len(merges) + j, each decoding to its own text.",
        _wrong(specials=False),
    ),
)

PART = Part(
    id="decode",
    names=("decode",),
    reference=(ref.decode,),
    section="ch03_tokenization#3.3",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=BPE_RULES,
)
check = PART.check
