"""Checks of assignment A2 (tokenizers): byte-level BPE training, encoding and decoding, and
Unigram tokenization's Viterbi segmentation and one EM step.

Each check follows cases -> probe (untrusted) -> judge (trusted); see ``common``. The
references are ``lmcore.bpe`` and ``lmcore.unigram``; encoding is also compared with Hugging
Face ``tokenizers`` loaded with the same merges (an oracle the course did not write). The
hidden training test times the student's trainer on about 1 MB of text and bounds its memory.
"""

import math
import random
import sys
import time
import tracemalloc

from lmcore import bpe as ref_bpe
from lmcore import unigram as ref_unigram
from lmcore.data import synthetic_text
from lmcore.grading.common import attempt
from lmcore.grading.part import Part
from lmcore.grading.report import Report

SPECIALS = ("<|endoftext|>", "<|pad|>")
LOG_TOL = 1e-9  # absolute, on log-probabilities of short texts
# The performance bar of the hidden test: 1 MB of ``lmcore.data.synthetic_text`` (18,000 distinct
# pre-tokens) to a vocabulary of 1,000, on a 2-core machine. Measured there, idle: lmcore's
# reference trains in 0.5 s and the solution notebook's trainer in about 1.2 s; the textbook loop
# that recounts the pairs of every distinct pre-token at every merge (lmcore.bpe.train_bpe_naive)
# takes 30 s, and 53 s on a busy machine. An incremental trainer passes with a wide margin on a
# busy grading machine; recounting everything at every merge does not pass even on an idle one.
PERF_BYTES, PERF_VOCAB = 1_000_000, 1000
PERF_SECONDS = 15.0
# Peak Python memory (tracemalloc) on 250 kB: the reference about 12 MB, the solution notebook 10 MB.
MEMORY_BYTES, MEMORY_LIMIT_MB = 250_000, 50.0
BANNED_LIBRARIES = ("tokenizers", "sentencepiece", "tiktoken")


def _trace(run, banned_code: dict) -> tuple[object, list[str]]:
    """Run ``run()``; return its result and the banned lmcore functions or tokenizer libraries it called."""
    found: set = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in banned_code:
            found.add(f"lmcore's {banned_code[frame.f_code]}")
        elif event == "c_call":
            module = getattr(arg, "__module__", None) or type(getattr(arg, "__self__", None)).__module__
            if (module or "").split(".")[0] in BANNED_LIBRARIES:
                found.add(f"the {module.split('.')[0]} library")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = run()
    finally:
        sys.setprofile(previous)
    return result, sorted(found)


def _code(*functions) -> dict:
    return {f.__code__: f.__qualname__ for f in functions}


BPE_CODE = _code(
    ref_bpe.train_bpe,
    ref_bpe.train_bpe_naive,
    ref_bpe.count_pairs,
    ref_bpe.apply_merge,
    ref_bpe.best_pair,
    ref_bpe.word_counts,
    ref_bpe.split_special,
    ref_bpe.Tokenizer.encode,
    ref_bpe.Tokenizer.encode_bytes,
    ref_bpe.Tokenizer.decode,
)
UNIGRAM_CODE = _code(ref_unigram.viterbi, ref_unigram.forward_backward, ref_unigram.em_step)


def _judge_delegation(report: Report, out: dict) -> None:
    if "delegation" in out:
        report.add(
            "does its own work (no lmcore reference, no tokenizers/sentencepiece/tiktoken)",
            not out["delegation"],
            "found calls to: " + ", ".join(out["delegation"]) + "\nwrite this part yourself",
        )


def _diagnose(report: Report, why: str) -> None:
    if why not in report.diagnosis:
        report.diagnosis.append(why)


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


# ------------------------------------------------------------------------ BPE training

TIE_TEXT = "ab ba ab ba cd dc cd dc ef fe ef fe"


