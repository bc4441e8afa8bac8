"""Widget for chapter 2: how each smoothing method spreads next-word probability.

``SmoothingExplorer`` fits the models of ``lmcore.ngram`` on the reader's training
sentences and shows, for a chosen context, the most likely next words under MLE,
add-k, Jelinek-Mercer interpolation, absolute-discount backoff or Kneser-Ney. Bars of
words that never followed the context in training are drawn in a second color, and
a caption gives the mass shown and the total mass on those unseen words: the
probability each method takes from the seen words to give to the rest.

Interpolation is driven by one slider: every order gets the same weight lambda, so
``lambdas = (lambda,) * n``. The explorer renders without a display (see
``lmcore.widgets.base``), so tests can move the controls and read back the numbers.
"""

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from lmcore.ngram import BOS, MLE, UNK, AddK, Backoff, Interpolated, KneserNey, NGramLM
from lmcore.validation import one_of, positive_int
from lmcore.widgets.base import WIDE, FigureExplorer, agg_figure, grid_size, grid_value, row, show_if

METHODS = ("MLE", "add-k", "interpolation", "backoff", "Kneser-Ney")
# the slider each method reads (None: no parameter)
METHOD_PARAMETER = {"MLE": None, "add-k": "k", "interpolation": "lambda", "backoff": "d", "Kneser-Ney": "d"}
SLIDERS = {"k": "k", "lambda": "lam", "d": "d"}  # parameter -> the explorer's attribute holding its slider


def build_model(method: str, n: int, k: float = 1.0, lam: float = 0.7, d: float = 0.75) -> NGramLM:
    """The unfitted lmcore.ngram model a method name stands for (interpolation: lambdas = (lam,) * n)."""
    return {
        "MLE": lambda: MLE(n),
        "add-k": lambda: AddK(n, k=k),
        "interpolation": lambda: Interpolated(n, (lam,) * n),
        "backoff": lambda: Backoff(n, discount=d),
        "Kneser-Ney": lambda: KneserNey(n, discount=d),
    }[one_of("method", method, METHODS)]()


def context_total(model: NGramLM, context: tuple[str, ...]) -> int:
    """c(h): how often the context was followed by a predicted word in training."""
    table = model.counts[model.n]
    return sum(table[context + (w,)] for w in model.vocab)


def default_contexts(model: NGramLM, n_seen: int = 4, n_unseen: int = 2) -> list[tuple[str, ...]]:
    """The most frequent training context for each of the commonest last words, then unseen ones.

    An unseen context is a seen one whose first word is replaced by UNK (a word never met
    in training): that is where the methods differ most. MLE is undefined, add-k is
    uniform, and the others still know which words follow the shorter suffix.
    """
    if model.n == 1:
        return [()]
    totals: dict[tuple[str, ...], int] = {}
    for gram, count in model.counts[model.n].items():
        if gram[-1] != BOS:
            totals[gram[:-1]] = totals.get(gram[:-1], 0) + count
    seen: list[tuple[str, ...]] = []
    for h in sorted(totals, key=lambda h: (-totals[h], h)):
        if h[-1] != BOS and all(h[-1] != other[-1] for other in seen):
            seen.append(h)
    seen = seen[:n_seen]
    unseen = list(dict.fromkeys((UNK,) + h[1:] for h in seen))[:n_unseen]
    return seen + unseen


def context_label(context: tuple[str, ...], total: int) -> str:
    """'opened their ___ (seen 3 times)' or '... (never seen)'."""
    seen = f"seen {total} time{'s' if total != 1 else ''}" if total else "never seen"
    return f"{' '.join(context + ('___',))} ({seen})"


