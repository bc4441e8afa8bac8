"""What the book's pages add to Jupyter Book: per-chapter numbers, notebooks to download, clean
search summaries and author-year bibliography labels.

A Sphinx extension (``sphinx: extra_extensions: [lmcore.course.book_pages]`` in
``_config.yml``):

- **Numbers per chapter.** Sphinx numbers figures, tables and equations through the whole
  book when the table of contents is not numbered, so chapter 10's first figure was Fig. 13,
  and writing chapters 4-6 would renumber everything after them. A chapter's number is in
  its title ("9. Generation and the KV cache"); each figure, table, code listing and
  numbered equation of that page is renumbered (9, 1), (9, 2), ... in page order, which
  prints as "Fig. 9.2" and "(9.2)".
- **The executed notebook.** Each chapter page offers the notebook the build executed
  (outputs included) in the page's download menu, and says at the top of the page how to
  get and run it.
- **Search summaries.** Sphinx's search page shows a page's text around the match, taken
  from the HTML before MathJax runs, so formulas showed as ``\\(V^n\\)``; the page's script
  drops the TeX delimiters from those summaries.
- **Bibliography labels** in the author-year form the text cites ("Ba et al., 2016"), not
  the alpha labels ("[BKH16]"): the pybtex style ``authoryear``.
"""

import re
import shutil
from pathlib import Path

CHAPTER_TITLE = re.compile(r"^(\d+)\.\s")  # "9. Generation and the KV cache" -> 9
STATIC = Path(__file__).resolve().parent / "static"


def chapter_number(title: str) -> int | None:
    """The chapter number a page title starts with ("7. Attention" -> 7), else None."""
    match = CHAPTER_TITLE.match(title)
    return int(match.group(1)) if match else None


def renumber(numbers: dict[str, tuple[int, ...]], chapter: int) -> dict[str, tuple[int, int]]:
    """One page's numbers of one kind as (chapter, 1), (chapter, 2), ... in their page order.

    >>> renumber({"fig-b": (14,), "fig-a": (13,)}, 10)
    {'fig-a': (10, 1), 'fig-b': (10, 2)}
    """
    ordered = sorted(numbers, key=lambda node_id: numbers[node_id])
    return {node_id: (chapter, i + 1) for i, node_id in enumerate(ordered)}


def _number_per_chapter(app, env) -> list[str]:
    # runs after Sphinx's TocTreeCollector has assigned the book-wide numbers (priority 900)
    for docname, by_type in env.toc_fignumbers.items():
        title = env.titles.get(docname)
        chapter = chapter_number(title.astext()) if title is not None else None
        if chapter is None:
            continue
        for figtype, numbers in by_type.items():
            by_type[figtype] = renumber(numbers, chapter)
    return []


# -- the executed notebook of each chapter ----------------------------------------------------


def executed_notebook(app, docname: str) -> Path | None:
    """The notebook myst-nb executed for ``docname`` (in <build>/jupyter_execute), if any."""
    path = Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"
    return path if path.is_file() else None


def notebook_box(href: str, how_to: str) -> str:
    """The note at the top of a chapter: the notebook to download and what it needs."""
    return (
        '<div class="admonition lm-run-this"><p class="admonition-title">Run this chapter</p>'
        f'<p><a href="{href}" download>Download it as a notebook (.ipynb)</a>, outputs included. '
        "Its code imports <code>lmcore</code>, the course's package: in a clone of the course's "
        "repository, <code>make install</code> creates <code>.venv</code> with it and every pinned "
        "package (or <code>pip install -e .</code> in an environment of your own); then open the "
        "notebook in Jupyter with that environment's kernel. See "
        f'<a href="{how_to}">How to use this book</a>.</p></div>'
    )


def _offer_notebook(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or chapter_number(context.get("title", "")) is None:
        return
    notebook = executed_notebook(app, pagename)
    if notebook is None:
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"  # sphinx-book-theme's download menu shows it
    href = f"{context['pathto']('_sources', 1)}/{pagename}.ipynb"
    box = notebook_box(href, context["pathto"]("book/how-to-use"))
    body = context.get("body", "")
    end = body.find("</h1>")
    if end >= 0:  # under the chapter's title
        context["body"] = body[: end + 5] + box + body[end + 5 :]


# -- bibliography labels ----------------------------------------------------------------------


def _register_author_year_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.sorting.author_year_title import SortingStyle

    class AuthorYearLabels(BaseLabelStyle):
        """ "Vaswani et al., 2017", "Kudo and Richardson, 2018", "Shannon, 1948a"."""

        def format_labels(self, sorted_entries):
            labels = [self.label(entry) for entry in sorted_entries]
            for i, label in enumerate(labels):
                same = [j for j, other in enumerate(labels) if other == label]
                yield label + ("abcdefghijklmnopqrstuvwxyz"[same.index(i)] if len(same) > 1 else "")

        @staticmethod
        def label(entry) -> str:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [" ".join(p.prelast_names + p.last_names) for p in people]
            names = [re.sub(r"[{}]", "", n) for n in names]
            if not names:
                who = entry.fields.get("title", entry.key)[:20]
            elif len(names) == 1:
                who = names[0]
            elif len(names) == 2:
                who = f"{names[0]} and {names[1]}"
            else:
                who = f"{names[0]} et al."
            return f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = SortingStyle

    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle, force=True)


def _static_path(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app):
    _register_author_year_style()
    app.connect("config-inited", _static_path)
    app.connect("env-get-updated", _number_per_chapter, priority=900)
    app.connect("html-page-context", _offer_notebook, priority=400)  # before the theme's buttons
    app.add_js_file("search_text.js")
    app.add_css_file("book_pages.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
