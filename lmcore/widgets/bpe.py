"""Widget for chapter 3: a step-by-step view of byte-level BPE training.

``BPEStepper`` trains BPE on a short text one merge at a time with the building
blocks of ``lmcore.bpe`` (``pretokenize``, ``word_counts``, ``count_pairs``,
``best_pair``, ``apply_merge``) and keeps every intermediate state, so its merges are
exactly those of ``lmcore.bpe.train_bpe``. A slider picks the step k; after k merges
the view shows

- the merges so far, with the ids they get (256, 257, ...) and how often the pair
  occurred when it was chosen;
- the pair counts the next merge is chosen from (the top ones, the winner highlighted
  and the pairs tied with it marked);
- the text cut into its current tokens, one colored box per token (one color per
  token; unmerged single bytes are grey);
- how many tokens the text takes against how many bytes it has.

Everything shown is HTML held by ``ipywidgets.HTML`` and rebuilt in Python on every
change, so tests can read it; the static page switches between the HTML Python rendered
for every step of each preset text.
"""

import html
import zlib
from collections import Counter
from dataclasses import dataclass

import ipywidgets as widgets

from lmcore.bpe import Merge, apply_merge, best_pair, count_pairs, pretokenize, word_counts
from lmcore.validation import integer, non_negative_int
from lmcore.widgets.base import WIDE, Explorer

DEFAULT_TEXT = "the car the cat the rat"
# the texts the static page offers besides the stepper's own (a page cannot train BPE)
PRESET_TEXTS = (DEFAULT_TEXT, "low lower lowest newer newest wider widest", "ababc ababc abab abc")
TOP_PAIRS = 8  # pair counts shown per step
MAX_WORDS = 120  # words of the text drawn as token boxes
PALETTE = (
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#fdd0a2",
)  # fmt: skip
BYTE_COLOR = "#e8e8e8"  # single bytes, before any merge touches them
CELL = "padding:1px 8px;white-space:nowrap"  # style of a table cell

Word = tuple[bytes, ...]


@dataclass(frozen=True)
class BPETrace:
    """Every state of a BPE training run on one text.

    ``merges[i]`` got id 256 + i and was chosen from ``pairs[i]``, where its pair
    occurred ``counts[i]`` times. ``segments[k]`` maps each distinct training word (a
    tuple of single bytes) to its tokens after k merges; ``pairs[k]`` counts adjacent
    token pairs over the training words at that step, weighted by word frequency.
    There are ``len(merges) + 1`` states; a run stops early when no pair is left.
    """

    text: str
    merges: list[Merge]
    counts: list[int]
    segments: list[dict[Word, Word]]
    pairs: list[Counter]


