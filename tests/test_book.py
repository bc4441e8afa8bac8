"""The book builds with warnings as errors, shows its figures and widget, and loads nothing
from another host."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmcore.course.book_assets import remote_loads
from tests.shared import once_per_session

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds the book (once per test session)

TOC_PAGES = (
    "book/intro",
    "book/how-to-use",
    "book/ch01_language_models",
    "book/ch02_ngrams",
    "book/ch03_tokenization",
    "book/ch07_attention",
    "book/ch08_gpt",
    "book/ch09_generation",
    "book/ch10_pretraining",
    "book/references",
)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The built book, built once per test session (by whichever xdist worker comes first)."""

    def build(out: Path) -> dict:
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        result = subprocess.run(
            [
                str(jupyter_book),
                "build",
                str(ROOT),
                "--path-output",
                str(out),
                "--warningiserror",
                "--keep-going",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return {"html": str(out / "_build" / "html")}

    if os.environ.get("LMCORE_BOOK_HTML"):  # a book built already (for work on these tests only)
        return Path(os.environ["LMCORE_BOOK_HTML"])
    return Path(once_per_session(tmp_path_factory, "book", build)["html"])


def test_every_page_of_the_toc_is_built(html):
    for page in TOC_PAGES:
        assert (html / f"{page}.html").exists(), page


def test_chapter_7_has_figures_widget_state_and_citations(html):
    page = (html / "book" / "ch07_attention.html").read_text()
    assert page.count("<img") >= 5
    assert page.count('class="lm-explorer"') == 1
    assert "Vaswani" in page


def test_chapter_9_has_its_widgets_and_timing_figure(html):
    page = (html / "book" / "ch09_generation.html").read_text()
    assert page.count('class="lm-explorer"') == 2  # the sampling explorer, the KV-cache calculator
    assert page.count("<img") >= 1  # the measured time-per-token plot


@pytest.mark.parametrize(
    "page, figures, widgets, cited",
    [
        ("ch01_language_models", 3, 0, "Shannon"),
        ("ch02_ngrams", 3, 1, "Kneser"),
        ("ch03_tokenization", 2, 1, "Sennrich"),
    ],
)
def test_part_one_chapters_have_figures_widgets_and_citations(html, page, figures, widgets, cited):
    text = (html / "book" / f"{page}.html").read_text()
    assert text.count("<img") >= figures
    assert text.count('class="lm-explorer"') == widgets
    assert cited in text


def test_built_html_loads_nothing_from_a_cdn(html):
    assert remote_loads(html) == []


def test_front_page_shows_the_whole_syllabus(html):
    page = (html / "book" / "intro.html").read_text()
    for chapter in ("N-gram", "Tokenization", "KV cache", "RLHF", "RLVR"):
        assert chapter in page, chapter


# -- the book in a real browser, offline ----------------------------------------------------------
# Each widget's page is opened in headless Chromium with the network off; each control is moved
# as a reader moves it (arrow keys on a slider, a choice in a list, typing a number), and what
# the page then shows is compared with what the Python explorer, built as the chapter builds it
# and set to the same positions, computes.


@pytest.fixture(scope="module")
def browser():
    from tests.browser import NO_BROWSER, browser_paths, offline_chrome

    if browser_paths() is None:
        pytest.skip(NO_BROWSER)
    driver = offline_chrome()
    yield driver
    driver.quit()


def open_page(browser, html: Path, page: str) -> None:
    from tests.browser import page_url

    browser.get(page_url(html, page))
    # MathJax typesets after load; wait for it (a page without math resolves at once)
    browser.set_script_timeout(60)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const wait = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "  ? MathJax.startup.promise.then(() => done(true)) : setTimeout(wait, 50);"
        "document.querySelector('.math') ? wait() : done(false);"
    )


def text_of(markup: str) -> str:
    """What a reader sees of an HTML string: tags dropped, entities decoded, spaces collapsed."""
    import html as html_module
    import re

    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def seen(element) -> str:
    return " ".join(element.get_attribute("textContent").split())


class Page:
    """One explorer on an open page: its controls and slots, moved and read like a reader does."""

    def __init__(self, browser, view: str):
        from selenium.webdriver.common.by import By

        self.browser, self.by = browser, By
        self.root = browser.find_element(By.CSS_SELECTOR, f'.lm-explorer[data-view="{view}"]')
        payload = self.root.find_element(By.CSS_SELECTOR, "script.lm-data").get_attribute("textContent")
        self.specs = {spec["name"]: spec for spec in json.loads(payload)["controls"]}

    def control(self, name: str):
        return self.root.find_element(
            self.by.CSS_SELECTOR, f'[data-control="{name}"] input, [data-control="{name}"] select'
        )

    def visible(self, name: str) -> bool:
        return self.root.find_element(self.by.CSS_SELECTOR, f'[data-control="{name}"]').is_displayed()

    def slot(self, name: str):
        return self.root.find_element(self.by.CSS_SELECTOR, f'[data-slot="{name}"]')

    def _redrawn(self, action) -> None:
        before = int(self.root.get_attribute("data-updates") or 0)
        action()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.browser, 10).until(
            lambda _: int(self.root.get_attribute("data-updates") or 0) > before
        )

    def slide(self, name: str, steps: int) -> None:
        from selenium.webdriver.common.keys import Keys

        key = Keys.ARROW_RIGHT if steps > 0 else Keys.ARROW_LEFT
        self._redrawn(lambda: self.control(name).send_keys(key * abs(steps)))

    def choose(self, name: str, index: int) -> None:
        from selenium.webdriver.support.ui import Select

        self._redrawn(lambda: Select(self.control(name)).select_by_index(index))

    def click(self, name: str) -> None:
        self._redrawn(lambda: self.control(name).click())

    def type_number(self, name: str, text: str) -> None:
        field = self.control(name)
        field.clear()
        self._redrawn(lambda: field.send_keys(text))

    def positions(self) -> dict:
        out = {}
        for name, spec in self.specs.items():
            field = self.control(name)
            if spec["kind"] == "checkbox":
                out[name] = field.is_selected()
            else:
                out[name] = field.get_attribute("value")
        return out