def train_bpe_cases(thorough: bool = False) -> dict:
    configs = [
        dict(text="aaabdaaabac", vocab_size=259, special_tokens=()),
        dict(text="the car the cat the rat", vocab_size=264, special_tokens=()),
        dict(text=synthetic_text(6_000, seed=1), vocab_size=330, special_tokens=()),
        dict(
            text="<|endoftext|>".join(["hello world", "the world said hello", "héllo wörld 🙂🙂"] * 4),
            vocab_size=290,
            special_tokens=("<|endoftext|>",),
        ),
    ]
    case = dict(configs=configs, thorough=thorough)
    if thorough:
        configs += [
            dict(text=TIE_TEXT, vocab_size=270, special_tokens=()),
            dict(text=synthetic_text(40_000, seed=2), vocab_size=600, special_tokens=SPECIALS),
            dict(text="x<|pad|>x<|pad|>xx<|endoftext|>x" * 5, vocab_size=262, special_tokens=SPECIALS),
            dict(text="  \n\n\t  spaces   and\ttabs\n", vocab_size=270, special_tokens=()),
        ]
        case["perf"] = dict(n_bytes=PERF_BYTES, vocab_size=PERF_VOCAB, seconds=PERF_SECONDS)
        case["memory"] = dict(n_bytes=MEMORY_BYTES, vocab_size=PERF_VOCAB, limit_mb=MEMORY_LIMIT_MB)
    return case


def _plain_merges(merges) -> list:
    merges = list(merges)
    for m in merges:
        if not (isinstance(m, tuple) and len(m) == 2 and all(isinstance(x, bytes) for x in m)):
            raise TypeError(f"each merge must be a tuple (bytes, bytes), got {m!r}")
    return merges


def probe_train_bpe(train_bpe, case: dict) -> dict:
    runs, delegation = [], set()
    for c in case["configs"]:

        def run(c=c):
            merges, error = attempt(train_bpe, c["text"], c["vocab_size"], list(c["special_tokens"]))
            return attempt(_plain_merges, merges) if error is None else (None, error)

        (merges, error), found = _trace(run, BPE_CODE) if case["thorough"] else (run(), [])
        delegation.update(found)
        runs.append(dict(merges=merges, error=error))
    out = dict(runs=runs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    if "perf" in case:
        p = case["perf"]
        text = synthetic_text(p["n_bytes"])
        start = time.perf_counter()
        merges, error = attempt(train_bpe, text, p["vocab_size"], [])
        seconds = time.perf_counter() - start
        if error is None:
            merges, error = attempt(_plain_merges, merges)
        out["perf"] = dict(seconds=seconds, merges=merges, error=error)
    if "memory" in case:
        m = case["memory"]
        text = synthetic_text(m["n_bytes"])
        tracemalloc.start()
        try:
            _, error = attempt(train_bpe, text, m["vocab_size"], [])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        out["memory"] = dict(peak=peak, error=error)
    return out


def _pair_counts_at(c: dict, merges: list, step: int) -> dict:
    """The reference's pair counts just before merge number ``step``."""
    words = ref_bpe.word_counts(c["text"], c["special_tokens"])
    for pair in merges[:step]:
        words = {ref_bpe.apply_merge(w, pair): n for w, n in words.items()}
    return ref_bpe.count_pairs(words)


def _judge_merges(report: Report, label: str, c: dict, got: list, want: list) -> None:
    first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), None)
    if first is None and len(got) == len(want):
        report.add(f"{label}: merges equal lmcore's, in order", True)
        return
    if first is None:
        detail = f"{len(got)} merges, expected {len(want)} (vocab_size = 256 bytes + merges + special tokens)"
        report.add(f"{label}: merges equal lmcore's, in order", False, detail)
        return
    pairs = _pair_counts_at(c, want, first)
    g, w = got[first], want[first]
    report.add(
        f"{label}: merges equal lmcore's, in order",
        False,
        f"the first {first} merges agree; merge {first} (new id {256 + first}) is {g!r}, expected {w!r}\n"
        f"at that step {g!r} occurs {pairs.get(g, 0)} times and {w!r} {pairs.get(w, 0)} times",
    )
    if pairs.get(g, 0) == pairs.get(w, 0):
        _diagnose(
            report,
            "a tie broken differently: among pairs with the same count, merge the lexicographically "
            "greatest (left bytes, right bytes), e.g. max(pairs, key=lambda p: (pairs[p], p))",
        )
    elif pairs.get(g, 0) == 0:
        _diagnose(
            report,
            "your pair never occurs inside one pre-token: split on special tokens and pre-tokenize with "
            "GPT2_PATTERN first; pairs never cross pre-token boundaries or special tokens",
        )
    else:
        _diagnose(
            report,
            "a pair that is not the most frequent was merged: count each pre-token's pairs times the "
            "pre-token's frequency, and update the counts after every merge",
        )


