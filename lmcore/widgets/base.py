"""What every widget of the book shares: controls that redraw a view, live and on the static page.

A widget is a subclass of :class:`Explorer`. Its ``__init__`` builds the controls (ipywidgets
with a ``value``) and the views (``HTML``, ``Image``) as attributes, then hands them to
``Explorer.__init__``; its one method :meth:`Explorer.render` reads the controls and fills
the views. The base lays the rows out in ``self.widget`` (a ``VBox``), calls ``render()``
once and again after every change of a control's value, and shows the box wherever a
notebook displays the explorer. :class:`FigureExplorer` adds the view most widgets draw: a
matplotlib figure held as PNG in an ``Image``, above an HTML caption.

A widget that squares a number::

    class Squarer(Explorer):
        def __init__(self, x: int = 3):
            self.x = widgets.IntSlider(value=x, description="x", style=WIDE)
            self.out = widgets.HTML()
            super().__init__(controls=[self.x], rows=[self.x, self.out])

        def render(self) -> None:
            self.out.value = f"{self.x.value} squared is {self.x.value**2}"

    squarer = Squarer()  # render() has run: squarer.out.value == "3 squared is 9"
    squarer.x.value = 4  # and runs again: "4 squared is 16"

**The static page.** A book page has no kernel, so ``render()`` cannot run there. An explorer
that names a ``view`` also offers a second, kernel-free copy of itself (:meth:`static_html`,
the ``text/html`` of its display; the book's HTML builder prefers it, Jupyter keeps the
live widget): the same rows turned into plain HTML controls and slots, and the JSON that
:meth:`static_data` computes in Python. The book's ``explorers.js``
(``lmcore/widgets/static``) has one function per view, ``view(data, values, positions)``,
that turns the data and the controls' current values into each slot's HTML, so a moved
control redraws on the page from numbers Python computed (a table of precomputed states
where the computation is heavy, a few multiplications where it is not). For the squarer::

    class Squarer(Explorer):
        view = "squarer"  # explorers.js: views.squarer = (d, v) => ({out: v.x + " squared is " + v.x * v.x})

        def static_data(self) -> dict:
            return {}

A slider's value on the page is always a point of its grid (min + i * step, or base to that
power), so :func:`on_grid` snaps the value an explorer starts from to the same grid: the
first picture and the page's first picture agree. A text box cannot be recomputed without
Python; on the page it becomes a choice between its current text and the ``preset_texts``.

Figures are drawn on matplotlib's Agg canvas, so nothing needs a display: tests move the
controls and read back the numbers and the picture.
"""

import base64
import html
import io
import json
import math
from collections.abc import Sequence

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDE = {"description_width": "initial"}  # control style: the label takes the width it needs
WRAP = {"flex_flow": "row wrap"}  # a row of controls that wraps on a narrow screen
PRESET_LABEL = 70  # characters of a preset text shown in the page's drop-down