def set_like_page(explorer, page: Page) -> None:
    """Move the Python explorer's controls to where the page's controls are now."""
    from lmcore.widgets.base import grid_value

    names, positions = explorer._names(), page.positions()
    for control in explorer.controls:
        name = names[id(control)]
        spec, value = page.specs[name], positions[name]
        if spec["kind"] == "range":
            control.value = grid_value(control, int(value))
        elif spec.get("preset"):
            control.value = spec["texts"][int(value)]
        elif spec["kind"] == "select":
            control.index = int(value)
        elif spec["kind"] == "checkbox":
            control.value = bool(value)
        else:
            control.value = int(value)


def same_explorer(explorer, page: Page) -> None:
    """The page was built from an explorer made like this one (same controls, same start)."""
    assert json.loads(json.dumps(explorer.static_spec())) == list(page.specs.values())


@pytest.mark.parametrize("page", TOC_PAGES)
def test_book_pages_read_offline_in_a_browser(html, browser, page):
    from tests.browser import console_errors, remote_requests

    console_errors(browser), remote_requests(browser)  # start the logs afresh
    open_page(browser, html, page)
    untypeset = browser.execute_script(
        "return [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))"
        ".map(m => m.textContent.slice(0, 60));"
    )
    assert untypeset == [], f"formulas MathJax did not typeset: {untypeset}"
    broken = browser.execute_script(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.src.slice(0, 80));"
    )
    assert broken == [], f"images that did not load: {broken}"
    assert remote_requests(browser) == [], "the page asked another host for something"
    assert console_errors(browser) == []


def test_book_kv_calculator_recomputes_on_the_page(html, browser):
    from lmcore.kv_cache import kv_cache_bytes
    from lmcore.model import GPTConfig
    from lmcore.widgets.generation import KVCacheCalculator

    open_page(browser, html, "book/ch09_generation")
    page = Page(browser, "kv_cache")
    calculator = KVCacheCalculator("gpt2-medium", batch_size=8, seq_len=1024, dtype="bfloat16")
    same_explorer(calculator, page)
    assert seen(page.slot("result")) == text_of(calculator.result.value)
    page.choose("size", 3)  # gpt2-xl
    page.choose("dtype", 3)  # int8
    page.type_number("batch", "87")
    page.slide("seq_len", -24)
    set_like_page(calculator, page)
    assert (calculator.size.value, calculator.dtype.value, calculator.batch.value) == ("gpt2-xl", "int8", 87)
    expected = kv_cache_bytes(GPTConfig.gpt2("gpt2-xl"), 87, calculator.seq_len.value, 1)
    assert calculator.nbytes == expected
    assert f"{expected:,} bytes" in seen(page.slot("result"))
    assert seen(page.slot("result")) == text_of(calculator.result.value)
    page.type_number("batch", "0")
    assert "whole number from 1 to 4096" in seen(page.slot("result"))