def judge_train_bpe(case: dict, out: dict) -> Report:
    report = Report("train_bpe")
    for c, got in zip(case["configs"], out["runs"], strict=True):
        label = f"{len(c['text'].encode())} bytes to vocab_size {c['vocab_size']}" + (
            f" with special tokens {list(c['special_tokens'])}" if c["special_tokens"] else ""
        )
        if got["error"]:
            report.add(f"{label}: runs", False, got["error"])
            continue
        _judge_merges(
            report,
            label,
            c,
            got["merges"],
            ref_bpe.train_bpe(c["text"], c["vocab_size"], c["special_tokens"]),
        )
    _judge_delegation(report, out)
    if "perf" in case:
        p, got = case["perf"], out["perf"]
        label = f"{p['n_bytes'] / 1e6:.1f} MB to vocab_size {p['vocab_size']}"
        text = synthetic_text(p["n_bytes"])
        start = time.perf_counter()
        want = ref_bpe.train_bpe(text, p["vocab_size"])
        reference_seconds = time.perf_counter() - start
        if got["error"]:
            report.add(f"{label}: runs", False, got["error"])
        else:
            _judge_merges(report, label, dict(text=text, special_tokens=()), got["merges"], want)
            report.add(
                f"{label}: finishes within {p['seconds']:.0f} s (yours {got['seconds']:.1f} s; "
                f"lmcore's reference {reference_seconds:.1f} s on this machine)",
                got["seconds"] <= p["seconds"],
                "keep pair counts between merges and update only the pre-tokens that contain the merged "
                "pair; count each distinct pre-token once, weighted by its frequency",
            )
    if "memory" in case:
        m, got = case["memory"], out["memory"]
        peak_mb = got["peak"] / 2**20
        report.add(
            f"{m['n_bytes'] / 1e3:.0f} kB to vocab_size {m['vocab_size']}: peak Python memory at most "
            f"{m['limit_mb']:.0f} MB (yours {peak_mb:.0f} MB)",
            got["error"] is None and peak_mb <= m["limit_mb"],
            got["error"]
            or "store each distinct pre-token once with its count, not the whole text as symbols",
        )
    return report


def check_train_bpe(train_bpe, *, thorough: bool = False) -> Report:
    case = train_bpe_cases(thorough)
    return judge_train_bpe(case, probe_train_bpe(train_bpe, case))


# ----------------------------------------------------------------------------- encoding

ENCODE_TEXTS = [
    "The cat sat on the mat.",
    "hello<|endoftext|>world",
    "<|endoftext|><|endoftext|> two specials, then <|pad|>.",
    "naïve café 🙂 日本語 — \"quotes\" don't, we'll, I'm",
    "numbers: 9.11 vs 9.9, 2024 and 1,000,000!",
    "  leading spaces\n\n\tand   runs   of whitespace  ",
]


def encode_cases(thorough: bool = False) -> dict:
    rng = random.Random(7)
    texts = list(ENCODE_TEXTS)
    configs = [dict(train_seed=3, n_bytes=20_000, vocab_size=420, special_tokens=SPECIALS)]
    if thorough:
        texts += [synthetic_text(4_000, seed=99)[:4_000], "<|endoftext|>" * 3, "x<|pad|"]
        texts += [random_unicode(rng, rng.randint(1, 60)) for _ in range(30)]
        configs += [
            dict(train_seed=4, n_bytes=20_000, vocab_size=500, special_tokens=()),
            dict(train_seed=5, n_bytes=8_000, vocab_size=300, special_tokens=("<|end|>", "<|endoftext|>")),
        ]
    for c in configs:
        c["merges"] = ref_bpe.train_bpe(
            synthetic_text(c["n_bytes"], seed=c["train_seed"]), c["vocab_size"], c["special_tokens"]
        )
    return dict(configs=configs, texts=texts, thorough=thorough)


