"""lmcore.bpe: hand-derived merges, fast == naive trainer, round trips, the Hugging Face oracle;
and what A2's checks of a student's BPE do beyond the parametrized suite (tests/test_parts.py)."""

import linecache
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore.bpe import (
    GPT2_PATTERN,
    Tokenizer,
    apply_merge,
    best_pair,
    count_pairs,
    decode,
    encode,
    pretokenize,
    split_special,
    train_bpe,
    train_bpe_naive,
    word_counts,
)
from lmcore.oracles.hf_bpe import hf_token_bytes, hf_tokenizer

ASCII_TEXT = (
    "The quick brown fox jumps over the lazy dog. Then the dog wakes up, and it isn't lazy any more: "
    "it chases the fox around the farm twice, 2 times, 22 times!  Nobody's sure who won.\n\n"
    "We'll never know; they're both asleep now, and the farmer's cat has seen it all before.\n"
) * 3
MULTILINGUAL_TEXT = (
    "Grüße aus Köln! Ça va très bien, merci. Η γλώσσα είναι ζωντανή. Язык живой и меняется. "
    "语言模型预测下一个词。 言語モデルは次の単語を予測する。 🙂🚀 naïve café 🍕🍕 e\u0301 "
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. 🙂 Ça ira.\n"
) * 2
TIE_TEXT = "ab cd ef gh ij kl mn op qr st uv wx yz ba dc fe hg ji lk nm po rq ts vu xw zy"
HELD_OUT = (
    "A lazy fox and a quick dog met again in Köln; the cat said: «ça suffit», and nobody's asleep.\n"
    "Числа 12345 и 67, эмодзи 🚀🙂, 语言 and   several   spaces\t\ttabs\r\nand the end."
)


@cache
def tok_multilingual() -> Tokenizer:
    """One tokenizer for all hypothesis examples (training it per example would be slow)."""
    return Tokenizer.train(MULTILINGUAL_TEXT + ASCII_TEXT, 256 + 300, ["<|endoftext|>"])


@cache
def hf_multilingual():
    tok = tok_multilingual()
    return hf_tokenizer(tok.merges, tok.special_tokens, tok.pattern)


def b(*symbols: str) -> tuple[bytes, ...]:
    return tuple(s.encode() for s in symbols)


# ---------------------------------------------------------------- small pieces


def test_pretokenize_attaches_a_leading_space_to_the_following_word():
    assert pretokenize("the car the cat the rat") == ["the", " car", " the", " cat", " the", " rat"]
    text = "We'll go  now!\n\n 42"
    pieces = pretokenize(text)
    assert pieces == ["We", "'ll", " go", " ", " now", "!", "\n\n", " 42"]
    assert "".join(pieces) == text


def test_pretokenize_rejects_a_pattern_that_skips_characters():
    with pytest.raises(ValueError, match="skips"):
        pretokenize("a b", pattern=r"\w+")
    assert pretokenize("a b", pattern=r"\w+|\s") == ["a", " ", "b"]


def test_split_special_longest_match_wins_and_empty_chunks_are_dropped():
    assert split_special("", []) == []
    assert split_special("abc", []) == [("abc", False)]
    assert split_special("<|a|><|a|>", ["<|a|>"]) == [("<|a|>", True), ("<|a|>", True)]
    assert split_special("x<|a|>y", ["<|a", "<|a|>"]) == [("x", False), ("<|a|>", True), ("y", False)]
    # overlapping specials: the match found first, then longest, consumes the text
    assert split_special("<|a|>>", ["<|a|>", "|>>"]) == [("<|a|>", True), (">", False)]
    assert split_special("ab", ["ab", "b"]) == [("ab", True)]


def test_word_counts_removes_special_tokens_before_pretokenizing():
    counts = word_counts("the cat<|s|> the", ["<|s|>"])
    assert counts == {b("t", "h", "e"): 1, b(" ", "c", "a", "t"): 1, b(" ", "t", "h", "e"): 1}
    assert word_counts("é") == {(b"\xc3", b"\xa9"): 1}  # one pre-token, two UTF-8 bytes