def test_book_sampling_explorer_recomputes_on_the_page(html, browser):
    from lmcore.widgets.generation import SamplingExplorer

    open_page(browser, html, "book/ch09_generation")
    page = Page(browser, "sampling")
    explorer = SamplingExplorer(temperature=0.7, top_k=6, top_p=0.9)
    same_explorer(explorer, page)
    for name, steps in (("temperature", 6), ("top_k", -3), ("top_p", -5), ("temperature", -14)):
        page.slide(name, steps)
        set_like_page(explorer, page)
        charts = page.slot("image").find_elements(page.by.CSS_SELECTOR, "svg")
        after = [
            float(bar.get_attribute("data-p"))
            for bar in charts[1].find_elements(page.by.CSS_SELECTOR, "rect")
        ]
        assert after == pytest.approx(explorer.after.tolist(), abs=1e-6), name
        assert seen(page.slot("caption")) == text_of(explorer.caption.value), name
        readout = f"temperature {explorer.temperature.value:.3g}"
        assert readout in seen(page.slot("image")), name


def test_book_attention_explorer_recomputes_on_the_page(html, browser):
    import numpy as np

    from lmcore.widgets.attention import AttentionExplorer

    open_page(browser, html, "book/ch07_attention")
    page = Page(browser, "attention")
    explorer = AttentionExplorer("the cat sat on the mat because the cat was tired", head=0)
    same_explorer(explorer, page)
    for move in (
        lambda: page.slide("head", 2),
        lambda: page.slide("sharpness", 7),
        lambda: page.click("causal"),
        lambda: page.choose("text", 1),
        lambda: page.slide("head", -1),
    ):
        move()
        set_like_page(explorer, page)
        cells = page.slot("image").find_elements(page.by.CSS_SELECTOR, "td")
        shown = [
            np.nan if c.get_attribute("data-w") == "masked" else float(c.get_attribute("data-w"))
            for c in cells
        ]
        expected = explorer.weights.numpy().astype(float)
        if explorer.causal.value:
            expected[np.triu_indices_from(expected, 1)] = np.nan
        assert np.allclose(shown, expected.ravel(), atol=1e-5, equal_nan=True)
        assert seen(page.slot("caption")) == text_of(explorer.caption.value)


def test_book_bpe_stepper_switches_to_the_state_python_rendered(html, browser):
    from lmcore.widgets.bpe import BPEStepper

    open_page(browser, html, "book/ch03_tokenization")
    page = Page(browser, "bpe")
    explorer = BPEStepper(page.specs["text"]["texts"][0], n_merges=20, step=12)
    same_explorer(explorer, page)
    for move in (
        lambda: page.slide("step", -5),
        lambda: page.choose("text", 1),
        lambda: page.slide("step", 30),
    ):
        move()
        set_like_page(explorer, page)
        assert int(page.control("step").get_attribute("max")) == len(explorer.trace.merges)
        for slot in ("summary", "merges_view", "pairs_view", "tokens_view"):
            assert seen(page.slot(slot)) == text_of(getattr(explorer, slot).value), slot


def test_book_smoothing_explorer_shows_only_the_methods_parameter(html, browser):
    from lmcore.data import sample_sentences
    from lmcore.widgets.ngram import METHODS, SmoothingExplorer

    open_page(browser, html, "book/ch02_ngrams")
    page = Page(browser, "smoothing")
    story_train = [list(s.words) for s in sample_sentences(2000, seed=0)]
    explorer = SmoothingExplorer(
        story_train, n=3, contexts=["the hungry", "lost the", "little frogs", "mouse sleeps"], top=10
    )
    same_explorer(explorer, page)
    moves = [
        ("method", METHODS.index("add-k"), None),
        ("k", -6, "k"),
        ("method", METHODS.index("interpolation"), None),
    ]
    moves += [
        ("lam", -3, "lam"),
        ("context", 2, None),
        ("method", METHODS.index("backoff"), None),
        ("d", 2, "d"),
    ]
    moves += [("method", METHODS.index("MLE"), None), ("context", 3, None)]
    for name, amount, _ in moves:
        page.slide(name, amount) if page.specs[name]["kind"] == "range" else page.choose(name, amount)
        set_like_page(explorer, page)
        for slider in ("k", "lam", "d"):
            assert page.visible(slider) == (getattr(explorer, slider).layout.display != "none"), (
                name,
                slider,
            )
        bars = page.slot("image").find_elements(page.by.CSS_SELECTOR, "rect")
        assert [b.get_attribute("data-word") for b in bars] == [w for w, _ in explorer.shown], name
        assert [float(b.get_attribute("data-p")) for b in bars] == pytest.approx(
            [p for _, p in explorer.shown], abs=1e-12
        )
        assert seen(page.slot("caption")) == text_of(explorer.caption.value), name


