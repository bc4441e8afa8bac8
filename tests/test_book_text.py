"""The book is written in US spelling: no chapter may use a UK form (colour, normalise, modelling...).

A fast check with no build: it reads every book/*.md and lists file:line for each UK form.
Proper names and quoted titles that must keep a UK spelling go in ALLOWED.
"""

import re
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"

# -ise stems whose -ize form is the US spelling. Only verb endings follow them, so optimism,
# realistic, organism, specialist, characteristic and the like (US words too) never match.
_ISE_STEMS = (
    "normalis|optimis|tokenis|initialis|generalis|summaris|recognis|organis|realis|minimis|maximis"
    "|standardis|parameteris|parametris|categoris|characteris|visualis|specialis|utilis|memoris"
    "|regularis|vectoris|randomis|serialis|discretis|quantis|prioritis|finalis|stabilis|amortis"
    "|capitalis|criticis|harmonis|localis|personalis|symbolis|synchronis|theoris|authoris|customis"
    "|familiaris|linearis|centralis|neutralis|penalis|apologis|emphasis|hypothesis|synthesis|practis"
)
# -yse verbs: "analyses" and "paralyses" are also US plurals of nouns, so no -es ending here.
_YSE_STEMS = "analys|paralys|catalys"
_OUR_STEMS = (
    "colour|behaviour|favour|honour|labour|neighbour|rumour|humour|flavour|harbour|vapour|odour"
    "|endeavour|rigour|tumour|armour|vigour|candour|fervour|splendour|valour|saviour"
)
_UK_FORMS = [
    rf"(?:{_ISE_STEMS})(?:e|es|ed|ing|er|ers|ation|ations|able)",
    rf"(?:{_YSE_STEMS})(?:e|ed|ing|er|ers)",
    rf"(?:{_OUR_STEMS})(?:s|ed|ing|ful|less|al|ally|able|ably|ite|ites|er|ers|hood|hoods)?",
    r"(?:cent|met|lit|fib|theat|calib|somb|spect|lust|meag|sab)(?:re|res|red)|centring",
    r"(?:centi|milli|kilo)metres?",
    r"(?:model|label|travel|signal|tunnel|fuel|level|channel|total|equal|counsel)l(?:ed|ing|er|ers|or|ors)",
    r"benefitt(?:ed|ing)|focuss(?:ed|es|ing)",
    r"catalogues?|catalogued|programmes?|licences?|defences?|offences?|pretences?",
    r"judgements?|acknowledgements?|ageing|artefacts?|sceptic(?:s|al|ally|ism)?",
    r"fulfil|fulfils|fulfilment|skilful|skilfully|wilful|enrol|enrols|enrolment|instalments?",
    r"manoeuvr\w*|encyclopaedias?|aluminium|cheques?|tyres?|storeys?|ploughs?",
    r"learnt|spelt|whilst|maths|per\s+cent",
]
UK = re.compile(r"\b(?:" + "|".join(_UK_FORMS) + r")\b", re.IGNORECASE)
# Checked in prose only: matplotlib's color names ("grey", cmap="Greys") are code, not spelling.
UK_PROSE_ONLY = re.compile(r"\bgreys?\b", re.IGNORECASE)
INLINE_CODE = re.compile(r"`[^`\n]*`")

# (file name, exact phrase) pairs that keep a UK spelling: proper names and quoted titles.
ALLOWED: set[tuple[str, str]] = set()


def uk_spellings(text: str) -> list[tuple[int, str]]:
    """(line number, word) for every UK form in a MyST chapter.

    Everything is checked, code cells included (their comments, strings and output are read
    too); the prose-only forms are skipped inside code cells, other code fences and inline code.
    A code cell's metadata header (its figure caption) counts as prose.
    """
    found = []
    fence = None  # the backticks that opened the code block we are in
    just_opened = header = False  # header: inside a code cell's '---' metadata block
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        in_code = False
        if fence is None:
            opening = re.match(r"(`{3,})\s*(\S*)", stripped)
            if opening and (
                opening.group(2).startswith("{code-cell}") or not opening.group(2).startswith("{")
            ):
                fence, just_opened = opening.group(1), True  # a code cell or a plain code block
        elif stripped == fence:
            fence = None
        elif (just_opened or header) and stripped == "---":
            header, just_opened = not header, False
        elif not header:
            in_code, just_opened = True, False
        found += [(number, m.start(), m.group()) for m in UK.finditer(line)]
        if not in_code:
            prose = INLINE_CODE.sub(lambda m: " " * len(m.group()), line)  # keeps the columns
            found += [(number, m.start(), m.group()) for m in UK_PROSE_ONLY.finditer(prose)]
    return [(number, word) for number, _, word in sorted(found)]


def test_uk_form_is_flagged():
    sample = (
        "We normalise the colour of each neighbour, favour modelling behaviour that is labelled,\n"
        "analyse the centre of the catalogue, and optimise the tokeniser's initialisation.\n"
        "A grey programme needs a licence; in my judgement it is summarised and recognised.\n"
    )
    words = [w.lower() for _, w in uk_spellings(sample)]
    assert words == [
        "normalise", "colour", "neighbour", "favour", "modelling", "behaviour", "labelled",
        "analyse", "centre", "catalogue", "optimise", "tokeniser", "initialisation",
        "grey", "programme", "licence", "judgement", "summarised", "recognised",
    ]  # fmt: skip
    assert [n for n, _ in uk_spellings(sample)] == [1] * 7 + [2] * 6 + [3] * 6


def test_us_text_passes():
    sample = (
        "We normalize the color of each neighbor, favor modeling behavior that is labeled,\n"
        "analyze the center of the catalog, and optimize the tokenizer's initialization.\n"
        "Her analyses and emphasis on synthesis, hypotheses and paralysis show realism, optimism,\n"
        "organisms, specialists and characteristic noise; we advise, revise, promise, surprise,\n"
        "exercise and raise a license to program, a centered, gray, parametrized modeler.\n"
    )
    assert uk_spellings(sample) == []


def test_code_names_pass():
    sample = (
        "```{code-cell} ipython3\n"
        "ax.imshow(table, cmap='Greys', color='grey')  # matplotlib's names\n"
        "normalise_rows = initialised_weights = 1  # snake_case identifiers are not words\n"
        "```\n"
        "The map uses `cmap='Greys'`.\n"
    )
    assert uk_spellings(sample) == []


def test_caption_in_cell_header_is_prose():
    sample = "```{code-cell} ipython3\n---\nmystnb:\n  caption: grey bars\n---\nx = 'grey'\n```\n"
    assert uk_spellings(sample) == [(4, "grey")]


def test_book_uses_us_spelling():
    problems = []
    for path in sorted(BOOK.glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, word in uk_spellings("\n".join(lines)):
            if not any(name == path.name and phrase in lines[number - 1] for name, phrase in ALLOWED):
                problems.append(f"{path.relative_to(BOOK.parent)}:{number}: {word!r}")
    assert not problems, "UK spellings (the book uses US spelling):\n" + "\n".join(problems)
