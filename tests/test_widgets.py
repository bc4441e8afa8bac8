"""lmcore.widgets.base and lmcore.widgets.attention: the shared plumbing, the toy attention heads and
the attention-map explorer, without a display."""

import math

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from lmcore.positions import position_shift, sinusoidal_positions
from lmcore.widgets.attention import (
    HEADS,
    MAX_TOKENS,
    AttentionExplorer,
    attention_figure,
    tokenize,
    toy_attention,
    word_vector,
)
from lmcore.widgets.base import Explorer, FigureExplorer, agg_figure, figure_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SENTENCE = "the cat sat on the mat because the cat was tired".split()


class Squarer(Explorer):
    """The worked example of lmcore.widgets.base."""

    def __init__(self, x: int = 3):
        self.x = widgets.IntSlider(value=x)
        self.out = widgets.HTML()
        super().__init__(controls=[self.x], rows=[self.x, self.out])

    def render(self) -> None:
        self.out.value = f"{self.x.value} squared is {self.x.value**2}"


def test_explorer_renders_at_once_and_after_every_change():
    squarer = Squarer()
    assert squarer.out.value == "3 squared is 9"
    squarer.x.value = 4
    assert squarer.out.value == "4 squared is 16"
    assert list(squarer.widget.children) == [squarer.x, squarer.out]
    bundle = squarer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == squarer.widget.model_id


def test_figure_explorer_shows_and_clears_the_picture():
    class Blank(FigureExplorer):
        def __init__(self):
            self.draw = widgets.Checkbox(value=True)
            super().__init__(controls=[self.draw], rows=[self.draw])

        def render(self) -> None:
            self.show(agg_figure(2, 1) if self.draw.value else None, f"drawn: {self.draw.value}")

    blank = Blank()
    assert list(blank.widget.children) == [blank.draw, blank.image, blank.caption]
    assert bytes(blank.image.value).startswith(PNG_MAGIC) and blank.caption.value == "drawn: True"
    blank.draw.value = False
    assert bytes(blank.image.value) == b"" and blank.caption.value == "drawn: False"


def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    assert torch.equal(pe[0, 0::2], torch.zeros(4)) and torch.equal(pe[0, 1::2], torch.ones(4))
    t, i = 7, 2  # coordinate 2i = 4 turns at the frequency 10000^(-4/8)
    assert pe[t, 2 * i].item() == pytest.approx(math.sin(t * 10000 ** (-4 / 8)), abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 7)


@pytest.mark.parametrize("offset", [-1, 1, 5])
def test_position_shift_moves_every_position_by_the_offset(offset):
    pe = sinusoidal_positions(40, 16)
    shifted = pe @ position_shift(16, offset).T  # row t becomes PE[t + offset]
    if offset > 0:
        torch.testing.assert_close(shifted[:-offset], pe[offset:], atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(shifted[-offset:], pe[:offset], atol=1e-5, rtol=0)


def test_word_vectors_are_fixed_unit_vectors_per_word():
    assert torch.equal(word_vector("cat"), word_vector("Cat"))
    assert not torch.equal(word_vector("cat"), word_vector("mat"))
    assert word_vector("cat").norm().item() == pytest.approx(1.0)


def test_tokenize_splits_on_whitespace_and_truncates():
    assert tokenize("  a b\tc\n") == ["a", "b", "c"]
    assert len(tokenize(" ".join(["w"] * (MAX_TOKENS + 5)))) == MAX_TOKENS


@pytest.mark.parametrize("head", range(len(HEADS)))
@pytest.mark.parametrize("causal", [True, False])
def test_toy_attention_rows_are_distributions(head, causal):
    w = toy_attention(SENTENCE, head=head, causal=causal)
    T = len(SENTENCE)
    assert w.shape == (T, T)
    torch.testing.assert_close(w.sum(-1), torch.ones(T))
    above = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    if causal:
        assert torch.all(w[above] == 0)
    else:
        assert torch.all(w[above] > 0)


def test_each_toy_head_shows_its_pattern():
    T = len(SENTENCE)
    same_word = toy_attention(SENTENCE, head=0)
    # the last "cat" (position 8) splits its attention between the two cats
    assert set(same_word[8].topk(2).indices.tolist()) == {1, 8}
    previous = toy_attention(SENTENCE, head=1)
    assert previous[1:].argmax(-1).tolist() == list(range(T - 1))
    nearby = toy_attention(SENTENCE, head=2, causal=False)
    assert nearby.argmax(-1).tolist() == list(range(T))


def test_sharpness_moves_between_uniform_and_one_hot():
    flat = toy_attention(SENTENCE, head=1, sharpness=1e-4)
    T = len(SENTENCE)
    expected = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    torch.testing.assert_close(flat, expected, atol=1e-3, rtol=0)
    sharp = toy_attention(SENTENCE, head=1, sharpness=10.0)
    assert sharp[1:].max(-1).values.min() > 0.99


def test_toy_attention_rejects_bad_input():
    with pytest.raises(ValueError, match="head"):
        toy_attention(SENTENCE, head=len(HEADS))
    with pytest.raises(ValueError, match="at least one token"):
        toy_attention([])


def test_attention_figure_labels_the_tokens_and_greys_out_the_mask():
    w = toy_attention(SENTENCE[:4], head=0)
    fig = attention_figure(w, SENTENCE[:4], title="a title", causal=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == SENTENCE[:4]
    assert [t.get_text() for t in ax.get_yticklabels()] == SENTENCE[:4]
    assert ax.get_title() == "a title"
    shown = ax.images[0].get_array()
    assert shown.mask[0, 1] and not shown.mask[1, 0]  # above the diagonal: masked, drawn grey
    unmasked = attention_figure(toy_attention(SENTENCE[:4], causal=False), SENTENCE[:4]).axes[0]
    assert not np.ma.getmaskarray(unmasked.images[0].get_array()).any()
    assert figure_png(fig).startswith(PNG_MAGIC)


def test_explorer_builds_and_draws():
    explorer = AttentionExplorer()
    assert explorer.tokens == SENTENCE
    assert explorer.weights.shape == (len(SENTENCE), len(SENTENCE))
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
    assert "same word" in explorer.caption.value
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_moving_the_controls_changes_the_weights_and_the_picture():
    explorer = AttentionExplorer()
    before_weights, before_png = explorer.weights.clone(), bytes(explorer.image.value)

    explorer.head.value = 1
    torch.testing.assert_close(explorer.weights, toy_attention(SENTENCE, head=1))
    assert bytes(explorer.image.value) != before_png
    assert "previous token" in explorer.caption.value

    explorer.causal.value = False
    assert explorer.weights[0, 1] > 0 and not torch.equal(explorer.weights, before_weights)

    png = bytes(explorer.image.value)
    explorer.sharpness.value = 10.0
    expected = toy_attention(SENTENCE, head=1, sharpness=10.0, causal=False)
    torch.testing.assert_close(explorer.weights, expected)
    assert bytes(explorer.image.value) != png

    explorer.text.value = "a b a"
    assert explorer.tokens == ["a", "b", "a"] and explorer.weights.shape == (3, 3)


def test_explorer_handles_empty_and_long_text():
    explorer = AttentionExplorer(text="")
    assert explorer.weights is None and bytes(explorer.image.value) == b""
    assert "Type a few words" in explorer.caption.value
    explorer.text.value = " ".join(f"w{i}" for i in range(MAX_TOKENS + 3))
    assert len(explorer.tokens) == MAX_TOKENS
    assert f"first {MAX_TOKENS}" in explorer.caption.value
