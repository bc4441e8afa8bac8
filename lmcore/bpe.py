"""Byte-level byte-pair encoding (BPE), the tokenizer family of GPT-2 and most LLMs since.

Training starts from the 256 single bytes and repeatedly merges the most frequent adjacent pair
of symbols into a new symbol. Text is first cut at special tokens (which are never merged with
anything), then pre-tokenized with a regex (GPT-2's by default) so that pairs never cross a
pre-token boundary: a merge can glue " t" + "he" but never "the" + " cat".

The tie rule (it decides every merge whose count is not unique, so read it once):

    **Among pairs with the same count, the lexicographically GREATEST pair wins**, comparing
    ``(left, right)`` as Python compares tuples of ``bytes``. So ``(b"aa", b"a")`` beats
    ``(b"a", b"b")`` (b"aa" > b"a"), and ``(b"t", b"h")`` beats ``(b"e", b" ")``.

A merge is a pair of byte strings; the vocabulary is ids 0..255 for the bytes, 256 + i for
``merges[i]`` and then the special tokens. ``train_bpe`` (incremental pair counts and a lazy
heap) and ``train_bpe_naive`` (recount everything every step) return identical merges;
``Tokenizer`` encodes and decodes, and ``encode`` / ``decode`` are its two calls as functions
of the merges (the signatures assignment A2 asks for).
"""

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import pairwise

import regex
from tqdm.auto import tqdm

from lmcore.validation import integer

# GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols (each with an optional
# leading space), then runs of whitespace (all but the last space of a run before a word).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

Merge = tuple[bytes, bytes]

BYTES = tuple(bytes([b]) for b in range(256))  # BYTES[b] is the one-byte string b


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def _check_special_tokens(special_tokens: Sequence[str]) -> tuple[str, ...]:
    """The special tokens as a tuple; ValueError if not a sequence of distinct non-empty strings."""
    if isinstance(special_tokens, str | bytes):
        raise ValueError(f"special_tokens must be a sequence of strings like [{special_tokens!r}], not a str")
    special_tokens = tuple(special_tokens)
    for s in special_tokens:
        if not isinstance(s, str) or not s:
            raise ValueError(f"every special token must be a non-empty str, got {s!r}")
    repeated = [s for s, n in Counter(special_tokens).items() if n > 1]
    if repeated:
        raise ValueError(f"special tokens must be distinct, {repeated[0]!r} is given more than once")
    return special_tokens


def split_special(text: str, special_tokens: Sequence[str]) -> list[tuple[str, bool]]:
    """Cut text at every special token: ``[(chunk, is_special), ...]`` in order.

    Scanning left to right, at each position the LONGEST special token that matches there wins.
    Empty ordinary chunks are dropped, so ``"".join(c for c, _ in result) == text``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    special_tokens = _check_special_tokens(special_tokens)
    if not special_tokens:
        return [(text, False)] if text else []
    # an alternation tries its branches in order, so longest first means longest match wins
    alternation = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
    parts = regex.split(f"({alternation})", text)  # ordinary, special, ordinary, ..., ordinary
    return [(part, i % 2 == 1) for i, part in enumerate(parts) if part]


def pretokenize(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """All matches of ``pattern`` in text; ValueError unless they cover the text exactly."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    pieces = _compiled(pattern).findall(text)
    if "".join(pieces) != text:
        raise ValueError("the pre-tokenization pattern skips characters of the text; it must match them all")
    return pieces


def word_counts(
    text: str, special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
) -> Counter[tuple[bytes, ...]]:
    """How often each pre-token occurs, each as a tuple of single bytes (its UTF-8 encoding).

    Special tokens are cut out first and never belong to any pre-token.
    """
    pieces = Counter()
    for chunk, is_special in split_special(text, special_tokens):
        if not is_special:
            pieces.update(pretokenize(chunk, pattern))
    return Counter({tuple(map(BYTES.__getitem__, p.encode("utf-8"))): n for p, n in pieces.items()})


def count_pairs(words: Mapping[tuple[bytes, ...], int]) -> Counter[Merge]:
    """Occurrences of every adjacent pair of symbols, each word weighted by its count."""
    pairs = Counter()
    for word, n in words.items():
        for pair in pairwise(word):
            pairs[pair] += n
    return pairs


def apply_merge(symbols: tuple[bytes, ...], pair: Merge) -> tuple[bytes, ...]:
    """Replace the non-overlapping occurrences of pair, left to right: (a,a,a) with (a,a) -> (aa,a)."""
    left, right = pair
    return _merge_symbols(symbols, left, right, left + right)


def _merge_symbols(symbols: tuple[bytes, ...], left: bytes, right: bytes, merged: bytes) -> tuple[bytes, ...]:
    """``apply_merge`` with the merged symbol given: training passes one object for all words,
    whose hash is then computed once, not once per word."""
    out = []
    i, last = 0, len(symbols) - 1
    while i < last:
        if symbols[i] == left and symbols[i + 1] == right:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    if i == last:  # the final symbol was not the left half of a merge
        out.append(symbols[last])
    return tuple(out)