def test_count_pairs_weights_by_word_count_and_counts_overlaps():
    pairs = count_pairs({b("a", "a", "a"): 2, b("a", "b"): 5})
    assert pairs == {(b"a", b"a"): 4, (b"a", b"b"): 5}


def test_apply_merge_is_left_to_right_and_non_overlapping():
    assert apply_merge(b("a", "a", "a"), (b"a", b"a")) == b("aa", "a")
    assert apply_merge(b("a", "a", "a", "a"), (b"a", b"a")) == b("aa", "aa")
    assert apply_merge(b("x", "a", "b", "a", "b"), (b"a", b"b")) == b("x", "ab", "ab")
    assert apply_merge(b("a", "c"), (b"a", b"b")) == b("a", "c")


def test_best_pair_breaks_ties_towards_the_greatest_pair():
    assert best_pair({(b"a", b"b"): 3, (b"z", b"z"): 2}) == (b"a", b"b")  # count first
    assert best_pair({(b"a", b"b"): 2, (b"aa", b"a"): 2}) == (b"aa", b"a")  # b"aa" > b"a"
    assert best_pair({(b"a", b"b"): 2, (b"a", b"c"): 2}) == (b"a", b"c")  # then the right side
    assert best_pair({(b"t", b"h"): 3, (b"h", b"e"): 3}) == (b"t", b"h")
    with pytest.raises(ValueError):
        best_pair({})


# ---------------------------------------------------------------- training, derived by hand


def test_aaabdaaabac_merges_derived_by_hand():
    # one pre-token a a a b d a a a b a c. Counts: (a,a) 4, (a,b) 2, others 1 -> (a,a).
    # aa a b d aa a b a c: (aa,a) 2 and (a,b) 2 tie; b"aa" > b"a" -> (aa,a).
    # aaa b d aaa b a c: (aaa,b) 2 -> aaab d aaab a c: all pairs 1; greatest left is b"d" -> (d,aaab).
    # aaab daaab a c: (aaab,daaab), (daaab,a), (a,c) all 1; greatest left b"daaab" -> (daaab,a).
    expected = [(b"a", b"a"), (b"aa", b"a"), (b"aaa", b"b"), (b"d", b"aaab"), (b"daaab", b"a")]
    assert train_bpe("aaabdaaabac", 256 + 5) == expected
    assert train_bpe_naive("aaabdaaabac", 256 + 5) == expected
    # then aaab daaaba c: 2 pairs left, 2 more merges possible; asking for 10 stops after 7
    assert len(train_bpe("aaabdaaabac", 256 + 10)) == 7


def test_car_cat_rat_merges_derived_by_hand():
    # pre-tokens: "the", " car", " the", " cat", " the", " rat" (the space starts the next word).
    # (t,h) 3 and (h,e) 3 tie -> b"t" > b"h" -> (t,h); then (th,e) 3.
    # Count 2: (" ",the), (" ",c), (c,a), (a,t); greatest left is b"c" -> (c,a).
    # Count 2 left: (" ",the), (" ",ca) -> b"the" > b"ca" -> (" ",the); then (" ",ca) 2.
    # All ones: (ca,r), (ca,t), (" ",r), (r,a), (a,t) -> greatest left b"r" -> (r,a).
    expected = [(b"t", b"h"), (b"th", b"e"), (b"c", b"a"), (b" ", b"the"), (b" ", b"ca"), (b"r", b"a")]
    assert train_bpe("the car the cat the rat", 256 + 6) == expected
    assert train_bpe_naive("the car the cat the rat", 256 + 6) == expected


