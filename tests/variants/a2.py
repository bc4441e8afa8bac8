"""A2's variants (see tests/variants/__init__.py for the format)."""

from lmcore.grading.a2._common import BROKEN_PATTERN

GREEDY_ENCODE = """
    by_bytes = {bytes([b]): b for b in range(256)}
    for i, (left, right) in enumerate(merges):
        by_bytes.setdefault(left + right, 256 + i)

    def encode_piece(data):
        ids, start = [], 0
        while start < len(data):
            end = max(e for e in range(start + 1, len(data) + 1) if data[start:e] in by_bytes)
            ids.append(by_bytes[data[start:end]])
            start = end
        return ids
"""
ASCII_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
SPLIT_LINE = "    for chunk, special in split_specials(text, special_tokens):\n"

MUTANTS = {
    "train_bpe": {
        "ties_smallest": [
            ("train_bpe", "best = max(pair for pair, count", "best = min(pair for pair, count")
        ],
        "ties_by_ids": [
            (
                "train_bpe",
                "    merges = []\n",
                "    merges = []\n    token_id = {bytes([b]): b for b in range(256)}\n",
            ),
            (
                "train_bpe",
                "        best = max(pair for pair, count in pair_count.items() if count == top)\n"
                "        merges.append(best)\n"
                "        joined = best[0] + best[1]\n",
                "        tied = [pair for pair, count in pair_count.items() if count == top]\n"
                "        best = max(tied, key=lambda pair: (token_id[pair[0]], token_id[pair[1]]))\n"
                "        merges.append(best)\n"
                "        joined = best[0] + best[1]\n"
                "        token_id.setdefault(joined, 255 + len(merges))\n",
            ),
        ],
        "unweighted_counts": [
            ("train_bpe", "weights = list(frequency.values())", "weights = [1] * len(frequency)")
        ],
        "split_on_whitespace": [
            (
                "train_bpe",
                "frequency.update(regex.findall(GPT2_PATTERN, chunk))",
                "frequency.update(chunk.split())",
            )
        ],
        "special_tokens_trained": [("train_bpe", SPLIT_LINE, "    for chunk, special in [(text, False)]:\n")],
        "specials_in_given_order": [
            (
                "train_bpe",
                SPLIT_LINE + "        if not special:\n"
                "            frequency.update(regex.findall(GPT2_PATTERN, chunk))\n",
                '    cut = "|".join(regex.escape(s) for s in special_tokens)\n'
                "    for chunk in regex.split(cut, text) if special_tokens else [text]:\n"
                "        frequency.update(regex.findall(GPT2_PATTERN, chunk))\n",
            )
        ],
        "vocab_size_without_specials": [
            ("train_bpe", "n_merges = vocab_size - 256 - len(special_tokens)", "n_merges = vocab_size - 256")
        ],
        "no_pairs_left_raises": [
            ("train_bpe", "while len(merges) < n_merges and pair_count:", "while len(merges) < n_merges:")
        ],
        "characters_not_bytes": [
            (
                "train_bpe",
                '[[bytes([b]) for b in piece.encode("utf-8")] for piece in frequency]',
                '[[c.encode("utf-8") for c in piece] for piece in frequency]',
            )
        ],
        # GPT-2's pattern copied by hand, one parenthesis lost: the regex library raises, and the
        # report must point at this line of the cell, not at the library's
        "bad_pattern": [
            (
                "train_bpe",
                "regex.findall(GPT2_PATTERN, chunk)",
                f'regex.findall(r"""{BROKEN_PATTERN}""", chunk)',
            )
        ],
    },
    "encode": {
        "greedy_longest_match": [
            ("encode", "    def encode_piece(data):\n", GREEDY_ENCODE + "\n    def unused(data):\n")
        ],
        "leftmost_merge_first": [
            (
                "encode",
                "best = min(rank.get((a[0], b[0]), math.inf) for a, b in zip(tokens, tokens[1:]))",
                "best = next((rank[a[0], b[0]] for a, b in zip(tokens, tokens[1:]) if (a[0], b[0]) in rank),"
                " math.inf)",
            )
        ],
        "special_tokens_split": [("encode", SPLIT_LINE, "    for chunk, special in [(text, False)]:\n")],
        "specials_in_given_order": [
            (
                "encode",
                SPLIT_LINE,
                '    cut = "|".join(regex.escape(s) for s in special_tokens)\n'
                '    chunks = regex.split(f"({cut})", text) if special_tokens else [text]\n'
                "    for chunk, special in [(c, i % 2 == 1) for i, c in enumerate(chunks)]:\n",
            )
        ],
        "special_ids_overlap_merges": [("encode", "256 + len(merges) + j for j, s", "256 + j for j, s")],
        "ascii_letter_classes": [
            (
                "encode",
                "for piece in regex.findall(GPT2_PATTERN, chunk):",
                f'for piece in regex.findall(r"""{ASCII_PATTERN}""", chunk):',
            )
        ],
    },
    "decode": {
        "decode_token_by_token": [
            (
                "decode",
                'return b"".join(data).decode("utf-8", errors="replace")',
                'return "".join(piece.decode("utf-8", errors="replace") for piece in data)',
            )
        ],
        "decode_strict_utf8": [
            (
                "decode",
                'return b"".join(data).decode("utf-8", errors="replace")',
                'return b"".join(data).decode()',
            )
        ],
        "decode_errors_ignored": [("decode", 'errors="replace"', 'errors="ignore"')],
        "negative_ids_accepted": [("decode", "if not 0 <= i < len(vocab):", "if i >= len(vocab):")],
        "special_tokens_missing": [
            ("decode", '    vocab += [s.encode("utf-8") for s in special_tokens]\n', "")
        ],
    },
    "viterbi": {
        "viterbi_greedy": [
            (
                "viterbi",
                "    pieces, j = [], len(text)\n",
                "    pieces, i = [], 0\n"
                "    while i < len(text):\n"
                "        usable = [j for j in range(i + 1, len(text) + 1) if text[i:j] in logprobs]\n"
                "        j = max(j for j in usable if logprobs[text[i:j]] > -math.inf)\n"
                "        pieces.append(text[i:j])\n"
                "        i = j\n"
                "    return pieces, sum(logprobs[p] for p in pieces)\n"
                "    pieces, j = [], len(text)\n",
            )
        ],
        "missing_pieces_score_zero": [
            ("viterbi", "logprobs.get(text[i:j], -math.inf)", "logprobs.get(text[i:j], 0.0)")
        ],
        "start_before_text": [("viterbi", "range(max(0, j - longest), j)", "range(j - longest, j)")],
        "empty_text_accepted": [
            ("viterbi", '    if not text:\n        raise ValueError("cannot segment an empty text")\n', "")
        ],
        "unsegmentable_accepted": [
            (
                "viterbi",
                "    if best[-1] == -math.inf:\n"
                '        raise ValueError(f"no segmentation of {text!r} uses only pieces'
                ' of the vocabulary")\n',
                "",
            )
        ],
    },
    "em_step": {
        "hard_counts": [
            (
                "em_step",
                "        for i, j, lp in spans:\n"
                "            expected[word[i:j]] += count * math.exp(alpha[i] + lp + beta[j] - alpha[n])\n",
                "        for piece in viterbi(word, logprobs)[0]:\n            expected[piece] += count\n",
            )
        ],
        "unused_pieces_dropped": [
            ("em_step", "expected = dict.fromkeys(logprobs, 0.0)", "expected = defaultdict(float)")
        ],
        "counts_ignore_word_counts": [("em_step", "+= count * math.exp(", "+= math.exp(")],
        "loglik_ignores_word_counts": [("em_step", "loglik += count * alpha[n]", "loglik += alpha[n]")],
        "unsegmentable_accepted": [
            (
                "em_step",
                "        if alpha[n] == -math.inf:\n"
                '            raise ValueError(f"{word!r} cannot be segmented with this vocabulary")\n',
                "",
            )
        ],
    },
}

