"""The book builds with warnings as errors, shows its figures and widget, and loads nothing
from another host."""

import subprocess
import sys
from pathlib import Path

import pytest

from lmcore.course.book_assets import remote_loads
from tests.shared import once_per_session

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds the book (once per test session)


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

    return Path(once_per_session(tmp_path_factory, "book", build)["html"])


def test_every_page_of_the_toc_is_built(html):
    for page in (
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
    ):
        assert (html / f"{page}.html").exists(), page


def test_chapter_7_has_figures_widget_state_and_citations(html):
    page = (html / "book" / "ch07_attention.html").read_text()
    assert page.count("<img") >= 5
    assert "application/vnd.jupyter.widget-state+json" in page
    assert "Vaswani" in page


def test_chapter_9_has_its_widgets_and_timing_figure(html):
    page = (html / "book" / "ch09_generation.html").read_text()
    assert page.count("application/vnd.jupyter.widget-state+json") >= 1
    assert page.count("<img") >= 1  # the measured time-per-token plot; the rest are widgets


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
    assert text.count("application/vnd.jupyter.widget-state+json") >= widgets
    assert cited in text


def test_built_html_loads_nothing_from_a_cdn(html):
    assert remote_loads(html) == []


def test_front_page_shows_the_whole_syllabus(html):
    page = (html / "book" / "intro.html").read_text()
    for chapter in ("N-gram", "Tokenization", "KV cache", "RLHF", "RLVR"):
        assert chapter in page, chapter
