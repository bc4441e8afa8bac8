"""Submissions of A2 that the grading must tell apart: mutants (one classic bug each), an
alternative correct solution written differently, and delegation.

A mutant is a list of (grade_id, old, new) edits to the solution notebook's cells, the set of
parts it breaks (every other part must keep its full points) and a text its report must contain.
"""

from tests.variants import Submissions

A2 = Submissions("A2")
PARTS = ("train_bpe", "encode", "decode", "viterbi", "em_step")
COMPONENTS = {p: p for p in PARTS}

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

MUTANTS = {
    "ties_broken_by_smallest_pair": (
        [("train_bpe", "best = max(pair for pair, count", "best = min(pair for pair, count")],
        {"train_bpe"},
        "tie broken differently",
    ),
    "greedy_longest_match": (
        [
            (
                "encode",
                "    def encode_piece(data):\n",
                GREEDY_ENCODE + "\n    def unused(data):\n",
            )
        ],
        {"encode"},
        "greedy longest match",
    ),
    "special_tokens_split": (
        [
            (
                "encode",
                "for chunk, special in split_specials(text, special_tokens):",
                "for chunk, special in [(text, False)]:",
            )
        ],
        {"encode"},
        "special tokens were split",
    ),
    "decode_token_by_token": (
        [
            (
                "decode",
                'return b"".join(data).decode("utf-8", errors="replace")',
                'return "".join(piece.decode("utf-8", errors="replace") for piece in data)',
            )
        ],
        {"decode"},
        "decoded on its own",
    ),
    "decode_strict_utf8": (
        [
            (
                "decode",
                'return b"".join(data).decode("utf-8", errors="replace")',
                'return b"".join(data).decode()',
            )
        ],
        {"decode"},
        "errors='replace'",
    ),
    "viterbi_greedy": (
        [
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
        {"viterbi"},
        "greedy longest match",
    ),
    "em_hard_counts": (
        [
            (
                "em_step",
                "        for i, j, lp in spans:\n"
                "            expected[word[i:j]] += count * math.exp(alpha[i] + lp + beta[j] - alpha[n])\n",
                "        for piece in viterbi(word, logprobs)[0]:\n            expected[piece] += count\n",
            )
        ],
        {"em_step"},
        "viterbi (hard) counts",
    ),
}

DELEGATING = {
    "train_bpe": """
import lmcore.bpe


def train_bpe(text, vocab_size, special_tokens=()):
    return lmcore.bpe.train_bpe(text, vocab_size, special_tokens)
""",
    "viterbi": """
from lmcore import unigram


def viterbi(text, logprobs):
    return unigram.viterbi(text, logprobs)
""",
}

ALTERNATIVE = {
    "train_bpe": """
import heapq


class Descending:
    # orders pairs from the greatest down, so a min-heap pops the greatest pair among equal counts
    __slots__ = ("pair",)

    def __init__(self, pair):
        self.pair = pair

    def __lt__(self, other):
        return self.pair > other.pair

    def __eq__(self, other):
        return self.pair == other.pair


def train_bpe(text, vocab_size, special_tokens=()):
    pieces = Counter()
    for chunk, special in split_specials(text, special_tokens):
        if not special:
            pieces.update(regex.findall(GPT2_PATTERN, chunk))
    words = [[bytes([b]) for b in p.encode()] for p in pieces]
    freq = list(pieces.values())
    stats, index = defaultdict(int), defaultdict(set)
    for k, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            stats[a, b] += freq[k]
            index[a, b].add(k)
    heap = [(-c, Descending(p)) for p, c in stats.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < vocab_size - 256 - len(special_tokens) and heap:
        negative, entry = heapq.heappop(heap)
        pair = entry.pair
        if stats[pair] != -negative:  # a stale entry: the count changed since it was pushed
            continue
        merges.append(pair)
        changed = set()
        for k in index.pop(pair):
            w, n = words[k], freq[k]
            for a, b in zip(w, w[1:]):
                stats[a, b] -= n
                changed.add((a, b))
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == pair:
                    out.append(pair[0] + pair[1])
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[k] = out
            for a, b in zip(out, out[1:]):
                stats[a, b] += n
                index[a, b].add(k)
                changed.add((a, b))
        for p in changed:
            if stats[p] > 0:
                heapq.heappush(heap, (-stats[p], Descending(p)))
    return merges
""",
    "encode": """
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
    "decode": """
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
    "viterbi": """
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
    "em_step": """
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
}
