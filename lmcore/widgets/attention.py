"""Widgets for the book: an explorer of attention maps.

The explorer shows the attention weights of a few *hand-built* heads on a
sentence the reader types. Nothing is trained: each token is a word part (a
fixed random unit vector per word, so equal words get equal vectors) next to a
position part (the sinusoidal encoding of chapter 7), and each head's query and
key maps read one of the two parts:

- ``same word``: queries and keys are the word vectors, so a token attends to
  copies of itself;
- ``previous token``: keys are the position encodings and queries the position
  encoding *shifted back one step* (a rotation, see :func:`position_shift`), so
  each token attends to the one before it;
- ``nearby positions``: queries and keys are both position encodings, whose dot
  product falls off with distance;
- ``random (untrained)``: fixed random projections of the whole token vector,
  what a head looks like before training.

The weights come from ``lmcore.attention.attention_weights``, the reference the
course builds, with the queries multiplied by a *sharpness* factor (an inverse
temperature: 0.1 gives nearly uniform rows, 10 nearly one-hot rows).

Everything is deterministic and renders without a display (see
``lmcore.widgets.base``), so tests can drive the controls and read back the
data and the picture.
"""

import zlib

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from lmcore.attention import attention_weights, causal_mask
from lmcore.positions import position_shift, sinusoidal_positions
from lmcore.validation import integer
from lmcore.widgets.base import WIDE, FigureExplorer, agg_figure, row

PART_DIM = 16  # size of the word part and of the position part of a toy token vector
MAX_TOKENS = 16  # the explorer shows at most this many tokens
DEFAULT_TEXT = "the cat sat on the mat because the cat was tired"
# the texts the static page offers besides the explorer's own (a page cannot tokenize new text)
PRESET_TEXTS = (
    DEFAULT_TEXT,
    "a rose is a rose is a rose",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen",
)

# name, gain on queries and keys (sets how peaked the head is at sharpness 1), explanation
HEADS = (
    ("same word", 4.0, "queries and keys are the word vectors: a token attends to copies of itself"),
    (
        "previous token",
        3.5,
        "keys are position encodings, queries the position encoding shifted back one step: "
        "each token attends to the one before it",
    ),
    ("nearby positions", 2.0, "queries and keys are position encodings: weight falls off with distance"),
    ("random (untrained)", 2.0, "fixed random query and key maps of the whole token vector"),
)


def word_vector(word: str, dim: int = PART_DIM) -> Tensor:
    """A fixed random unit vector for ``word`` (case-insensitive), the same on every run."""
    generator = torch.Generator().manual_seed(zlib.crc32(word.lower().encode()))
    v = torch.randn(dim, generator=generator)
    return v / v.norm()


def tokenize(text: str) -> list[str]:
    """Whitespace tokens of ``text``, at most ``MAX_TOKENS`` of them."""
    return text.split()[:MAX_TOKENS]


def toy_queries_keys(tokens: list[str], head: int) -> tuple[Tensor, Tensor]:
    """Queries and keys (T, PART_DIM) of toy head ``head`` (an index into ``HEADS``)."""
    head = integer("head", head, low=0, high=len(HEADS) - 1)
    gain = HEADS[head][1]
    words = torch.stack([word_vector(t) for t in tokens])  # (T, D)
    positions = sinusoidal_positions(len(tokens), PART_DIM)  # (T, D)
    if head == 0:
        q, k = words, words
    elif head == 1:
        q, k = positions @ position_shift(PART_DIM, -1).T, positions  # q_t = PE[t - 1]
    elif head == 2:
        q, k = positions, positions
    else:
        x = torch.cat([words, positions], dim=-1)  # (T, 2D)
        generator = torch.Generator().manual_seed(7)
        w_q, w_k = torch.randn(2, 2 * PART_DIM, PART_DIM, generator=generator) / (2 * PART_DIM) ** 0.5
        q, k = x @ w_q, x @ w_k
    return gain * q, gain * k


def toy_attention(tokens: list[str], head: int = 0, sharpness: float = 1.0, causal: bool = True) -> Tensor:
    """Attention weights (T, T) of a toy head: row t is how token t spreads its attention.

    ``sharpness`` multiplies every score (it is an inverse temperature).
    """
    if not tokens:
        raise ValueError("toy_attention needs at least one token")
    q, k = toy_queries_keys(tokens, head)
    return attention_weights(sharpness * q, k, causal=causal)