@pytest.mark.parametrize(
    "text, vocab_size, special_tokens",
    [
        (ASCII_TEXT, 256 + 150, ()),
        (MULTILINGUAL_TEXT, 256 + 200, ()),
        (TIE_TEXT, 256 + 60, ()),
        ("aaaa aaaaaaa aa aaa a aaaaa " * 3, 256 + 20, ()),
        (ASCII_TEXT.replace("\n\n", "<|endoftext|>"), 256 + 2 + 120, ("<|endoftext|>", "<|pad|>")),
    ],
)
def test_fast_trainer_equals_naive(text, vocab_size, special_tokens):
    fast = train_bpe(text, vocab_size, special_tokens)
    assert fast == train_bpe_naive(text, vocab_size, special_tokens)
    assert len(fast) <= vocab_size - 256 - len(special_tokens)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab c\nλ🙂", max_size=40), st.integers(0, 40))
def test_fast_trainer_equals_naive_on_random_texts(text, n_merges):
    assert train_bpe(text, 256 + n_merges) == train_bpe_naive(text, 256 + n_merges)


def test_vocab_size_counts_bytes_merges_and_special_tokens():
    merges = train_bpe(ASCII_TEXT, 300, ["<|a|>", "<|b|>"])
    assert len(merges) == 300 - 256 - 2
    tok = Tokenizer(merges, ["<|a|>", "<|b|>"])
    assert len(tok.vocab) == 300 and tok.encode("<|b|>") == [299]
    assert train_bpe(ASCII_TEXT, 258, ["<|a|>", "<|b|>"]) == []
    assert train_bpe("", 300) == [] and train_bpe("a.b!c", 300) == []  # no pre-token has a pair


def test_special_tokens_are_never_merged_and_encode_to_one_id():
    text = "ab<|s|>ab<|s|>" * 20
    assert train_bpe(text, 256 + 1 + 10, ["<|s|>"]) == [(b"a", b"b")]  # nothing else is adjacent
    assert (b"<", b"|") in train_bpe(text, 256 + 10)  # without the special token its bytes merge
    tok = Tokenizer.train(text, 256 + 1 + 10, ["<|s|>"])
    assert tok.encode("ab<|s|><|s|>b") == [256, 257, 257, ord("b")]
    assert tok.decode([256, 257]) == "ab<|s|>"


# ---------------------------------------------------------------- the tokenizer


def test_ids_follow_bytes_then_merges_then_special_tokens():
    tok = Tokenizer([(b"a", b"b"), (b"ab", b"c")], ["<|x|>"])
    assert tok.vocab[97] == b"a" and tok.vocab[256] == b"ab" and tok.vocab[257] == b"abc"
    assert tok.vocab[258] == b"<|x|>" and len(tok.vocab) == 259
    assert tok.encode("abcab<|x|>") == [257, 256, 258]


def test_encode_applies_the_lowest_ranked_merge_first():
    # (b,c) ranks before (a,b), so "abc" becomes a|bc even though (a,b) is leftmost
    tok = Tokenizer([(b"b", b"c"), (b"a", b"b")])
    assert tok.encode("abc") == [ord("a"), 256]
    assert tok.encode("abab") == [257, 257]


