"""Widgets for chapter 9: a sampling explorer and a KV-cache memory calculator.

``SamplingExplorer`` takes a fixed, hand-written next-token distribution (the
logits a model might give after the prompt "the cat sat on the") and shows it
before and after temperature, top-k and top-p, using the filters of
``lmcore.sampling``, the same code ``lmcore.generation.generate`` runs.

``KVCacheCalculator`` turns a GPT-2 size, a batch size, a sequence length and a
dtype into the bytes a KV cache holds: 2 (keys and values) x n_layer x batch x
n_head x seq_len x head_dim x bytes per element, which is what
``lmcore.kv_cache.KVCache.nbytes`` reports for a cache of that shape.

Both render without a display (see ``lmcore.widgets.base``), so tests can move
the controls and read back what is shown.
"""

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from lmcore.kv_cache import kv_cache_bytes
from lmcore.model import GPTConfig
from lmcore.sampling import apply_temperature, top_k_filter, top_p_filter
from lmcore.widgets.base import WIDE, Explorer, FigureExplorer, agg_figure, grid_size, grid_value, row

# A toy next-token distribution after "the cat sat on the": words and their logits.
TOY_PROMPT = "the cat sat on the"
TOY_VOCAB = ("mat", "floor", "sofa", "bed", "chair", "roof", "table", "rug", "box", "moon", "idea", "of")
TOY_LOGITS = (3.1, 2.4, 2.0, 1.8, 1.5, 1.0, 0.9, 0.7, 0.2, -0.8, -1.5, -2.5)

# bytes per element of the dtypes a KV cache is commonly held in
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "int8": 1}
GPT2_SIZES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


def toy_logits() -> Tensor:
    """The toy logits as a (1, V) float tensor (one row, as the samplers expect)."""
    return torch.tensor([TOY_LOGITS], dtype=torch.float32)