def probe_encode(encode, case: dict) -> dict:
    runs, delegation = [], set()
    for c in case["configs"]:
        for text in case["texts"]:

            def run(c=c, text=text):
                ids, error = attempt(encode, text, list(c["merges"]), list(c["special_tokens"]))
                return attempt(lambda: [int(i) for i in ids]) if error is None else (None, error)

            (ids, error), found = _trace(run, BPE_CODE) if case["thorough"] else (run(), [])
            delegation.update(found)
            runs.append(dict(ids=ids, error=error))
    out = dict(runs=runs)
    if case["thorough"]:
        out["delegation"] = sorted(delegation)
    return out


def _greedy_longest(tokenizer, text: str) -> list[int]:
    """The classic mistake: at each position take the longest vocabulary entry."""
    by_bytes = {}
    for i, b in tokenizer.vocab.items():
        if i < 256 + len(tokenizer.merges):
            by_bytes.setdefault(b, i)
    ids = []
    for chunk, special in ref_bpe.split_special(text, tokenizer.special_tokens):
        if special:
            ids.append(256 + len(tokenizer.merges) + tokenizer.special_tokens.index(chunk))
            continue
        for piece in ref_bpe.pretokenize(chunk, tokenizer.pattern):
            data, start = piece.encode(), 0
            while start < len(data):
                end = max(e for e in range(start + 1, len(data) + 1) if data[start:e] in by_bytes)
                ids.append(by_bytes[data[start:end]])
                start = end
    return ids


def _show(tokenizer, ids: list[int], at: int) -> str:
    window = ids[max(0, at - 2) : at + 3]
    try:
        return " | ".join(repr(b) for b in tokenizer.token_bytes(window))
    except Exception:
        return repr(window)


def judge_encode(case: dict, out: dict) -> Report:
    from lmcore.oracles.hf_bpe import hf_token_bytes, hf_tokenizer

    report = Report("encode")
    results = iter(out["runs"])
    for c in case["configs"]:
        tokenizer = ref_bpe.Tokenizer(c["merges"], c["special_tokens"])
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
        for text, g, _, _ in wrong:
            if g == _greedy_longest(tokenizer, text):
                _diagnose(
                    report,
                    "greedy longest match is not BPE: start from bytes and apply merges in the order they "
                    "were learned (lowest rank first), as training did",
                )
            if c["special_tokens"] and g == ref_bpe.Tokenizer(c["merges"]).encode(text):
                _diagnose(
                    report,
                    "special tokens were split into ordinary tokens: cut the text at special tokens first "
                    "(longest match first) and give each its own id, 256 + len(merges) + its index",
                )
    _judge_delegation(report, out)
    return report


def check_encode(encode, *, thorough: bool = False) -> Report:
    case = encode_cases(thorough)
    return judge_encode(case, probe_encode(encode, case))


# ----------------------------------------------------------------------------- decoding


def decode_cases(thorough: bool = False) -> dict:
    rng = random.Random(11)
    merges = ref_bpe.train_bpe(synthetic_text(20_000, seed=3), 420, SPECIALS)
    tokenizer = ref_bpe.Tokenizer(merges, SPECIALS)
    texts = ENCODE_TEXTS + [random_unicode(rng, rng.randint(1, 40)) for _ in range(60 if thorough else 12)]
    ids = [tokenizer.encode(t) for t in texts]
    ids += [[0xC3, 0xA9], [0xF0, 0x9F], [0x9F, 0x99, 0x82], [0xFF, 104, 105], [0xE2, 0x82], [0x80]]
    split_emoji = list("🙂".encode())  # one character over four byte tokens
    ids += [[104, *split_emoji, 105]]
    if thorough:
        ids += [[len(tokenizer.vocab) - 1, 0xF0], [rng.randrange(256) for _ in range(50)]]
    return dict(
        merges=merges, special_tokens=SPECIALS, ids=ids, thorough=thorough, out_of_range=len(tokenizer.vocab)
    )