def best_pair(pairs: Mapping[Merge, int]) -> Merge:
    """The most frequent pair; among equally frequent pairs the lexicographically GREATEST one."""
    if not pairs:
        raise ValueError("there are no pairs to choose from")
    return max(pairs.items(), key=lambda item: (item[1], item[0]))[0]


def _num_merges(text: str, vocab_size: int, special_tokens: Sequence[str]) -> int:
    """Validate the training arguments; the number of merges vocab_size asks for."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    special_tokens = _check_special_tokens(special_tokens)
    minimum = 256 + len(special_tokens)
    hint = (
        f"the vocabulary holds 256 bytes + {len(special_tokens)} special tokens = {minimum} before any merge"
    )
    return integer("vocab_size", vocab_size, low=minimum, hint=hint) - minimum


def train_bpe_naive(
    text: str, vocab_size: int, special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
) -> list[Merge]:
    """The textbook loop: recount every pair, merge the best pair in every word, repeat.

    Same contract and result as ``train_bpe``, at a cost of O(corpus) per merge.
    """
    n_merges = _num_merges(text, vocab_size, special_tokens)
    words = word_counts(text, special_tokens, pattern)
    merges = []
    for _ in range(n_merges):
        pairs = count_pairs(words)
        if not pairs:
            break
        pair = best_pair(pairs)
        merges.append(pair)
        words = Counter({apply_merge(word, pair): n for word, n in words.items()})
    return merges


def _reversed_order(symbol: bytes) -> tuple[int, ...]:
    """A key whose order is the reverse of bytes order: a < b iff key(a) > key(b).

    Each byte x becomes 255 - x and a terminator 256 (above every byte) ends the key, so a
    prefix, which is the smaller bytes, gets the greater key.
    """
    return (*(255 - x for x in symbol), 256)


def train_bpe(
    text: str,
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    pattern: str = GPT2_PATTERN,
    progress: bool = False,
) -> list[Merge]:
    """Learn BPE merges from text: ``vocab_size - 256 - len(special_tokens)`` of them.

    Fewer only if no pre-token has two symbols left. Each step merges ``best_pair`` of the current
    pair counts (most frequent; ties to the greatest pair). Pairs never cross pre-tokens or special
    tokens. ValueError if text is not a str, vocab_size < 256 + len(special_tokens), or a special
    token is empty or repeated.

    Fast version: pair counts are kept up to date, and for each pair the set of words that may
    hold it; a merge revisits only those words and pushes only the counts it changed. Both
    structures are lazy. The best pair comes from a heap of (-count, reversed-order key, pair)
    entries, and an entry whose count has changed since it was pushed is skipped when popped. A
    word stays in the set of a pair it has lost, and is skipped when that pair is merged (merging
    leaves it as long as it was); a merge adds a word only to the sets of the pairs it creates,
    which all hold the new symbol.
    """
    n_merges = _num_merges(text, vocab_size, special_tokens)
    counts = word_counts(text, special_tokens, pattern)
    words = list(counts)  # each a tuple of symbols, rewritten as merges apply
    freqs = list(counts.values())
    pair_counts: dict[Merge, int] = {}
    where: dict[Merge, set[int]] = {}  # pair -> indices of the words that contain it, and stale ones
    for i, (word, n) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] = pair_counts.get(pair, 0) + n
            where.setdefault(pair, set()).add(i)

    order_keys: dict[bytes, tuple[int, ...]] = {}

    def entry(pair: Merge, count: int) -> tuple:
        a, b = pair
        ka = order_keys.get(a) or order_keys.setdefault(a, _reversed_order(a))
        kb = order_keys.get(b) or order_keys.setdefault(b, _reversed_order(b))
        return (-count, ka, kb, pair)

    heap = [entry(pair, count) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    for _ in tqdm(range(n_merges), desc="BPE merges", disable=not progress):
        while heap and pair_counts.get(heap[0][3]) != -heap[0][0]:
            heapq.heappop(heap)  # stale: the pair's count changed after this entry was pushed
        if not heap:
            break
        pair = heapq.heappop(heap)[3]
        merges.append(pair)
        left, right = pair
        merged = left + right
        delta: dict[Merge, int] = {}  # how each pair's count changes with this merge
        for i in where.pop(pair):
            old, n = words[i], freqs[i]
            new = _merge_symbols(old, left, right, merged)
            if len(new) == len(old):
                continue  # a stale index: the word lost this pair to an earlier merge
            words[i] = new
            for p in pairwise(old):
                delta[p] = delta.get(p, 0) - n
            for p in pairwise(new):
                delta[p] = delta.get(p, 0) + n
                if merged in p:  # a pair the merge may have created
                    where.setdefault(p, set()).add(i)
        for p, d in delta.items():
            if d == 0:
                continue
            count = pair_counts.get(p, 0) + d
            if count:
                pair_counts[p] = count
                heapq.heappush(heap, entry(p, count))
            else:
                pair_counts.pop(p, None)
    return merges


class Tokenizer:
    """A byte-level BPE tokenizer: text <-> list of ids.

    Ids: 0..255 are the single bytes; 256 + i is ``merges[i]`` (the bytes ``merges[i][0] +
    merges[i][1]``); then the special tokens in the given order (256 + len(merges) + j). Two
    merges may spell the same bytes, e.g. (a, bc) and (ab, c); they are different ids.
    """

    def __init__(
        self, merges: Sequence[Merge], special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
    ):
        self.special_tokens = _check_special_tokens(special_tokens)
        self.pattern = pattern
        self.merges = []
        self.vocab: dict[int, bytes] = dict(enumerate(BYTES))
        known = set(BYTES)  # byte strings that a merge may use: bytes and earlier merges' results
        self.ranks: dict[Merge, int] = {}  # pair -> its first merge index (lower merges first)
        for i, merge in enumerate(merges):
            if not (isinstance(merge, tuple | list) and len(merge) == 2):
                raise ValueError(f"merge {i} must be a pair (bytes, bytes), got {merge!r}")
            a, b = merge
            for part in (a, b):
                if not isinstance(part, bytes) or part not in known:
                    raise ValueError(
                        f"merge {i} {merge!r}: {part!r} is neither a byte nor the result of an earlier merge"
                    )
            self.merges.append((a, b))
            self.ranks.setdefault((a, b), i)
            self.vocab[256 + i] = a + b
            known.add(a + b)
        first_special = 256 + len(self.merges)
        self.special_ids = {s: first_special + j for j, s in enumerate(self.special_tokens)}
        self.vocab.update({i: s.encode("utf-8") for s, i in self.special_ids.items()})
        self._cache: dict[str, list[int]] = {}  # pre-token -> its ids

    @classmethod
    def train(
        cls, text: str, vocab_size: int, special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
    ) -> "Tokenizer":
        """A tokenizer with the merges ``train_bpe`` learns from text."""
        return cls(train_bpe(text, vocab_size, special_tokens, pattern), special_tokens, pattern)

    def encode_bytes(self, piece: bytes) -> list[int]:
        """Ids of one pre-token: from single bytes, apply the lowest-ranked merge present, repeat.

        Each round merges every non-overlapping occurrence (left to right) of the adjacent pair
        with the lowest merge rank, until no adjacent pair is a merge.
        """
        symbols = list(map(BYTES.__getitem__, piece))
        ids = list(piece)
        ranks, none = self.ranks, len(self.merges)
        while len(symbols) > 1:
            rank = min(ranks.get(pair, none) for pair in pairwise(symbols))
            if rank == none:
                break
            left, right = self.merges[rank]
            merged_symbols, merged_ids = [], []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == left and symbols[i + 1] == right:
                    merged_symbols.append(left + right)
                    merged_ids.append(256 + rank)
                    i += 2
                else:
                    merged_symbols.append(symbols[i])
                    merged_ids.append(ids[i])
                    i += 1
            symbols, ids = merged_symbols, merged_ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Ids of text: special tokens become their ids, the rest is pre-tokenized and merged."""
        ids = []
        for chunk, is_special in split_special(text, self.special_tokens):
            if is_special:
                ids.append(self.special_ids[chunk])
                continue
            for piece in pretokenize(chunk, self.pattern):
                piece_ids = self._cache.get(piece)
                if piece_ids is None:
                    piece_ids = self._cache[piece] = self.encode_bytes(piece.encode("utf-8"))
                ids.extend(piece_ids)
        return ids

    def token_bytes(self, ids: Sequence[int]) -> list[bytes]:
        """The byte string of each id. The first id outside the vocabulary 0..len(vocab) - 1
        (a negative one too) raises ValueError naming it, one that is not an int TypeError."""
        high = len(self.vocab) - 1
        return [
            self.vocab[integer("token id", i, low=0, high=high, hint="it is not in the vocabulary")]
            for i in ids
        ]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids: all their bytes joined, decoded once as UTF-8 (invalid bytes -> U+FFFD)."""
        return b"".join(self.token_bytes(ids)).decode("utf-8", errors="replace")


def encode(
    text: str, merges: Sequence[Merge], special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
) -> list[int]:
    """``Tokenizer(merges, special_tokens, pattern).encode(text)``: the ids of text."""
    return Tokenizer(merges, special_tokens, pattern).encode(text)


def decode(ids: Sequence[int], merges: Sequence[Merge], special_tokens: Sequence[str] = ()) -> str:
    """``Tokenizer(merges, special_tokens).decode(ids)``: all the ids' bytes joined, decoded once as
    UTF-8 (invalid bytes -> U+FFFD); an id outside the vocabulary, negative too, raises ValueError."""
    return Tokenizer(merges, special_tokens).decode(ids)