def test_two_merges_with_the_same_bytes_are_different_ids():
    tok = Tokenizer([(b"b", b"c"), (b"a", b"b"), (b"a", b"bc"), (b"ab", b"c")])
    assert tok.vocab[258] == tok.vocab[259] == b"abc"
    assert tok.encode("abc") == [258]  # a|bc exists first, so (a,bc) applies
    hf = hf_tokenizer(tok.merges)
    for text in ["abc", "xbc abc", "bcbc aabc abbc"]:
        assert tok.token_bytes(tok.encode(text)) == hf_token_bytes(hf, text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8")))  # any UTF-8 encodable text, no lone surrogates
def test_decode_inverts_encode_on_arbitrary_unicode(text):
    assert tok_multilingual().decode(tok_multilingual().encode(text)) == text


def test_decode_joins_bytes_before_decoding_and_replaces_invalid_utf8():
    tok = Tokenizer([])
    assert tok.encode("é") == [0xC3, 0xA9]
    assert tok.decode([0xC3, 0xA9]) == "é"  # a character split across two tokens
    assert tok.decode([0xC3]) == "\ufffd"  # half a character
    assert tok.decode([ord("a"), 0xFF, ord("b")]) == "a\ufffdb"  # 0xFF is never valid UTF-8
    assert tok.token_bytes([0xC3, 0xA9]) == [b"\xc3", b"\xa9"]


def test_encode_matches_hugging_face_on_held_out_text():
    specials = ["<|endoftext|>"]
    merges = train_bpe(ASCII_TEXT + MULTILINGUAL_TEXT, 256 + 1 + 250, specials)
    tok, hf = Tokenizer(merges, specials), hf_tokenizer(merges, specials)
    held_out = HELD_OUT + "<|endoftext|>" + HELD_OUT.upper() + "<|endoftext|><|endoftext|>"
    ours = tok.token_bytes(tok.encode(held_out))
    assert ours == hf_token_bytes(hf, held_out)
    assert b"<|endoftext|>" in ours and len(ours) < len(held_out.encode())  # merges were used


def test_encode_matches_hugging_face_with_a_custom_pattern():
    pattern = r"\p{L}+|\p{N}|\s+|[^\s\p{L}\p{N}]+"
    merges = train_bpe(ASCII_TEXT, 256 + 80, pattern=pattern)
    assert merges != train_bpe(ASCII_TEXT, 256 + 80)
    tok, hf = Tokenizer(merges, pattern=pattern), hf_tokenizer(merges, pattern=pattern)
    assert tok.token_bytes(tok.encode(HELD_OUT)) == hf_token_bytes(hf, HELD_OUT)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="the quick brown fox'sll 0123\n\t!?.é🙂<|>", max_size=80))
def test_encode_matches_hugging_face_on_random_text(text):
    tok = tok_multilingual()
    assert tok.token_bytes(tok.encode(text)) == hf_token_bytes(hf_multilingual(), text)