def probe_decode(decode, case: dict) -> dict:
    merges, specials = list(case["merges"]), list(case["special_tokens"])

    def run():
        results = []
        for ids in case["ids"]:
            text, error = attempt(decode, list(ids), merges, specials)
            results.append(dict(text=text if isinstance(text, str) else repr(text), error=error))
        return results

    (results, found) = _trace(run, BPE_CODE) if case["thorough"] else (run(), [])
    out = dict(runs=results)
    _, error = attempt(decode, [case["out_of_range"]], merges, specials)
    out["out_of_range_error"] = error
    if case["thorough"]:
        out["delegation"] = found
    return out


def judge_decode(case: dict, out: dict) -> Report:
    report = Report("decode")
    tokenizer = ref_bpe.Tokenizer(case["merges"], case["special_tokens"])
    errors, wrong = [], []
    for ids, got in zip(case["ids"], out["runs"], strict=True):
        want = b"".join(tokenizer.vocab[i] for i in ids).decode("utf-8", errors="replace")
        if got["error"]:
            errors.append(f"decode({ids[:8]}...) raised {got['error']}")
        elif got["text"] != want:
            wrong.append((ids, got["text"], want))
    report.add("runs on every list of ids, including invalid UTF-8", not errors, "\n".join(errors[:3]))
    if any("UnicodeDecodeError" in e for e in errors):
        _diagnose(
            report,
            "decoding raised on bytes that are not valid UTF-8 (a model can emit half a character): "
            "decode with errors='replace', so each bad byte sequence becomes U+FFFD",
        )
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
    report.add(
        f"an id outside the vocabulary (id {case['out_of_range']}) raises ValueError",
        (out["out_of_range_error"] or "").startswith("ValueError"),
        f"got {out['out_of_range_error'] or 'no error'}",
    )
    for ids, g, _ in wrong:
        per_token = "".join(tokenizer.vocab[i].decode("utf-8", errors="replace") for i in ids)
        if g == per_token:
            _diagnose(
                report,
                "each token was decoded on its own: a character's UTF-8 bytes can be split across tokens, "
                "so join all the bytes first and decode once",
            )
    _judge_delegation(report, out)
    return report


def check_decode(decode, *, thorough: bool = False) -> Report:
    case = decode_cases(thorough)
    return judge_decode(case, probe_decode(decode, case))


# --------------------------------------------------------------------------- Unigram


def _random_vocab(rng: random.Random, alphabet: str, n_pieces: int, max_len: int) -> dict[str, float]:
    pieces = set(alphabet)
    while len(pieces) < n_pieces:
        pieces.add("".join(rng.choice(alphabet) for _ in range(rng.randint(2, max_len))))
    weights = {p: rng.random() + 0.05 for p in sorted(pieces)}
    total = sum(weights.values())
    return {p: math.log(w / total) for p, w in weights.items()}


# seed 001's example: with p(ab) = 2/3 and p(c) = 1/3, ab|ab|c has probability 2/3 * 2/3 * 1/3
ABABC = {"a": math.log(0.1), "b": math.log(0.1), "c": math.log(1 / 3), "ab": math.log(2 / 3)}


def viterbi_cases(thorough: bool = False) -> dict:
    rng = random.Random(5)
    runs = [
        dict(text="ababc", logprobs=ABABC),
        # greedy longest match takes "abc" then "d"; the best split is "ab" + "cd"
        dict(
            text="abcd",
            logprobs={"a": -3.0, "b": -3.0, "c": -3.0, "d": -3.0, "ab": -1.0, "cd": -1.0, "abc": -4.0},
        ),
    ]
    for _ in range(12 if thorough else 4):
        vocab = _random_vocab(rng, "abc", 12, 4)
        runs.append(dict(text="".join(rng.choice("abc") for _ in range(rng.randint(1, 14))), logprobs=vocab))
    if thorough:
        vocab = _random_vocab(rng, "abcde", 60, 6)
        vocab["ab"] = -math.inf  # an unusable piece
        runs.append(dict(text="".join(rng.choice("abcde") for _ in range(300)), logprobs=vocab))
    return dict(runs=runs, unsegmentable=dict(text="abz", logprobs={"a": -1.0, "b": -1.0}), thorough=thorough)


