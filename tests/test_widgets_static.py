"""The explorers' kernel-free copy (lmcore.widgets.base): controls as HTML, the data Python
computes for the page, and the page's table of states agreeing with render() itself.
The copy is driven in a real browser by tests/test_book.py."""

import json
import re

import ipywidgets as widgets
import pytest
import torch

from lmcore.course.book_pages import chapter_number, renumber
from lmcore.kv_cache import kv_cache_bytes
from lmcore.model import GPTConfig
from lmcore.widgets.base import Explorer, control_spec, grid_position, grid_value, on_grid
from lmcore.widgets.bpe import BPEStepper
from lmcore.widgets.generation import DTYPE_BYTES, GPT2_SIZES, KVCacheCalculator, SamplingExplorer
from lmcore.widgets.ngram import METHODS, SmoothingExplorer

CORPUS = [s.split() for s in ("students opened their books", "students opened their laptops", "the cat sat")]


def payload(explorer) -> dict:
    html = explorer.static_html()
    match = re.search(r'<script type="application/json" class="lm-data">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


class Echo(Explorer):
    view = "echo"

    def __init__(self):
        self.x = widgets.FloatSlider(value=0.7, min=0.05, max=0.95, step=0.05, description="x")
        self.out = widgets.HTML()
        super().__init__(controls=[self.x], rows=[self.x, self.out])

    def render(self) -> None:
        self.out.value = f"x = {self.x.value}"

    def static_data(self) -> dict:
        return {"evil": "</script><script>alert(1)</script>"}


def test_static_html_has_the_controls_slots_and_data_of_the_explorer():
    echo = Echo()
    html = echo.static_html()
    assert 'data-view="echo"' in html and 'data-control="x"' in html and 'data-slot="out"' in html
    assert html.count("</script>") == 1  # the data cannot end its own script tag
    data = payload(echo)
    assert data["data"]["evil"].startswith("</script>")
    assert data["controls"] == [control_spec("x", echo.x)]
    bundle = echo._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/html"] == html


def test_slider_values_are_snapped_to_the_grid_the_page_uses():
    echo = Echo()
    assert echo.x.value == 0.7 == grid_value(echo.x, grid_position(echo.x))
    assert grid_value(echo.x, 14) == 0.75  # not 0.7500000000000001
    log = on_grid(widgets.FloatLogSlider(value=0.7, base=10, min=-1, max=1, step=0.05))
    assert log.value == pytest.approx(10**-0.15) and log.value != 0.7


def test_a_text_box_needs_presets_and_an_unknown_control_is_refused():
    box = widgets.Text(value="abc", description="text")
    with pytest.raises(ValueError, match="presets"):
        control_spec("text", box)
    with pytest.raises(ValueError, match="current text first"):
        control_spec("text", box, ["xyz", "abc"])
    assert control_spec("text", box, ["abc", "d"])["texts"] == ["abc", "d"]
    with pytest.raises(TypeError, match="ColorPicker"):
        control_spec("c", widgets.ColorPicker())


def test_kv_page_data_times_batch_and_length_is_kv_cache_bytes():
    data = KVCacheCalculator().static_data()
    for size, entry in zip(GPT2_SIZES, data["sizes"], strict=True):
        for j, e in enumerate(DTYPE_BYTES.values()):
            assert entry["per_token"][j] * 87 * 333 == kv_cache_bytes(GPTConfig.gpt2(size), 87, 333, e)


def test_sampling_page_masks_are_the_tokens_render_can_sample():
    explorer = SamplingExplorer(temperature=0.7, top_k=6, top_p=0.9)
    data = explorer.static_data()
    n_t, n_k, n_p = data["shape"]
    for t, k, p in ((0, 0, 0), (20, 5, 17), (40, 11, 19), (7, 3, 9), (33, 9, 2)):
        explorer.temperature.value = grid_value(explorer.temperature, t)
        explorer.top_k.value = int(grid_value(explorer.top_k, k))
        explorer.top_p.value = grid_value(explorer.top_p, p)
        mask = data["kept"][(t * n_k + k) * n_p + p]
        assert [bool(mask >> i & 1) for i in range(12)] == (explorer.after > 0).tolist()
        logits = torch.tensor(data["logits"]) / explorer.temperature.value
        page = torch.softmax(logits.masked_fill(explorer.after == 0, float("-inf")), -1)
        assert torch.allclose(page, explorer.after, atol=1e-6)


def test_smoothing_page_states_are_what_render_shows():
    explorer = SmoothingExplorer(CORPUS, n=3, contexts=["opened their", "the cat"], top=5)
    data = explorer.static_data()
    assert data["parameter"] == {
        "MLE": None,
        "add-k": "k",
        "interpolation": "lam",
        "backoff": "d",
        "Kneser-Ney": "d",
    }
    for method, slider, position, context in (
        ("add-k", "k", 3, 0),
        ("Kneser-Ney", "d", 10, 1),
        ("MLE", None, 0, 1),
    ):
        explorer.method.value = method
        explorer.context.index = context
        if slider:
            getattr(explorer, slider).value = grid_value(getattr(explorer, slider), position)
        state = data["states"][method][position][context]
        assert state["caption"] == explorer.caption.value
        assert [(w, p) for w, p, _ in state["bars"]] == explorer.shown
    assert set(data["states"]) == set(METHODS)


def test_bpe_page_states_are_render_output_and_the_stepper_is_left_as_it_was():
    stepper = BPEStepper("the car the cat the rat", n_merges=6, step=2)
    presets = payload(stepper)["data"]["presets"]
    assert (stepper.text.value, stepper.step.value) == ("the car the cat the rat", 2)
    assert len(presets) == 3 and len(presets[0]["states"]) == 7
    stepper.step.value = 4
    assert presets[0]["states"][4]["tokens_view"] == stepper.tokens_view.value
    assert presets[0]["states"][4]["summary"] == stepper.summary.value


def test_chapter_numbers_come_from_the_title_and_restart_per_chapter():
    assert chapter_number("9. Generation and the KV cache") == 9
    assert chapter_number("How to use this book") is None
    assert renumber({"b": (14,), "a": (13,), "c": (15,)}, 10) == {"a": (10, 1), "b": (10, 2), "c": (10, 3)}


def test_bibliography_labels_are_author_year_and_unique():
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    import lmcore.course.book_pages  # noqa: F401  registers the style

    lmcore.course.book_pages._register_author_year_style()
    style = find_plugin("pybtex.style.formatting", "authoryear")()
    bib = parse_file("book/references.bib")
    labels = {entry.key: entry.label for entry in style.format_entries(bib.entries.values())}
    assert labels["ba2016layer"] == "Ba et al., 2016"
    assert labels["shannon1948mathematical"].startswith("Shannon, 1948")
    assert labels["kudo2018sentencepiece"] == "Kudo and Richardson, 2018"
    assert len(set(labels.values())) == len(labels)