# ---------------------------------------------------------------- wrong input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(text="abc", vocab_size=255), "vocab_size must be >= 256"),
        (dict(text="abc", vocab_size=257, special_tokens=["<a>", "<b>"]), "= 258"),
        (dict(text=b"abc", vocab_size=300), "text must be a str"),
        (dict(text=["abc"], vocab_size=300), "text must be a str"),
        (dict(text="abc", vocab_size=300, special_tokens=[""]), "non-empty"),
        (dict(text="abc", vocab_size=300, special_tokens=["<a>", "<a>"]), "more than once"),
        (dict(text="abc", vocab_size=300, special_tokens="<a>"), "not a str"),
        (dict(text="abc", vocab_size=300, special_tokens=[1]), "non-empty str"),
    ],
)
@pytest.mark.parametrize("trainer", [train_bpe, train_bpe_naive])
def test_training_rejects_wrong_input(trainer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        trainer(**kwargs)


@pytest.mark.parametrize("trainer", [train_bpe, train_bpe_naive])
def test_training_rejects_a_vocab_size_that_is_not_an_int(trainer):
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        trainer("abc", 300.0)


def test_tokenizer_rejects_merges_of_unknown_parts():
    with pytest.raises(ValueError, match="merge 0"):
        Tokenizer([(b"ab", b"c")])  # b"ab" is not a byte and no earlier merge made it
    with pytest.raises(ValueError, match="merge 0"):
        Tokenizer([(b"a", b"bc"), (b"b", b"c")])  # (b,c) comes too late
    with pytest.raises(ValueError, match="merge 1"):
        Tokenizer([(b"a", b"b"), ("ab", "c")])  # str, not bytes
    with pytest.raises(ValueError, match="pair"):
        Tokenizer([(b"a", b"b", b"c")])
    with pytest.raises(ValueError, match="more than once"):
        Tokenizer([], ["<a>", "<a>"])


def test_decode_names_the_first_unknown_id():
    tok = Tokenizer([(b"a", b"b")], ["<s>"])
    assert tok.decode([256, 257]) == "ab<s>"
    for bad in (258, -1, -2):  # a negative id is not an index from the end
        with pytest.raises(ValueError, match=rf"token id must be in \[0, 257\], got {bad}; it is not in"):
            tok.decode([97, bad, 999])
    for bad in (1.0, "97", True):
        with pytest.raises(TypeError, match="token id must be an int"):
            tok.decode([97, bad, 999])
    assert decode([97, 256, 257], [(b"a", b"b")], ["<s>"]) == "aab<s>"
    assert encode("aab<s>", [(b"a", b"b")], ["<s>"]) == [97, 256, 257]
    with pytest.raises(ValueError, match="text must be a str"):
        tok.encode(b"abc")


def test_default_pattern_is_gpt2s():
    assert Tokenizer([]).pattern == GPT2_PATTERN
    assert pretokenize("I'm here, they've 3 cats") == ["I", "'m", " here", ",", " they", "'ve", " 3", " cats"]


# ---------------------------------------------------------------- A2's checks


def test_a2_train_bpe_perf(monkeypatch):
    """The hidden check times 1 MB of training and bounds the memory of 250 kB: with both bars
    lowered below what any trainer needs, the solution fails exactly those two properties."""
    from lmcore.grading.a2 import train_bpe as part
    from tests.parts import solution_namespace

    monkeypatch.setattr(part, "PERF_SECONDS", 0.001)
    monkeypatch.setattr(part, "MEMORY_LIMIT_MB", 0.5)
    report = part.check(solution_namespace("A2")["train_bpe"], thorough=True)
    failed = [p.name for p in report.failed()]
    assert len(failed) == 2 and "finishes within 0 s" in failed[0] and "lmcore's reference" in failed[0]
    assert "peak Python memory at most 0 MB" in failed[1]


def test_a2_train_bpe_error_names_the_students_line():
    """A pattern that does not compile raises inside the regex library; the report shows the
    line of the student's cell (IPython keeps each cell's source in linecache), not the library's."""
    from lmcore.grading.a2 import train_bpe as part
    from lmcore.grading.a2._common import BROKEN_PATTERN

    source = (
        "import regex\n\n\ndef train_bpe(text, vocab_size, special_tokens=()):\n"
        f'    return regex.findall(r"""{BROKEN_PATTERN}""", text)\n'
    )
    cell = "/tmp/ipykernel_0/a2_train_bpe.py"  # where IPython files a cell's code
    linecache.cache[cell] = (len(source), None, source.splitlines(keepends=True), cell)
    namespace = {}
    exec(compile(source, cell, "exec"), namespace)
    report = part.check(namespace["train_bpe"])
    (runs, *_) = report.failed()
    assert "error: missing ) at position" in runs.detail
    assert runs.detail.endswith('(line 5: return regex.findall(r"""' + BROKEN_PATTERN + '""", text))')
    assert "bad_pattern" in report.mistakes


def test_a2_encode_hugging_face_is_delegation():
    """The tracer sees the Rust library's calls: an encode handed to Hugging Face loses the part."""
    from lmcore.grading.a2 import encode as part

    def hf_encode(text, merges, special_tokens=()):
        return hf_tokenizer(merges, special_tokens).encode(text).ids

    report = part.check(hf_encode, thorough=True)
    assert "the tokenizers library" in str(report) and not report.passed


def test_a2_solution_round_trips_arbitrary_unicode():
    """Hypothesis searches arbitrary Unicode with special tokens mixed in for a text that the
    solution's encode and decode do not round-trip (the checks' own texts are seeded)."""
    from tests.parts import solution_namespace

    ns, specials = solution_namespace("A2"), ["<|endoftext|>", "<|pad|>"]
    tok = tok_multilingual()

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(st.text(st.characters(codec="utf-8")) | st.sampled_from(specials)).map("".join))
    def round_trip(text):
        ids = ns["encode"](text, tok.merges, specials)
        assert ids == encode(text, tok.merges, specials)
        assert ns["decode"](ids, tok.merges, specials) == text

    round_trip()