def test_book_widgets_stay_usable_at_phone_width(html, browser):
    browser.set_window_size(420, 900)
    try:
        for page, views in (("book/ch09_generation", 2), ("book/ch07_attention", 1), ("book/ch02_ngrams", 1)):
            open_page(browser, html, page)
            widths = browser.execute_script(
                "return [...document.querySelectorAll('.lm-explorer')]"
                ".map(e => [e.scrollWidth, e.clientWidth, Math.min("
                "...[...e.querySelectorAll('input[type=range]')].filter(i => i.offsetParent)"
                ".map(i => i.getBoundingClientRect().width), 1e9)]);"
            )
            assert len(widths) == views, page
            for scroll, client, narrowest_slider in widths:
                assert scroll <= client + 1, f"{page}: the explorer scrolls sideways at 420 px"
                assert narrowest_slider >= 100, f"{page}: a slider is only {narrowest_slider:.0f} px wide"
    finally:
        browser.set_window_size(1200, 900)


def test_book_browser_check_rejects_a_view_that_computes_wrongly(html, browser):
    """The comparison above can fail: a KV view without the factor 2 (keys only) is caught."""
    from lmcore.widgets.generation import KVCacheCalculator

    open_page(browser, html, "book/ch09_generation")
    browser.execute_script(
        "const right = lmExplorers.views.kv_cache;"
        "lmExplorers.views.kv_cache = (d, v, p) => {"
        "  const out = right(d, v, p); out.result = out.result.replace(/<b>([\\d,]+) bytes/, (m, n) =>"
        "    '<b>' + (Number(n.replace(/,/g, '')) / 2).toLocaleString('en-US') + ' bytes'); return out; };"
    )
    page = Page(browser, "kv_cache")
    page.choose("size", 0)  # gpt2 (the page starts on gpt2-medium)
    calculator = KVCacheCalculator("gpt2-medium", batch_size=8, seq_len=1024, dtype="bfloat16")
    set_like_page(calculator, page)
    assert f"{calculator.nbytes:,} bytes" not in seen(page.slot("result"))
    assert seen(page.slot("result")) != text_of(calculator.result.value)


# -- numbering, captions, citations, downloads ------------------------------------------------------

CHAPTERS = {1: "ch01_language_models", 2: "ch02_ngrams", 3: "ch03_tokenization", 7: "ch07_attention"}
CHAPTERS |= {8: "ch08_gpt", 9: "ch09_generation", 10: "ch10_pretraining"}


def soup(html: Path, page: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup((html / f"{page}.html").read_text(), "html.parser")


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_book_figures_and_equations_are_numbered_within_their_chapter(html, chapter):
    import re

    page = soup(html, f"book/{CHAPTERS[chapter]}")
    numbers = [s.get_text() for s in page.select("figcaption .caption-number, span.eqno, .caption-number")]
    for number in numbers:
        assert re.search(rf"\b{chapter}\.\d+\b", number), f"{number!r} is not numbered in chapter {chapter}"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_book_every_figure_of_a_chapter_has_a_caption(html, chapter):
    page = soup(html, f"book/{CHAPTERS[chapter]}")
    for image in page.select(".cell_output img"):
        if image.find_parent(class_="lm-explorer"):
            continue  # an explorer's first picture (explorers.js redraws it at once)
        figure = image.find_parent("figure")
        assert figure is not None and figure.find("figcaption"), (
            f"an image without a caption: {image.get('src')[:60]}"
        )


def test_book_bibliography_labels_are_the_texts_author_year_citations(html):
    import re

    page = soup(html, "book/references")
    labels = [label.get_text() for label in page.select(".citation .label, dt.label")]
    assert labels and "[Ba et al., 2016]" in labels, labels[:5]
    assert not [label for label in labels if re.fullmatch(r"\[[A-Z][A-Za-z+]*\d{2}[a-z]?\]", label)]
    assert "[Ba et al., 2016]" in soup(html, "book/ch07_attention").get_text()  # the text cites it so


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_book_chapter_offers_its_executed_notebook(html, chapter):
    import nbformat

    name = CHAPTERS[chapter]
    page = soup(html, f"book/{name}")
    links = {a["href"] for a in page.select("a[href$='.ipynb']")}
    assert f"../_sources/book/{name}.ipynb" in links
    assert "make install" in page.select_one(".lm-run-this").get_text()
    notebook = nbformat.read(html / "_sources" / "book" / f"{name}.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_book_search_summaries_show_no_tex_delimiters(html, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser import page_url

    browser.get(page_url(html, "search") + "?q=perplexity")
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.querySelectorAll('#search-results li').length") > 0
    )
    summary = "#search-results p.search-summary, #search-results .context"
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script(f"return document.querySelectorAll('{summary}').length") > 0
    )
    summaries = browser.execute_script(
        "return [...document.querySelectorAll('#search-results li')].map(li => li.innerText);"
    )
    assert summaries
    assert not [s for s in summaries if "\\(" in s or "\\)" in s or "\\[" in s]