def trace_bpe(text: str, n_merges: int) -> BPETrace:
    """Run up to ``n_merges`` BPE merges on ``text`` (GPT-2 pre-tokenization) and keep each state."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: give BPE some text to learn merges from")
    n_merges = non_negative_int("n_merges", n_merges)
    freqs = word_counts(text)
    segment = {word: word for word in freqs}
    merges, counts, segments, pairs = [], [], [dict(segment)], []
    for _ in range(n_merges):
        current = count_pairs(Counter({segment[w]: c for w, c in freqs.items()}))
        pairs.append(current)
        if not current:
            break
        pair = best_pair(current)
        merges.append(pair)
        counts.append(current[pair])
        segment = {word: apply_merge(tokens, pair) for word, tokens in segment.items()}
        segments.append(dict(segment))
    if len(pairs) == len(merges):  # the pair counts after the last merge
        pairs.append(count_pairs(Counter({segment[w]: c for w, c in freqs.items()})))
    return BPETrace(text, merges, counts, segments, pairs)


def token_label(token: bytes) -> str:
    """A token as readable text: UTF-8 if it decodes, \\xNN escapes if not; space shown as a visible mark."""
    try:
        label = token.decode("utf-8")
    except UnicodeDecodeError:
        label = "".join(f"\\x{b:02x}" for b in token)
    return label.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u2192")


def token_color(token: bytes) -> str:
    """The box color of a token: grey for a single byte, else a palette color fixed by its bytes."""
    return BYTE_COLOR if len(token) == 1 else PALETTE[zlib.crc32(token) % len(PALETTE)]


def token_ids(merges: list[Merge]) -> dict[bytes, int]:
    """Id of every token: bytes 0..255 are their own id, merge i makes id 256 + i (first merge wins)."""
    ids = {bytes([b]): b for b in range(256)}
    for i, (left, right) in enumerate(merges):
        ids.setdefault(left + right, 256 + i)
    return ids


def _box(token: bytes, ids: dict[bytes, int]) -> str:
    style = (
        f"background:{token_color(token)};border:1px solid #888;border-radius:3px;"
        "padding:0 3px;margin:1px;font-family:monospace;display:inline-block"
    )
    title = f"id {ids[token]}: {token!r}"
    return f'<span style="{style}" title="{html.escape(title)}">{html.escape(token_label(token))}</span>'


def merges_html(merges: list[Merge], counts: list[int]) -> str:
    """The merges as a table: new id, the pair, the new token, how often the pair occurred."""
    if not merges:
        return "<p><em>No merges yet: every token is a single byte (ids 0..255).</em></p>"
    ids = token_ids(merges)
    rows = "".join(
        f"<tr><td style='{CELL}'>{256 + i}</td><td style='{CELL}'>{_box(a, ids)} + {_box(b, ids)}</td>"
        f"<td style='{CELL}'>{_box(a + b, ids)}</td><td style='{CELL};text-align:right'>{c}</td></tr>"
        for i, ((a, b), c) in enumerate(zip(merges, counts, strict=True))
    )
    head = "<tr><th>id</th><th>pair</th><th>new token</th><th>count</th></tr>"
    return f"<table style='border-collapse:collapse'>{head}{rows}</table>"


def pairs_html(pairs: Counter, merges: list[Merge], top: int = TOP_PAIRS) -> str:
    """The ``top`` most frequent pairs (ties in tie-break order), the winner highlighted, ties marked."""
    if not pairs:
        return "<p><em>No pairs left: every word is a single token, so training stops here.</em></p>"
    ids = token_ids(merges)
    winner = best_pair(pairs)
    ranked = sorted(pairs.items(), key=lambda item: (item[1], item[0]), reverse=True)
    n_tied = sum(1 for c in pairs.values() if c == pairs[winner]) - 1
    rows = []
    for pair, count in ranked[:top]:
        if pair == winner:
            style, note = "background:#fff3a0;font-weight:bold", "next merge"
        else:
            style, note = "", "tie" if count == pairs[winner] else ""
        rows.append(
            f"<tr style='{style}'><td style='{CELL}'>{_box(pair[0], ids)} + {_box(pair[1], ids)}</td>"
            f"<td style='{CELL};text-align:right'>{count}</td><td style='{CELL}'>{note}</td></tr>"
        )
    head = "<tr><th>pair</th><th>count</th><th></th></tr>"
    lines = [f"<table style='border-collapse:collapse'>{head}{''.join(rows)}</table>"]
    if len(ranked) > top:
        lines.append(f"<p>Showing {top} of {len(ranked)} distinct pairs.</p>")
    if n_tied:
        lines.append(
            f"<p>{n_tied} other pair(s) share the top count {pairs[winner]}; the tie-break takes the "
            "greatest pair, comparing the left tokens' bytes first, then the right ones'.</p>"
        )
    return "".join(lines)


def segmentation_html(pieces: list[Word], merges: list[Merge], max_words: int = MAX_WORDS) -> str:
    """Each pre-token of the text as a group of token boxes (at most ``max_words`` groups)."""
    ids = token_ids(merges)
    group = "<span style='margin-right:6px;white-space:nowrap'>{}</span>"
    groups = [group.format("".join(_box(t, ids) for t in tokens)) for tokens in pieces[:max_words]]
    note = f"<p>Showing the first {max_words} of {len(pieces)} words.</p>" if len(pieces) > max_words else ""
    return f"<div style='line-height:2'>{''.join(groups)}</div>{note}"


class BPEStepper(Explorer):
    """A text box and a merge slider above the state of BPE training after that many merges.

    ``stepper.widget`` is the box to display (the stepper also displays itself in a
    notebook); ``stepper.trace`` holds every state, ``stepper.merges`` the merges so
    far and ``stepper.pieces`` the text's words cut into their current tokens.
    """

    view = "bpe"
    preset_texts = {"text": PRESET_TEXTS}
    merges: list[Merge]
    pieces: list[Word]

    def __init__(self, text: str = DEFAULT_TEXT, n_merges: int = 10, step: int | None = None):
        self.n_merges = n_merges
        self.trace = trace_bpe(text, n_merges)
        last = len(self.trace.merges)
        if step is not None:
            integer("step", step, low=0, high=last, hint=f"this text allows {last} merges")
        self.text = widgets.Textarea(
            value=text,
            description="training text:",
            continuous_update=False,
            rows=2,
            style=WIDE,
            layout=widgets.Layout(width="95%"),
        )
        self.step = widgets.IntSlider(
            value=last if step is None else step, min=0, max=last, description="merges", style=WIDE
        )
        self.summary = widgets.HTML()
        self.merges_view = widgets.HTML()
        self.pairs_view = widgets.HTML()
        self.tokens_view = widgets.HTML()
        columns = widgets.HBox(
            [
                widgets.VBox([widgets.HTML("<b>Merges so far</b>"), self.merges_view]),
                widgets.VBox([widgets.HTML("<b>Pair counts now</b>"), self.pairs_view]),
            ],
            layout=widgets.Layout(justify_content="space-around", flex_flow="row wrap"),
        )
        super().__init__(
            controls=[self.text, self.step],
            rows=[self.text, self.step, self.summary, self.tokens_view, columns],
        )

    @property
    def n_tokens(self) -> int:
        """Tokens the text takes after the shown number of merges."""
        return sum(len(tokens) for tokens in self.pieces)

    @property
    def n_bytes(self) -> int:
        """Bytes of the text in UTF-8 (its length in tokens before any merge)."""
        return len(self.trace.text.encode("utf-8"))

    def render(self) -> None:
        """Retrain if the text changed, then show the state after ``self.step.value`` merges."""
        if not self.text.value:
            self.summary.value = "<em>Type some text to train on.</em>"
            for view in (self.merges_view, self.pairs_view, self.tokens_view):
                view.value = ""
            return
        if self.text.value != self.trace.text:
            self.trace = trace_bpe(self.text.value, self.n_merges)
            # A smaller max pulls the step down, and that change renders the new trace at once
            # (the text now matches it); this call then draws the same state again.
            self.step.max = len(self.trace.merges)
        k, trace = self.step.value, self.trace
        self.merges = trace.merges[:k]
        segment = trace.segments[k]
        self.pieces = [segment[tuple(bytes([b]) for b in p.encode("utf-8"))] for p in pretokenize(trace.text)]
        self.merges_view.value = merges_html(self.merges, trace.counts[:k])
        self.pairs_view.value = pairs_html(trace.pairs[k], self.merges)
        self.tokens_view.value = segmentation_html(self.pieces, self.merges)
        allowed = len(trace.merges)
        note = (
            f" This text allows only {allowed} merges (then every word is one token), not {self.n_merges}."
            if allowed < self.n_merges
            else ""
        )
        self.summary.value = (
            f"After <b>{k}</b> merge(s) the vocabulary has 256 + {k} = {256 + k} tokens and the text's "
            f"<b>{self.n_bytes} bytes</b> take <b>{self.n_tokens} tokens</b> "
            f"({self.n_bytes / self.n_tokens:.2f} bytes per token).{note}"
        )

    def static_data(self) -> dict:
        """For each preset text, the four views as ``render()`` draws them after 0, 1, ... merges."""
        slots = ("summary", "merges_view", "pairs_view", "tokens_view")
        text, step = self.text.value, self.step.value
        presets = []
        try:
            for preset in self.static_presets()["text"]:
                self.text.value = preset
                states = []
                for k in range(len(self.trace.merges) + 1):
                    self.step.value = k
                    states.append({slot: getattr(self, slot).value for slot in slots})
                presets.append({"states": states})
        finally:
            self.text.value = text
            self.step.value = step
        return {"presets": presets}
