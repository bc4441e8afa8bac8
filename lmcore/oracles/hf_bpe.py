"""Hugging Face ``tokenizers`` as an independent oracle for ``lmcore.bpe``.

``hf_tokenizer`` loads lmcore's merges into a ``tokenizers.Tokenizer`` (Rust); ``hf_token_bytes``
reads back the byte string of each token it produces, so the two implementations can be compared
token by token. Compare byte strings, not ids: two merges can spell the same bytes, and Hugging
Face's vocabulary, a map from string to id, keeps only the first of them.

Hugging Face stores byte-level tokens as printable strings, using GPT-2's table that maps each
byte to one printable character (``bytes_to_unicode`` below). ``tokenizers`` is a dev dependency.
"""

from collections.abc import Sequence

from lmcore.bpe import BYTES, GPT2_PATTERN, Merge

try:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError as e:
    raise ImportError("lmcore.oracles.hf_bpe needs Hugging Face tokenizers: pip install -e '.[dev]'") from e


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table.

    Bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    themselves; each of the other 68 bytes (controls, space, soft hyphen, ...) is given the next
    unused code point from 256 upwards, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + k) for k, b in enumerate(others)})
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _to_str(token: bytes) -> str:
    return "".join(BYTE_TO_CHAR[b] for b in token)


def _byte_level_pipeline(tok: Tokenizer, pattern: str) -> None:
    """Give tok the byte-level pre-tokenizer for pattern and the byte-level decoder."""
    if pattern == GPT2_PATTERN:  # ByteLevel's built-in regex is GPT-2's
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), "isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()


def hf_tokenizer(
    merges: Sequence[Merge], special_tokens: Sequence[str] = (), pattern: str = GPT2_PATTERN
) -> Tokenizer:
    """A Hugging Face tokenizer with the same bytes, merges, special tokens and pre-tokenizer."""
    vocab = {_to_str(b): i for i, b in enumerate(BYTES)}
    for i, (a, b) in enumerate(merges):
        vocab.setdefault(_to_str(a + b), 256 + i)  # a duplicate byte string keeps its first id
    hf_merges = [(_to_str(a), _to_str(b)) for a, b in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=hf_merges))
    _byte_level_pipeline(tok, pattern)
    tok.add_special_tokens(list(special_tokens))
    return tok


def hf_token_bytes(tok: Tokenizer, text: str) -> list[bytes]:
    """The byte string of each token Hugging Face makes of text (special tokens as UTF-8)."""
    special = {i: t.content for i, t in tok.get_added_tokens_decoder().items() if t.special}
    enc = tok.encode(text, add_special_tokens=False)
    return [
        special[i].encode("utf-8") if i in special else bytes(CHAR_TO_BYTE[c] for c in token)
        for i, token in zip(enc.ids, enc.tokens, strict=True)
    ]


def hf_train(text: str, vocab_size: int, special_tokens: Sequence[str] = ()) -> Tokenizer:
    """A byte-level BPE tokenizer trained by Hugging Face's BpeTrainer (for timing comparisons).

    Its merges differ from ``lmcore.bpe.train_bpe``'s where counts tie: the tie rules differ.
    """
    tok = Tokenizer(models.BPE())
    _byte_level_pipeline(tok, GPT2_PATTERN)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        show_progress=False,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([text], trainer=trainer)
    return tok