def next_word_figure(words, probs, unseen, title: str = "") -> Figure:
    """Horizontal bars, most likely word on top; words unseen after the context in orange."""
    probs = np.asarray(probs, dtype=float)
    fig = agg_figure(6.4, 0.28 * len(words) + 1.1)
    ax = fig.subplots()
    y = np.arange(len(words))[::-1]
    colors = ["tab:orange" if u else "tab:blue" for u in unseen]
    ax.barh(y, probs, color=colors)
    ax.set_yticks(y, words)
    ax.set_xlim(0, max(0.05, 1.1 * float(probs.max(initial=0.0))))
    ax.set_xlabel("P(word | context)   (orange: never seen after this context)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def smoothing_view(model: NGramLM, method: str, context: tuple[str, ...], top: int, setting: str) -> dict:
    """What the explorer shows for a fitted model and a (mapped) context, as plain values.

    Returns ``dist`` (None where MLE is undefined), ``shown`` (the top (word, p) pairs),
    ``unseen`` (one flag per shown word: never seen after the context), ``shown_mass``,
    ``unseen_mass``, the chart's ``title`` and the ``caption`` HTML. ``setting`` is the
    parameter as the title prints it ("k = 0.1"; "" for MLE).
    """
    total = context_total(model, context)
    if method == "MLE" and total == 0:
        caption = (
            "<b>MLE is undefined here</b>: the context never occurred in training, so c(h) = 0 "
            "and c(h w) / c(h) is 0/0. Pick a smoothed method."
        )
        nan = float("nan")
        return {
            "dist": None,
            "shown": [],
            "unseen": [],
            "shown_mass": nan,
            "unseen_mass": nan,
            "title": "",
            "caption": caption,
        }
    dist = model.distribution(context)
    shown = sorted(dist.items(), key=lambda item: (-item[1], item[0]))[:top]
    table = model.counts[model.n]
    unseen_words = [w for w in model.vocab if table[context + (w,)] == 0]
    shown_mass = sum(p for _, p in shown)
    unseen_mass = sum(dist[w] for w in unseen_words)
    title = f'{method}{", " + setting if setting else ""}: next word after "{" ".join(context)}"'
    caption = (
        f"The {len(shown)} words shown hold <b>{shown_mass:.1%}</b> of the probability; "
        f"the {len(unseen_words)} of {len(model.vocab)} words never seen after this context "
        f"(c(h w) = 0) get <b>{unseen_mass:.1%}</b> in total."
    )
    unseen = [table[context + (w,)] == 0 for w, _ in shown]
    return {
        "dist": dist,
        "shown": shown,
        "unseen": unseen,
        "shown_mass": shown_mass,
        "unseen_mass": unseen_mass,
        "title": title,
        "caption": caption,
    }


def parameter_setting(parameter: str | None, value: float) -> str:
    """How the chart's title prints a method's parameter: 'k = 0.1', 'lambda = 0.70', 'd = 0.75'."""
    if parameter is None:
        return ""
    return f"k = {value:.3g}" if parameter == "k" else f"{parameter} = {value:.2f}"


class SmoothingExplorer(FigureExplorer):
    """Context and method dropdowns, sliders for k, lambda and d, the top next words as bars.

    ``explorer.widget`` is the box to display (the explorer also displays itself in a
    notebook). After each change, ``explorer.model`` is the fitted lmcore.ngram model,
    ``explorer.dist`` its distribution for the chosen context (None where MLE is
    undefined), ``explorer.shown`` the (word, probability) pairs drawn, and
    ``explorer.shown_mass`` / ``explorer.unseen_mass`` the numbers in the caption.
    """

    model: NGramLM
    dist: dict[str, float] | None
    shown: list[tuple[str, float]]
    shown_mass: float
    unseen_mass: float

    def __init__(
        self,
        sentences: Sequence[Sequence[str]],
        n: int = 3,
        contexts: Sequence[Sequence[str]] | None = None,
        top: int = 12,
        method: str = "Kneser-Ney",
    ):
        self.sentences, self.n, self.top = sentences, n, positive_int("top", top)
        counts_only = MLE(n).fit(sentences)  # validates the sentences; gives the vocab and counts
        if contexts is None:
            contexts = default_contexts(counts_only)
        contexts = [tuple(c.split()) if isinstance(c, str) else tuple(c) for c in contexts]
        if not contexts:
            raise ValueError("contexts is empty: pass at least one context of n-1 words, or None")
        for c in contexts:
            if len(c) != n - 1:
                raise ValueError(f"every context needs n-1 = {n - 1} words, got {c!r}")

        totals = [context_total(counts_only, counts_only.map_unknown(c)) for c in contexts]
        options = [(context_label(c, t), c) for c, t in zip(contexts, totals, strict=True)]
        self.context = widgets.Dropdown(
            options=options,
            value=contexts[0],
            description="context",
            style=WIDE,
            layout={"width": "max-content"},
        )
        # checked here: the buttons would refuse an unknown method with a less helpful error
        self.method = widgets.ToggleButtons(
            options=METHODS, value=one_of("method", method, METHODS), description="method", style=WIDE
        )
        self.k = widgets.FloatLogSlider(
            value=1.0, base=10, min=-3, max=1, step=0.1, description="k", style=WIDE
        )
        self.lam = widgets.FloatSlider(
            value=0.7, min=0.0, max=1.0, step=0.05, description="lambda", style=WIDE
        )
        self.d = widgets.FloatSlider(value=0.75, min=0.05, max=0.95, step=0.05, description="d", style=WIDE)
        super().__init__(
            controls=[self.context, self.method, self.k, self.lam, self.d],
            rows=[self.context, self.method, row(self.k, self.lam, self.d)],
        )

    view = "smoothing"

    def render(self) -> None:
        """Refit the chosen method with the slider values and redraw the chart and caption."""
        method = self.method.value
        parameter = METHOD_PARAMETER[method]
        for name, attribute in SLIDERS.items():
            show_if(getattr(self, attribute), name == parameter)  # only the method's own slider
        self.model = build_model(method, self.n, self.k.value, self.lam.value, self.d.value).fit(
            self.sentences
        )
        value = getattr(self, SLIDERS[parameter]).value if parameter else 0.0
        state = smoothing_view(
            self.model,
            method,
            self.model.map_unknown(self.context.value),
            self.top,
            parameter_setting(parameter, value),
        )
        self.dist, self.shown = state["dist"], state["shown"]
        self.shown_mass, self.unseen_mass = state["shown_mass"], state["unseen_mass"]
        if self.dist is None:
            self.show(None, state["caption"])
            return
        words = [w for w, _ in self.shown]
        figure = next_word_figure(words, [p for _, p in self.shown], state["unseen"], state["title"])
        self.show(figure, state["caption"])

    def static_data(self) -> dict:
        """Every state the page can reach: per method, per position of its slider, per context.

        A state is the chart's title and bars ((word, p, unseen) for the top words) and the
        caption, as ``smoothing_view`` computes them; a method is fitted once per slider
        position and asked about every context.
        """
        contexts = [value for _, value in self.context.options]
        states: dict[str, list] = {}
        for method in METHODS:
            parameter = METHOD_PARAMETER[method]
            slider = getattr(self, SLIDERS[parameter]) if parameter else None
            per_position = []
            for i in range(grid_size(slider) if slider else 1):
                value = grid_value(slider, i) if slider else 0.0
                kwargs = {"k": self.k.value, "lam": self.lam.value, "d": self.d.value}
                if parameter:
                    kwargs[SLIDERS[parameter]] = value
                model = build_model(method, self.n, **kwargs).fit(self.sentences)
                per_context = []
                for context in contexts:
                    state = smoothing_view(
                        model,
                        method,
                        model.map_unknown(context),
                        self.top,
                        parameter_setting(parameter, value),
                    )
                    bars = [[w, p, u] for (w, p), u in zip(state["shown"], state["unseen"], strict=True)]
                    per_context.append(
                        {
                            "title": state["title"],
                            "caption": state["caption"],
                            "bars": bars if state["dist"] else None,
                        }
                    )
                per_position.append(per_context)
            states[method] = per_position
        parameters = {m: SLIDERS[p] if p else None for m, p in METHOD_PARAMETER.items()}
        return {"methods": list(METHODS), "parameter": parameters, "states": states}