def attention_figure(
    weights: Tensor | np.ndarray, tokens: list[str], title: str = "", causal: bool = False
) -> Figure:
    """Heatmap of attention weights (T_q, T_k): rows are queries, columns keys.

    With ``causal=True`` the entries the causal mask removes are drawn grey, so that
    "masked" and "almost no weight" look different.
    """
    w = np.asarray(weights, dtype=float)
    t_q, t_k = w.shape
    masked = ~causal_mask(t_q, t_k).numpy() if causal else np.zeros((t_q, t_k), dtype=bool)
    fig = agg_figure(1.6 + 0.42 * t_k, 1.2 + 0.42 * t_q)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")  # grey: masked out
    image = ax.imshow(np.ma.masked_array(w, masked), cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(t_k), tokens[-t_k:], rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(t_q), tokens[-t_q:])
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if max(t_q, t_k) <= 12:
        for i in range(t_q):
            for j in range(t_k):
                if not masked[i, j]:
                    color = "white" if w[i, j] > 0.6 else "black"
                    ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


class AttentionExplorer(FigureExplorer):
    """Text box, head slider, sharpness slider and causal checkbox above an attention map.

    ``explorer.widget`` is the ipywidgets box to display (the explorer also displays
    itself in a notebook); ``explorer.tokens`` and ``explorer.weights`` hold what is drawn
    (``weights`` is None while the text box is empty).
    """

    view = "attention"
    preset_texts = {"text": PRESET_TEXTS}
    tokens: list[str]
    weights: Tensor | None

    def __init__(self, text: str = DEFAULT_TEXT, head: int = 0, sharpness: float = 1.0, causal: bool = True):
        self.text = widgets.Text(
            value=text,
            description="tokens (split on spaces):",
            continuous_update=False,
            style=WIDE,
            layout=widgets.Layout(width="95%"),
        )
        self.head = widgets.IntSlider(value=head, min=0, max=len(HEADS) - 1, description="head", style=WIDE)
        self.sharpness = widgets.FloatLogSlider(
            value=sharpness, base=10, min=-1, max=1, step=0.05, description="sharpness", style=WIDE
        )
        self.causal = widgets.Checkbox(value=causal, description="causal mask", style=WIDE)
        super().__init__(
            controls=[self.text, self.head, self.sharpness, self.causal],
            rows=[self.text, row(self.head, self.sharpness, self.causal)],
        )

    def render(self) -> None:
        """Recompute the weights from the controls and redraw the map."""
        self.tokens = tokenize(self.text.value)
        name, _, explanation = HEADS[self.head.value]
        if not self.tokens:
            self.weights = None
            self.show(None, "<em>Type a few words, separated by spaces.</em>")
            return
        self.weights = toy_attention(self.tokens, self.head.value, self.sharpness.value, self.causal.value)
        mask = "causal mask" if self.causal.value else "no mask"
        title = f"head {self.head.value}: {name}, sharpness {self.sharpness.value:.3g}, {mask}"
        truncated = len(self.text.value.split()) > MAX_TOKENS
        note = f" Only the first {MAX_TOKENS} tokens are shown." if truncated else ""
        self.show(
            attention_figure(self.weights, self.tokens, title, causal=self.causal.value),
            f"<b>{name}</b>: {explanation}.{note}",
        )

    def static_data(self) -> dict:
        """For each preset text: its tokens and every head's queries and keys (gain included).

        The page computes the weights from them as ``attention_weights`` does, with the
        queries times the sharpness: softmax(s q k^T / sqrt(d)), masked when causal.
        """
        presets = []
        for text in self.static_presets()["text"]:
            tokens = tokenize(text)
            heads = []
            for h in range(len(HEADS)):
                q, k = toy_queries_keys(tokens, h)
                heads.append({"q": q.tolist(), "k": k.tolist()})
            presets.append({"tokens": tokens, "heads": heads, "truncated": len(text.split()) > MAX_TOKENS})
        heads = [{"name": name, "explanation": explanation} for name, _, explanation in HEADS]
        return {"presets": presets, "heads": heads, "max_tokens": MAX_TOKENS}
