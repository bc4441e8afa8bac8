"""The book's own prose as a plain-English corpus.

``book_text()`` reads the chapters (``book/ch*.md``, MyST notebooks that ship with
the repository) and keeps only what a reader reads as text: code cells, fenced
blocks, math, labels, citations and markup are removed, the prose inside
admonitions and figure captions is kept. ``myst_prose`` does the conversion for
one document.
"""

import re
from collections.abc import Sequence
from pathlib import Path

import lmcore

# directives whose body is prose; the body of any other directive (code-cell, math, ...) is dropped
PROSE_DIRECTIVES = frozenset(
    {
        "admonition", "attention", "caution", "danger", "dropdown", "epigraph", "error", "figure",
        "hint", "important", "margin", "note", "seealso", "sidebar", "tip", "warning",
    }
)  # fmt: skip
CITE_ROLES = frozenset({"cite", "cite:p", "cite:t", "citep", "citet", "cite:ps", "cite:ts", "footcite"})

_FENCE = re.compile(r"^(?P<marker>`{3,}|:{3,})\s*(?P<info>.*)$")
_ROLE = re.compile(r"\s?\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<[^<>]*>$")  # "text <target>" in a role
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\([^)]*\)")
_INLINE_MATH = re.compile(r"\$[^$]+\$")
_EMPHASIS = re.compile(r"(\*{1,3})(?=\S)(?P<text>.+?)(?<=\S)\1")
_LABEL = re.compile(r"^\(\s*[\w.:-]+\s*\)=\s*$")
_MATH_LABEL = re.compile(r"\s*\([\w.:-]+\)$")  # "$$ (eq-attention)" closes a labelled equation
_LIST_MARKER = re.compile(r"^(?:[-*+]|\d+[.)])\s+")


def _role_text(match: re.Match) -> str:
    """What a reader sees for a role: nothing for a citation, the text for the rest."""
    role, body = match["role"], match["body"]
    if role in CITE_ROLES:
        return ""
    space = " " if match.group(0)[0].isspace() else ""
    explicit = _EXPLICIT.match(body)
    if explicit and explicit["text"]:
        return space + explicit["text"]
    if role == "numref":
        return space + "the figure"
    if role == "eq":
        return space + "the equation"
    return space + body


def _inline(line: str) -> str:
    line = _ROLE.sub(_role_text, line)
    line = _INLINE_MATH.sub("", line)
    line = _LINK.sub(lambda m: m["text"], line)
    line = _EMPHASIS.sub(lambda m: m["text"], line)
    return line.replace("`", "")


def myst_prose(source: str) -> str:
    """The prose of one MyST document, paragraphs separated by one blank line.

    Removed: YAML front matter, ``+++`` cell breaks, code cells and every fenced block
    that is not a prose directive, directive fence and option lines, display and
    inline math, labels like ``(ch07)=``, citation roles, heading marks, emphasis,
    backticks, table rules and pipes, list markers and HTML comments. Kept: the text
    of ``{doc}``/``{ref}`` roles and of links, and the prose inside admonitions.
    """
    lines = source.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            raise ValueError("the YAML front matter opened by '---' on line 1 is never closed")
        lines = lines[end + 1 :]
    source = re.sub(r"<!--.*?-->", "", "\n".join(lines), flags=re.DOTALL)

    out: list[str] = []  # prose lines, inline markup still in; "" separates paragraphs
    fences: list[str] = []  # markers of the open prose directives
    skip_until: str | None = None  # marker closing the dropped block we are in
    in_math = False
    in_options = False  # directive option lines (":class: ...") follow the fence line
    for raw in source.splitlines():
        line = raw.strip()
        fence = _FENCE.match(line)
        if skip_until is not None:
            if fence and not fence["info"] and fence["marker"][0] == skip_until[0]:
                if len(fence["marker"]) >= len(skip_until):
                    skip_until = None
            continue
        if in_math:
            in_math = not _MATH_LABEL.sub("", line).endswith("$$")
            continue
        if in_options:
            if line.startswith(":") and not line.startswith(":::"):
                continue
            in_options = False
        if fence:
            marker, info = fence["marker"], fence["info"]
            if not info and fences and fences[-1][0] == marker[0] and len(marker) >= len(fences[-1]):
                fences.pop()
                out.append("")
                continue
            name = re.match(r"\{([\w-]+)\}", info)
            if name and name[1] in PROSE_DIRECTIVES:
                fences.append(marker)
                in_options = True
                out.append("")
                if name[1] in ("admonition", "dropdown") and info[name.end() :].strip():
                    out += [info[name.end() :].strip(), ""]  # the admonition's title
                continue
            skip_until = marker
            out.append("")
            continue
        if line.startswith("$$"):
            body = _MATH_LABEL.sub("", line)
            in_math = body == "$$" or not body.endswith("$$")
            out.append("")
            continue
        if line == "+++" or line.startswith("+++ ") or _LABEL.match(line):
            out.append("")
            continue
        if line.startswith("|"):
            if re.fullmatch(r"[|:\-\s]+", line):
                continue
            out += ["", " ".join(c.strip() for c in line.strip("|").split("|")), ""]
            continue
        if line.startswith("#"):
            out += ["", line.lstrip("#").strip(), ""]
            continue
        if _LIST_MARKER.match(line):
            out += ["", _LIST_MARKER.sub("", line)]
            continue
        out.append(line.lstrip("> ").strip())

    paragraphs, current = [], []
    for line in out:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    text = (" ".join(_inline(" ".join(p)).split()) for p in paragraphs)
    return "\n\n".join(t for t in text if t)


def book_dir() -> Path:
    """The book's source folder in the repository clone lmcore is installed from."""
    path = Path(lmcore.__file__).resolve().parents[1] / "book"
    if not path.is_dir():
        raise FileNotFoundError(
            f"the book sources are not at {path}: they ship with the repository clone, not with the "
            "lmcore package; install lmcore from a clone (pip install -e .)"
        )
    return path


def book_text(chapters: Sequence[str] | None = None) -> str:
    """The prose of the given chapters (file stems like "ch07_attention"; default: all, sorted).

    Chapters are separated, like paragraphs, by one blank line.
    """
    folder = book_dir()
    available = sorted(p.stem for p in folder.glob("ch*.md"))
    if isinstance(chapters, str):
        raise TypeError(f"chapters must be a list of names such as [{chapters!r}], not one string")
    if chapters is None:
        chapters = available
    unknown = [c for c in chapters if c not in available]
    if unknown:
        raise ValueError(f"unknown chapters {unknown}; available: {available}")
    texts = (myst_prose((folder / f"{c}.md").read_text(encoding="utf-8")) for c in chapters)
    return "\n\n".join(t for t in texts if t)
