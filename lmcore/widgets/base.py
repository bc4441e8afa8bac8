"""What every widget of the book shares: controls that redraw a view, and figures as PNG bytes.

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

Figures are drawn on matplotlib's Agg canvas, so nothing needs a display: tests move the
controls and read back the numbers and the picture.
"""

import io
from collections.abc import Sequence

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDE = {"description_width": "initial"}  # control style: the label takes the width it needs


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


class Explorer:
    """Controls above views, redrawn by the subclass's ``render()`` whenever a control changes.

    ``controls`` are the widgets whose ``value`` ``render()`` reads; ``rows`` are the widgets
    stacked top to bottom in ``self.widget`` (the controls among them, alone or in an
    ``HBox``). Subclasses set their own attributes before calling ``Explorer.__init__``,
    which renders at once, so an explorer is drawn as soon as it exists.
    """

    def __init__(self, controls: Sequence[widgets.Widget], rows: Sequence[widgets.Widget]):
        self.widget = widgets.VBox(list(rows))
        for control in controls:
            control.observe(self._on_change, names="value")
        self.render()

    def _on_change(self, change: dict) -> None:
        self.render()

    def render(self) -> None:
        """Read the controls and fill the views; every subclass writes its own."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        # a notebook displaying the explorer displays its box
        return self.widget._repr_mimebundle_(**kwargs)


class FigureExplorer(Explorer):
    """An Explorer whose view is a figure (``self.image``, PNG) above a caption (``self.caption``).

    ``rows`` are the rows of controls drawn above the figure; ``render()`` ends with
    ``self.show(figure, caption)``.
    """

    def __init__(self, controls: Sequence[widgets.Widget], rows: Sequence[widgets.Widget]):
        self.image = widgets.Image(format="png")
        self.caption = widgets.HTML()
        super().__init__(controls, [*rows, self.image, self.caption])

    def show(self, figure: Figure | None, caption: str) -> None:
        """Draw ``figure`` (None clears the picture) and set the caption's HTML."""
        self.image.value = b"" if figure is None else figure_png(figure)
        self.caption.value = caption