ALTERNATIVES = {
    "train_bpe": {
        "count_buckets": """
def train_bpe(text, vocab_size, special_tokens=()):
    # pairs bucketed by count: the best pair is the greatest of the highest bucket
    pieces = Counter()
    for chunk, special in split_specials(text, special_tokens):
        if not special:
            pieces.update(regex.findall(GPT2_PATTERN, chunk))
    words = [tuple(bytes([b]) for b in p.encode()) for p in pieces]
    freq = list(pieces.values())
    count, where = defaultdict(int), defaultdict(set)
    for k, w in enumerate(words):
        for pair in zip(w, w[1:]):
            count[pair] += freq[k]
            where[pair].add(k)
    bucket = defaultdict(set)
    for pair, c in count.items():
        bucket[c].add(pair)

    def move(pair, by):
        old = count[pair]
        if old:
            bucket[old].discard(pair)
            if not bucket[old]:
                del bucket[old]
        count[pair] = old + by
        if old + by:
            bucket[old + by].add(pair)
        else:
            del count[pair]

    merges = []
    while len(merges) < vocab_size - 256 - len(special_tokens) and bucket:
        pair = max(bucket[max(bucket)])
        merges.append(pair)
        left, right = pair
        for k in where.pop(pair):
            w, n = words[k], freq[k]
            out, i = [], 0
            while i < len(w):
                if w[i] == left and i + 1 < len(w) and w[i + 1] == right:
                    out.append(left + right)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            if len(out) == len(w):
                continue  # this word lost the pair to an earlier merge
            for p in zip(w, w[1:]):
                move(p, -n)
            for p in zip(out, out[1:]):
                move(p, n)
                where[p].add(k)
            words[k] = tuple(out)
    return merges
""",
    },
    "encode": {
        "merges_in_order": """
def encode(text, merges, special_tokens=()):
    # apply every merge, in the order learned, to the whole pre-token: the same as lowest rank first
    ids = []
    for chunk, special in split_specials(text, special_tokens):
        if special:
            ids.append(256 + len(merges) + list(special_tokens).index(chunk))
            continue
        for piece in regex.findall(GPT2_PATTERN, chunk):
            symbols = [(bytes([b]), b) for b in piece.encode()]
            for rank, (left, right) in enumerate(merges):
                out, i = [], 0
                while i < len(symbols):
                    if i + 1 < len(symbols) and symbols[i][0] == left and symbols[i + 1][0] == right:
                        out.append((left + right, 256 + rank))
                        i += 2
                    else:
                        out.append(symbols[i])
                        i += 1
                symbols = out
                if len(symbols) == 1:
                    break
            ids += [i for _, i in symbols]
    return ids
""",
    },
    "decode": {
        "incremental_decoder": """
import codecs


def decode(ids, merges, special_tokens=()):
    table = {b: bytes([b]) for b in range(256)}
    for k, (left, right) in enumerate(merges):
        table[256 + k] = left + right
    for k, s in enumerate(special_tokens):
        table[256 + len(merges) + k] = s.encode()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts = []
    for i in ids:
        if i not in table:
            raise ValueError(f"unknown token id {i}")
        parts.append(decoder.decode(table[i]))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)
""",
    },
    "viterbi": {
        "dict_of_best": """
def viterbi(text, logprobs):
    if not text:
        raise ValueError("empty text")
    best = {0: (0.0, None)}
    for i in range(len(text)):
        if i not in best:
            continue
        for j in range(i + 1, len(text) + 1):
            lp = logprobs.get(text[i:j])
            if lp is None or lp == -math.inf:
                continue
            score = best[i][0] + lp
            if j not in best or score > best[j][0]:
                best[j] = (score, i)
    if len(text) not in best:
        raise ValueError("no segmentation")
    pieces, j = [], len(text)
    while j:
        i = best[j][1]
        pieces.insert(0, text[i:j])
        j = i
    return pieces, best[len(text)][0]
""",
    },
    "em_step": {
        "brute_force": """
def em_step(corpus, logprobs):
    # brute force: enumerate every segmentation of every (short) word
    def segmentations(word):
        if not word:
            yield []
            return
        for j in range(1, len(word) + 1):
            head = word[:j]
            if logprobs.get(head, -math.inf) > -math.inf:
                for rest in segmentations(word[j:]):
                    yield [head] + rest

    counts = {p: 0.0 for p in logprobs}
    loglik = 0.0
    for word, c in corpus.items():
        segs = list(segmentations(word))
        probs = [math.exp(sum(logprobs[p] for p in s)) for s in segs]
        z = sum(probs)
        loglik += c * math.log(z)
        for s, p in zip(segs, probs):
            for piece in s:
                counts[piece] += c * p / z
    total = sum(counts.values())
    return {p: (math.log(v / total) if v > 0 else -math.inf) for p, v in counts.items()}, loglik
""",
    },
}