def _plain_segmentation(result) -> tuple:
    pieces, score = result
    return [str(p) for p in pieces], float(score)


def probe_viterbi(viterbi, case: dict) -> dict:
    def run():
        results = []
        for r in case["runs"]:
            value, error = attempt(viterbi, r["text"], dict(r["logprobs"]))
            if error is None:
                value, error = attempt(_plain_segmentation, value)
            results.append(
                dict(pieces=value[0] if value else None, score=value[1] if value else None, error=error)
            )
        return results

    results, found = _trace(run, UNIGRAM_CODE) if case["thorough"] else (run(), [])
    u = case["unsegmentable"]
    _, error = attempt(viterbi, u["text"], dict(u["logprobs"]))
    out = dict(runs=results, unsegmentable_error=error)
    if case["thorough"]:
        out["delegation"] = found
    return out


def _greedy_segmentation(text: str, logprobs: dict) -> list[str]:
    pieces, start = [], 0
    while start < len(text):
        end = max(
            e
            for e in range(start + 1, len(text) + 1)
            if math.isfinite(logprobs.get(text[start:e], -math.inf))
        )
        pieces.append(text[start:end])
        start = end
    return pieces


def judge_viterbi(case: dict, out: dict) -> Report:
    report = Report("viterbi")
    errors, invalid, inconsistent, suboptimal = [], [], [], []
    for r, got in zip(case["runs"], out["runs"], strict=True):
        if got["error"]:
            errors.append(f"viterbi({r['text'][:20]!r}) raised {got['error']}")
            continue
        pieces, score = got["pieces"], got["score"]
        lp = r["logprobs"]
        if "".join(pieces) != r["text"] or any(not math.isfinite(lp.get(p, -math.inf)) for p in pieces):
            invalid.append((r["text"], pieces))
            continue
        if abs(sum(lp[p] for p in pieces) - score) > LOG_TOL:
            inconsistent.append((r["text"], pieces, score))
        _, best = ref_unigram.viterbi(r["text"], lp)
        if abs(sum(lp[p] for p in pieces) - best) > LOG_TOL:
            suboptimal.append((r["text"], pieces, best, lp))
    report.add("runs on every text", not errors, "\n".join(errors[:3]))
    report.add(
        "the pieces join to the text and are all in the vocabulary (with a finite log-probability)",
        not invalid,
        f"text {invalid[0][0][:30]!r}: pieces {invalid[0][1][:10]}" if invalid else "",
    )
    report.add(
        "the returned score is the sum of the pieces' log-probabilities",
        not inconsistent,
        f"text {inconsistent[0][0][:30]!r}: returned {inconsistent[0][2]}" if inconsistent else "",
    )
    detail = ""
    if suboptimal:
        text, pieces, best, lp = suboptimal[0]
        detail = (
            f"{len(suboptimal)} texts; first {text[:30]!r}: your pieces {pieces[:10]} score "
            f"{sum(lp[p] for p in pieces):.6f}, the best segmentation scores {best:.6f}"
        )
        if pieces == _greedy_segmentation(text, lp):
            _diagnose(
                report,
                "greedy longest match is not the most probable segmentation: keep, for every end position, "
                "the best score of any segmentation of the prefix (dynamic programming)",
            )
    report.add(
        "the segmentation has the highest probability (equal to lmcore's best score)", not suboptimal, detail
    )
    report.add(
        "a text no piece can cover raises ValueError",
        (out["unsegmentable_error"] or "").startswith("ValueError"),
        f"got {out['unsegmentable_error'] or 'no error'}",
    )
    _judge_delegation(report, out)
    return report


def check_viterbi(viterbi, *, thorough: bool = False) -> Report:
    case = viterbi_cases(thorough)
    return judge_viterbi(case, probe_viterbi(viterbi, case))


# ----------------------------------------------------------------------------- EM step