def agg_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches with constrained layout, drawn by Agg."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself to the figure: no pyplot, no display
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """Render a matplotlib Figure to PNG bytes (no display needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def row(*children: widgets.Widget) -> widgets.HBox:
    """Controls side by side that wrap onto the next line when the screen is narrow."""
    return widgets.HBox(list(children), layout=WRAP)


def grid_size(slider: widgets.Widget) -> int:
    """How many positions a slider has: 1 + (max - min) / step."""
    return int(round((slider.max - slider.min) / slider.step)) + 1


def grid_value(slider: widgets.Widget, i: int) -> float:
    """The value at position ``i`` of a slider (a log slider: ``base ** (min + i * step)``).

    ``min + i * step`` is rounded to 10 decimals (0.05 + 14 * 0.05 is 0.7500000000000001,
    and the slider means 0.75); explorers.js rounds the same way, so both sides agree to the
    last bit on a linear slider (a log slider's power may differ in the last place).
    """
    x = round(slider.min + i * slider.step, 10)
    return slider.base**x if isinstance(slider, widgets.FloatLogSlider) else x


def grid_position(slider: widgets.Widget, value: float | None = None) -> int:
    """The position of the grid point nearest to ``value`` (default: the slider's value)."""
    value = slider.value if value is None else value
    x = math.log(value, slider.base) if isinstance(slider, widgets.FloatLogSlider) else value
    return min(max(int(round((x - slider.min) / slider.step)), 0), grid_size(slider) - 1)


def on_grid(slider: widgets.Widget) -> widgets.Widget:
    """Snap a float slider's value to its grid point (temperature 0.7 on a log grid is 0.708)."""
    if isinstance(slider, widgets.FloatSlider | widgets.FloatLogSlider):
        slider.value = grid_value(slider, grid_position(slider))
    return slider


def show_if(control: widgets.Widget, visible: bool) -> None:
    """Show or hide a control (a hidden control takes no room)."""
    control.layout.display = None if visible else "none"


class Explorer:
    """Controls above views, redrawn by the subclass's ``render()`` whenever a control changes.

    ``controls`` are the widgets whose ``value`` ``render()`` reads; ``rows`` are the widgets
    stacked top to bottom in ``self.widget`` (the controls among them, alone or in a
    :func:`row`). Subclasses set their own attributes before calling ``Explorer.__init__``,
    which renders at once, so an explorer is drawn as soon as it exists. A subclass with a
    ``view`` (the name of its function in explorers.js) also writes :meth:`static_data`.
    """

    view: str | None = None
    # per text control (by attribute name): the texts the page offers besides the current one
    preset_texts: dict[str, Sequence[str]] = {}

    def __init__(self, controls: Sequence[widgets.Widget], rows: Sequence[widgets.Widget]):
        self.controls = list(controls)
        for control in self.controls:
            on_grid(control)
        self.widget = widgets.VBox(list(rows))
        for control in self.controls:
            control.observe(self._on_change, names="value")
        self.render()

    def _on_change(self, change: dict) -> None:
        self.render()

    def render(self) -> None:
        """Read the controls and fill the views; every subclass writes its own."""
        raise NotImplementedError

    def static_data(self) -> dict:
        """The JSON the page's view function computes from (only for explorers with a view)."""
        raise NotImplementedError

    def static_presets(self) -> dict[str, list[str]]:
        """For each text control (by attribute name): the texts the page offers, current first."""
        presets = {}
        for name, texts in self.preset_texts.items():
            current = getattr(self, name).value
            presets[name] = [current, *(t for t in texts if t != current)]
        return presets

    def _repr_mimebundle_(self, **kwargs):
        # a notebook displaying the explorer displays its box; the book's page shows the copy
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if self.view is not None:
            bundle = {**bundle, "text/html": self.static_html()}
        return bundle

    # -- the static page ------------------------------------------------------------------

    def _names(self) -> dict[int, str]:
        """Attribute name of each widget the explorer holds, by id (the page's slot names)."""
        return {id(value): name for name, value in vars(self).items() if isinstance(value, widgets.Widget)}

    def static_spec(self) -> list[dict]:
        """Each control as the page draws it: its name, label, kind and where it starts."""
        names, presets = self._names(), self.static_presets()
        return [control_spec(names[id(c)], c, presets.get(names[id(c)])) for c in self.controls]

    def static_html(self) -> str:
        """The explorer as plain HTML controls, slots and data, for a page without a kernel."""
        if self.view is None:
            raise TypeError(f"{type(self).__name__} has no static view")
        names = self._names()
        specs = {spec["name"]: spec for spec in self.static_spec()}
        body = "".join(_node_html(child, names, specs) for child in self.widget.children)
        payload = json.dumps({"controls": list(specs.values()), "data": self.static_data()})
        payload = payload.replace("</", "<\\/")  # a "</script>" inside a string must not end the tag
        return (
            f'<div class="lm-explorer" data-view="{self.view}">{body}'
            f'<script type="application/json" class="lm-data">{payload}</script>'
            '<noscript><p class="lm-note">The controls need JavaScript; the view shows the '
            "settings above.</p></noscript></div>"
        )


def control_spec(name: str, control: widgets.Widget, presets: list[str] | None = None) -> dict:
    """How the page draws one ipywidgets control (``presets``: the choices for a text box)."""
    spec = {"name": name, "label": control.description, "hidden": control.layout.display == "none"}
    if isinstance(control, widgets.FloatLogSlider | widgets.IntSlider | widgets.FloatSlider):
        log = isinstance(control, widgets.FloatLogSlider)
        return spec | {
            "kind": "range",
            "log": log,
            "base": control.base if log else None,
            "min": control.min,
            "step": control.step,
            "size": grid_size(control),
            "position": grid_position(control),
            "format": control.readout_format,
        }
    if isinstance(control, widgets.Dropdown | widgets.ToggleButtons):
        return spec | {"kind": "select", "options": list(control._options_labels), "index": control.index}
    if isinstance(control, widgets.Checkbox):
        return spec | {"kind": "checkbox", "value": bool(control.value)}
    if isinstance(control, widgets.BoundedIntText):
        return spec | {"kind": "number", "min": control.min, "max": control.max, "value": control.value}
    if isinstance(control, widgets.Text | widgets.Textarea):
        if not presets or presets[0] != control.value:
            raise ValueError(f"the text control {name!r} needs presets for the page, its current text first")
        labels = [p if len(p) <= PRESET_LABEL else p[: PRESET_LABEL - 1] + "\u2026" for p in presets]
        return spec | {
            "kind": "select",
            "options": labels,
            "texts": list(presets),
            "index": 0,
            "preset": True,
        }
    raise TypeError(f"{name}: the static page has no control for {type(control).__name__}")


def _node_html(node: widgets.Widget, names: dict[int, str], specs: dict[str, dict]) -> str:
    """One widget of the tree as page HTML: a box, a control, a named slot or fixed HTML."""
    name = names.get(id(node))
    if name in specs:
        return _control_html(specs[name])
    if isinstance(node, widgets.Box):
        kind = "lm-row" if isinstance(node, widgets.HBox) else "lm-col"
        return (
            f'<div class="{kind}">' + "".join(_node_html(c, names, specs) for c in node.children) + "</div>"
        )
    if isinstance(node, widgets.Image):
        data = bytes(node.value)
        inner = f'<img alt="" src="data:image/png;base64,{base64.b64encode(data).decode()}">' if data else ""
        return f'<div class="lm-slot" data-slot="{name}">{inner}</div>'
    if isinstance(node, widgets.HTML):
        slot = f' class="lm-slot" data-slot="{name}"' if name else ""
        return f"<div{slot}>{node.value}</div>"
    raise TypeError(f"the static page cannot draw a {type(node).__name__}")


def _control_html(spec: dict) -> str:
    """A labelled HTML input for one control spec; explorers.js reads and wires it."""
    name, label = spec["name"], html.escape(spec["label"])
    hidden = " hidden" if spec["hidden"] else ""
    if spec["kind"] == "range":
        field = (
            f'<input type="range" min="0" max="{spec["size"] - 1}" step="1" value="{spec["position"]}">'
            '<output class="lm-readout"></output>'
        )
    elif spec["kind"] == "select":
        options = "".join(
            f'<option value="{i}"{" selected" if i == spec["index"] else ""}>{html.escape(text)}</option>'
            for i, text in enumerate(spec["options"])
        )
        field = f"<select>{options}</select>"
        if spec.get("preset"):
            field += (
                '<span class="lm-note">On this page: one of these texts. In Jupyter: type your own.</span>'
            )
    elif spec["kind"] == "checkbox":
        field = f'<input type="checkbox"{" checked" if spec["value"] else ""}>'
    else:  # number
        field = (
            f'<input type="number" min="{spec["min"]}" max="{spec["max"]}" step="1" value="{spec["value"]}">'
        )
    return (
        f'<label class="lm-control lm-{spec["kind"]}" data-control="{name}"{hidden}>'
        f'<span class="lm-label">{label}</span>{field}</label>'
    )


class FigureExplorer(Explorer):
    """An Explorer whose view is a figure (``self.image``, PNG) above a caption (``self.caption``).

    ``rows`` are the rows of controls drawn above the figure; ``render()`` ends with
    ``self.show(figure, caption)``. On the static page the view function draws the figure
    itself (as SVG or HTML) into the ``image`` slot.
    """

    def __init__(self, controls: Sequence[widgets.Widget], rows: Sequence[widgets.Widget]):
        self.image = widgets.Image(format="png")
        self.caption = widgets.HTML()
        super().__init__(controls, [*rows, self.image, self.caption])

    def show(self, figure: Figure | None, caption: str) -> None:
        """Draw ``figure`` (None clears the picture) and set the caption's HTML."""
        self.image.value = b"" if figure is None else figure_png(figure)
        self.caption.value = caption