DELEGATING = {
    "train_bpe": {
        "lmcore_trainer": """
import lmcore.bpe


def train_bpe(text, vocab_size, special_tokens=()):
    return lmcore.bpe.train_bpe(text, vocab_size, special_tokens)
""",
    },
    "encode": {
        "hugging_face": """
from tokenizers import Tokenizer as HuggingFace
from tokenizers import models, pre_tokenizers

CHARS = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
TABLE = {b: chr(b) for b in CHARS}
TABLE.update({b: chr(256 + k) for k, b in enumerate(b for b in range(256) if b not in TABLE)})


def encode(text, merges, special_tokens=()):
    show = lambda data: "".join(TABLE[b] for b in data)
    vocab = {show(bytes([b])): b for b in range(256)}
    for i, (left, right) in enumerate(merges):
        vocab.setdefault(show(left + right), 256 + i)
    tok = HuggingFace(models.BPE(vocab=vocab, merges=[(show(a), show(b)) for a, b in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.add_special_tokens(list(special_tokens))
    special_id = {s: 256 + len(merges) + j for j, s in enumerate(special_tokens)}
    enc = tok.encode(text, add_special_tokens=False)
    return [special_id.get(t, i) for i, t in zip(enc.ids, enc.tokens)]
""",
    },
    "decode": {
        "lmcore_tokenizer": """
from lmcore import bpe


def decode(ids, merges, special_tokens=()):
    return bpe.Tokenizer(merges, special_tokens).decode(ids)
""",
    },
    "viterbi": {
        "lmcore_viterbi": """
from lmcore import unigram


def viterbi(text, logprobs):
    return unigram.viterbi(text, logprobs)
""",
    },
    "em_step": {
        "lmcore_em_step": """
import lmcore.unigram as u


def em_step(corpus, logprobs):
    return u.em_step(corpus, logprobs)
""",
    },
}
