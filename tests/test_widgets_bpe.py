"""lmcore.widgets.bpe: the BPE merge stepper, driven without a display."""

import pytest

from lmcore.bpe import count_pairs, train_bpe, train_bpe_naive, word_counts
from lmcore.widgets.bpe import (
    DEFAULT_TEXT,
    TOP_PAIRS,
    BPEStepper,
    pairs_html,
    token_ids,
    token_label,
    trace_bpe,
)

PARAGRAPH = "the cat sat on the mat. the rat sat on the cat, and then the cat sat on the rat!"


@pytest.mark.parametrize("text", [DEFAULT_TEXT, "aaabdaaabac", PARAGRAPH, "naïve café, naïve cafés"])
def test_trace_merges_are_train_bpe_merges(text):
    trace = trace_bpe(text, 25)
    n = len(trace.merges)
    assert trace.merges == train_bpe(text, 256 + n) == train_bpe_naive(text, 256 + n)
    assert len(trace.segments) == len(trace.pairs) == n + 1
    assert len(trace.counts) == n


def test_trace_stops_when_every_word_is_one_token():
    trace = trace_bpe("ab ab", 10)  # words "ab" and " ab": 1 + 2 merges make each a single token
    assert [a + b for a, b in trace.merges] == [b"ab", b" ab"]
    assert not trace.pairs[-1]
    assert "No pairs left" in pairs_html(trace.pairs[-1], trace.merges)
    stepper = BPEStepper("ab ab", n_merges=10)
    assert stepper.step.max == 2
    assert "allows only 2 merges" in stepper.summary.value


def test_construction_shows_the_last_step_losslessly():
    stepper = BPEStepper()
    k = stepper.step.value
    assert k == stepper.step.max == len(stepper.trace.merges) > 0
    assert stepper.merges == train_bpe(DEFAULT_TEXT, 256 + k)
    assert b"".join(b"".join(tokens) for tokens in stepper.pieces) == DEFAULT_TEXT.encode()
    assert f"{stepper.n_bytes} bytes" in stepper.summary.value
    assert f"{stepper.n_tokens} tokens" in stepper.summary.value
    assert stepper.n_tokens < stepper.n_bytes


def test_moving_the_slider_changes_the_segmentation():
    stepper = BPEStepper(PARAGRAPH, n_merges=12, step=0)
    assert stepper.merges == []
    assert stepper.n_tokens == stepper.n_bytes  # no merges: one token per byte
    assert all(len(t) == 1 for tokens in stepper.pieces for t in tokens)
    shown = stepper.tokens_view.value
    stepper.step.value = 5
    assert stepper.tokens_view.value != shown
    assert stepper.n_tokens < stepper.n_bytes
    assert b"".join(b"".join(tokens) for tokens in stepper.pieces) == PARAGRAPH.encode()
    merged = {a + b for a, b in stepper.merges}
    assert merged & {t for tokens in stepper.pieces for t in tokens}


@pytest.mark.parametrize("k", [1, 3, 7, 12])
def test_merges_shown_are_train_bpe_merges(k):
    stepper = BPEStepper(PARAGRAPH, n_merges=12, step=0)
    stepper.step.value = k
    assert stepper.merges == train_bpe(PARAGRAPH, 256 + k)
    view = stepper.merges_view.value
    assert all(f">{256 + i}</td>" in view for i in range(k))
    assert f">{256 + k}</td>" not in view


def test_pair_view_marks_the_winner_and_every_shown_tie():
    stepper = BPEStepper(DEFAULT_TEXT, n_merges=5, step=2)  # after 'th' and 'the' four pairs tie at 2
    pairs = stepper.trace.pairs[2]
    top = max(pairs.values())
    tied = sum(c == top for c in pairs.values())
    assert tied > 1
    view = stepper.pairs_view.value
    assert view.count("next merge") == 1
    assert view.count(">tie</td>") == min(tied, TOP_PAIRS) - 1
    assert f"{tied - 1} other pair(s) share the top count {top}" in view
    assert pairs == count_pairs(
        {tuple(stepper.trace.segments[2][w]): c for w, c in word_counts(DEFAULT_TEXT).items()}
    )


def test_text_box_retrains():
    stepper = BPEStepper(PARAGRAPH, n_merges=12)
    stepper.text.value = "aaabdaaabac"
    n = len(stepper.trace.merges)
    assert stepper.step.max == n
    assert stepper.step.value <= n
    assert stepper.trace.merges == train_bpe("aaabdaaabac", 256 + n)
    assert b"".join(b"".join(tokens) for tokens in stepper.pieces) == b"aaabdaaabac"
    stepper.text.value = ""
    assert "Type some text" in stepper.summary.value
    assert stepper.tokens_view.value == ""


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError, match="n_merges"):
        BPEStepper(n_merges=-1)
    with pytest.raises(ValueError, match="empty"):
        BPEStepper("")
    with pytest.raises(TypeError, match="n_merges"):
        BPEStepper(n_merges=2.5)
    with pytest.raises(TypeError, match="text"):
        trace_bpe(b"bytes", 3)
    with pytest.raises(ValueError, match="step"):
        BPEStepper(DEFAULT_TEXT, n_merges=3, step=4)


def test_token_labels_and_ids():
    assert token_label(b" the") == "\u2423the"
    assert token_label("é".encode()[:1]) == "\\xc3"  # half a character is not valid UTF-8
    merges = [(b"a", b"b"), (b"ab", b"c"), (b"b", b"c"), (b"a", b"bc")]
    ids = token_ids(merges)
    assert ids[b"a"] == 97 and ids[b"ab"] == 256
    assert ids[b"abc"] == 257  # spelled by two merges; the first one's id is shown