def transformed_probs(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """The distribution actually sampled from: softmax after temperature, then top-k, then top-p.

    The order is the one ``lmcore.sampling.next_token`` uses. ``logits`` is (B, V).
    """
    out = apply_temperature(logits.float(), temperature)
    if top_k is not None:
        out = top_k_filter(out, top_k)
    if top_p is not None:
        out = top_p_filter(out, top_p)
    return torch.softmax(out, dim=-1)


def sampler_settings(temperature: float, top_k: int, top_p: float) -> dict:
    """The sampler arguments three slider values stand for: k = vocabulary size or p = 1 is "off" (None)."""
    return {
        "temperature": temperature,
        "top_k": None if top_k >= len(TOY_VOCAB) else top_k,
        "top_p": None if top_p >= 1.0 else top_p,
    }


def entropy_bits(probs: Tensor) -> float:
    """Entropy in bits of one distribution (zeros contribute nothing)."""
    p = probs.flatten().double()
    p = p[p > 0]
    return float(-(p * p.log2()).sum()) + 0.0  # + 0.0: a one-hot gives -0.0, printed "-0.00"


def distribution_figure(words, before, after, title: str = "") -> Figure:
    """Two bar charts side by side: the model's distribution and the one sampled from."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    fig = agg_figure(9.0, 3.2)
    axes = fig.subplots(1, 2, sharey=True)
    kept = after > 0
    panels = (
        (axes[0], before, ["tab:blue"] * len(words), "model: softmax(logits)"),
        (axes[1], after, ["tab:orange" if k else "0.8" for k in kept], "after the transforms"),
    )
    for ax, probs, colors, name in panels:
        ax.bar(range(len(words)), probs, color=colors)
        ax.set_xticks(range(len(words)), words, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0, 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_ylabel("probability")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


class SamplingExplorer(FigureExplorer):
    """Sliders for temperature, top-k and top-p above two bar charts.

    ``explorer.widget`` is the box to display (the explorer displays itself in a
    notebook); ``explorer.before`` and ``explorer.after`` hold the two distributions.
    Set k to the vocabulary size or p to 1 to switch that filter off.
    """

    view = "sampling"
    before: Tensor
    after: Tensor

    def __init__(self, temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0):
        v = len(TOY_VOCAB)
        self.temperature = widgets.FloatLogSlider(
            value=temperature, base=10, min=-1, max=1, step=0.05, description="temperature", style=WIDE
        )
        self.top_k = widgets.IntSlider(
            value=v if top_k is None else top_k, min=1, max=v, description="top-k", style=WIDE
        )
        self.top_p = widgets.FloatSlider(
            value=top_p, min=0.05, max=1.0, step=0.05, description="top-p", style=WIDE
        )
        super().__init__(
            controls=[self.temperature, self.top_k, self.top_p],
            rows=[row(self.temperature, self.top_k, self.top_p)],
        )

    def settings(self) -> dict:
        """The sampler arguments the sliders stand for (None where a filter is off)."""
        return sampler_settings(self.temperature.value, self.top_k.value, self.top_p.value)

    def render(self) -> None:
        """Recompute both distributions from the sliders and redraw."""
        logits = toy_logits()
        s = self.settings()
        self.before = torch.softmax(logits, dim=-1)[0]
        self.after = transformed_probs(logits, **s)[0]
        top_p = "off" if s["top_p"] is None else f"{s['top_p']:.2g}"
        title = (
            f'next token after "{TOY_PROMPT}": temperature {s["temperature"]:.3g}, '
            f"top-k {s['top_k'] or 'off'}, top-p {top_p}"
        )
        kept = int((self.after > 0).sum())
        top = TOY_VOCAB[int(self.after.argmax())]
        self.show(
            distribution_figure(TOY_VOCAB, self.before, self.after, title),
            f"{kept} of {len(TOY_VOCAB)} tokens can be sampled; most likely: <b>{top}</b> "
            f"({self.after.max():.0%}); entropy {entropy_bits(self.before):.2f} bits before, "
            f"{entropy_bits(self.after):.2f} bits after.",
        )

    def static_data(self) -> dict:
        """The logits, and which tokens survive the filters at every grid point of the sliders.

        ``kept[(t * n_k + k) * n_p + p]`` is a bit mask (bit i: token i can be sampled) for
        slider positions t, k, p: the tokens ``transformed_probs`` gives a probability above 0,
        as ``render()`` counts them. The page recomputes the probabilities themselves (a softmax
        over the kept logits at that temperature).
        """
        sliders = (self.temperature, self.top_k, self.top_p)
        shape = [grid_size(s) for s in sliders]
        logits, kept = toy_logits(), []
        for t in range(shape[0]):
            for k in range(shape[1]):
                for p in range(shape[2]):
                    values = [grid_value(s, i) for s, i in zip(sliders, (t, k, p), strict=True)]
                    settings = sampler_settings(values[0], int(values[1]), values[2])
                    alive = (transformed_probs(logits, **settings)[0] > 0).tolist()
                    kept.append(sum(1 << i for i, b in enumerate(alive) if b))
        return {
            "prompt": TOY_PROMPT,
            "vocab": list(TOY_VOCAB),
            "logits": list(TOY_LOGITS),
            "shape": shape,
            "kept": kept,
        }


def human_bytes(n: int) -> str:
    """1536 -> '1.50 KiB' (powers of 1024)."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{n} B" if unit == "B" else f"{value:.2f} {unit}"


class KVCacheCalculator(Explorer):
    """GPT-2 size, batch, sequence length and dtype in; KV-cache bytes out.

    ``calculator.nbytes`` holds the current answer, ``calculator.result`` shows it.
    """

    view = "kv_cache"
    nbytes: int

    def __init__(self, size: str = "gpt2", batch_size: int = 1, seq_len: int = 1024, dtype: str = "float32"):
        self.size = widgets.Dropdown(options=GPT2_SIZES, value=size, description="model", style=WIDE)
        self.batch = widgets.BoundedIntText(
            value=batch_size, min=1, max=4096, description="batch", style=WIDE
        )
        self.seq_len = widgets.IntSlider(
            value=seq_len, min=1, max=1024, step=1, description="sequence length", style=WIDE
        )
        self.dtype = widgets.Dropdown(options=list(DTYPE_BYTES), value=dtype, description="dtype", style=WIDE)
        self.result = widgets.HTML()
        super().__init__(
            controls=[self.size, self.batch, self.seq_len, self.dtype],
            rows=[
                row(self.size, self.dtype),
                row(self.batch, self.seq_len),
                self.result,
            ],
        )

    def render(self) -> None:
        """Evaluate the KV-cache size for the chosen settings and write out the product."""
        c = GPTConfig.gpt2(self.size.value)
        b, n, nbytes_el = self.batch.value, self.seq_len.value, DTYPE_BYTES[self.dtype.value]
        self.nbytes = kv_cache_bytes(c, b, n, nbytes_el)
        per_token = kv_cache_bytes(c, 1, 1, nbytes_el)
        self.result.value = (
            f"2 (K and V) &times; {c.n_layer} layers &times; {b} sequences &times; {c.n_head} heads "
            f"&times; {n} positions &times; {c.head_dim} dims &times; {nbytes_el} bytes = "
            f"<b>{self.nbytes:,} bytes ({human_bytes(self.nbytes)})</b>; "
            f"{human_bytes(per_token)} per token of one sequence."
        )

    def static_data(self) -> dict:
        """Per GPT-2 size: its shape and ``kv_cache_bytes`` for one token of one sequence per dtype.

        The cache grows linearly in batch and positions, so the page multiplies these by the
        batch and the sequence length it is given (``kv_cache_bytes(c, b, n, e) ==
        b * n * kv_cache_bytes(c, 1, 1, e)``).
        """
        sizes = []
        for name in GPT2_SIZES:
            c = GPTConfig.gpt2(name)
            per_token = [kv_cache_bytes(c, 1, 1, e) for e in DTYPE_BYTES.values()]
            sizes.append(
                {
                    "name": name,
                    "n_layer": c.n_layer,
                    "n_head": c.n_head,
                    "head_dim": c.head_dim,
                    "per_token": per_token,
                }
            )
        return {
            "sizes": sizes,
            "dtypes": [{"name": name, "bytes": e} for name, e in DTYPE_BYTES.items()],
            "batch": {"min": self.batch.min, "max": self.batch.max},
        }