def em_step_cases(thorough: bool = False) -> dict:
    rng = random.Random(9)
    corpora = [{"ababc": 1, "abc": 2, "bab": 1}, {"aab": 3, "ba": 2, "abab": 1}]
    if thorough:
        for _ in range(4):
            words = ["".join(rng.choice("abcd") for _ in range(rng.randint(1, 9))) for _ in range(15)]
            corpora.append({w: rng.randint(1, 5) for w in words})
    runs = [dict(corpus=c, logprobs=ref_unigram.seed_logprobs(c, max_piece_len=3)) for c in corpora]
    return dict(runs=runs, thorough=thorough)


def _plain_em(result) -> tuple:
    logprobs, loglik = result
    return {str(k): float(v) for k, v in dict(logprobs).items()}, float(loglik)


def probe_em_step(em_step, case: dict) -> dict:
    def run():
        results = []
        for r in case["runs"]:
            value, error = attempt(em_step, dict(r["corpus"]), dict(r["logprobs"]))
            if error is None:
                value, error = attempt(_plain_em, value)
            results.append(
                dict(logprobs=value[0] if value else None, loglik=value[1] if value else None, error=error)
            )
        return results

    results, found = _trace(run, UNIGRAM_CODE) if case["thorough"] else (run(), [])
    out = dict(runs=results)
    if case["thorough"]:
        out["delegation"] = found
    return out


def _same_log(a: float, b: float) -> bool:
    return a == b if math.isinf(a) or math.isinf(b) else abs(a - b) <= LOG_TOL


def _hard_em(corpus: dict, logprobs: dict) -> dict:
    counts = dict.fromkeys(logprobs, 0.0)
    for word, n in corpus.items():
        for p in ref_unigram.viterbi(word, logprobs)[0]:
            counts[p] += n
    total = sum(counts.values())
    return {p: math.log(c / total) if c else -math.inf for p, c in counts.items()}


def judge_em_step(case: dict, out: dict) -> Report:
    report = Report("em_step")
    for i, (r, got) in enumerate(zip(case["runs"], out["runs"], strict=True)):
        label = f"[corpus {i}: {dict(list(r['corpus'].items())[:3])}...]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want, want_loglik = ref_unigram.em_step(r["corpus"], r["logprobs"])
        if set(got["logprobs"]) != set(want):
            report.add(
                f"{label} returns a log-probability for every piece", False, "keep exactly the input's keys"
            )
            continue
        bad = [p for p in want if not _same_log(got["logprobs"][p], want[p])]
        report.add(
            f"{label} new log-probabilities equal lmcore's (expected counts by forward-backward, normalized)",
            not bad,
            f"{len(bad)} pieces differ; e.g. {bad[0]!r}: yours {got['logprobs'][bad[0]]:.8f}, expected "
            f"{want[bad[0]]:.8f}"
            if bad
            else "",
        )
        report.add(
            f"{label} the returned log-likelihood is the corpus's under the OLD log-probabilities",
            _same_log(got["loglik"], want_loglik),
            f"yours {got['loglik']:.8f}, expected {want_loglik:.8f}",
        )
        if bad and all(
            _same_log(got["logprobs"][p], v) for p, v in _hard_em(r["corpus"], r["logprobs"]).items()
        ):
            _diagnose(
                report,
                "these are Viterbi (hard) counts: EM counts every segmentation weighted by its posterior "
                "probability (forward-backward), not only the best one",
            )
    _judge_delegation(report, out)
    return report


def check_em_step(em_step, *, thorough: bool = False) -> Report:
    case = em_step_cases(thorough)
    return judge_em_step(case, probe_em_step(em_step, case))


# --------------------------------------------------------------------------- registry

PARTS = [
    Part("train_bpe", "train_bpe", train_bpe_cases, probe_train_bpe, judge_train_bpe),
    Part("encode", "encode", encode_cases, probe_encode, judge_encode),
    Part("decode", "decode", decode_cases, probe_decode, judge_decode),
    Part("viterbi", "viterbi", viterbi_cases, probe_viterbi, judge_viterbi),
    Part("em_step", "em_step", em_step_cases, probe_em_step, judge_em_step),
]
TESTS = {f"test_{p.name}{suffix}": (p.name, suffix == "_hidden") for p in PARTS for suffix in ("", "_hidden")}

from lmcore.grading.legacy import assignment  # noqa: E402

ASSIGNMENT = assignment("A2", "ch03_tokenization", PARTS)
