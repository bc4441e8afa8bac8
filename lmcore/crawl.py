"""A seeded synthetic web crawl: the raw material of the chapter 10 data pipeline.

Every page is HTML with boilerplate (a script, a style sheet, a navigation bar
and a footer) around its main text. The generator mixes in the kinds of page a
real crawl is full of, and labels each one with the ``kind`` that made it:

    good            English prose from a small template grammar (some with an email,
                    a phone number or an IP address in it)
    blocked         a page on a domain of BLOCKED_DOMAINS
    foreign         French, German or Spanish text
    gibberish       random syllables that belong to no language
    short           a line or two
    repetitive      the same line over and over
    symbols         mostly punctuation and digits
    duplicate       an exact copy of an earlier good page, at another URL
    near_duplicate  an earlier good page with a few words changed, at another URL

The labels are for checking a pipeline; a pipeline must not read them.
"""

import random
from dataclasses import dataclass, field

from lmcore.validation import one_of, positive_int, probability, real

BLOCKED_DOMAINS = ("casino-jackpot.example", "free-pills.example", "spam-links.example")

# Small hand-written word lists. The English ones feed a template grammar; the others are
# sampled as bags of words, enough to tell the languages apart by their letters.
SUBJECTS = (
    "the farmer", "a child", "my neighbour", "the old teacher", "a young doctor", "the baker",
    "our captain", "the river", "a small dog", "the city council", "her brother", "the engineer",
)  # fmt: skip
VERBS = (
    "watches", "builds", "carries", "finds", "paints", "repairs", "visits", "describes",
    "remembers", "follows", "opens", "cleans",
)  # fmt: skip
OBJECTS = (
    "the bridge", "a red boat", "the garden", "an empty house", "the market", "a heavy box",
    "the library", "a quiet street", "the north road", "a wooden table", "the school", "the harbour",
)  # fmt: skip
ADVERBIALS = (
    "in the morning", "after the storm", "near the station", "before dinner", "every winter",
    "with great care", "on sunday", "without a word", "at the end of the day", "for the first time",
)  # fmt: skip
TOPICS = ("Gardening", "Local news", "Travel notes", "Boats", "Our town", "History", "Cooking", "Weather")

FOREIGN_WORDS = {
    "fr": (
        "le la les un une des et est dans pour avec sur pas que qui nous vous ils elle maison "
        "jardin rivière ville enfant pain matin soir toujours beaucoup très petit grand nouveau "
        "chemin école marché pêcheur boulangerie aujourd'hui"
    ).split(),
    "de": (
        "der die das ein eine und ist nicht mit auf für von zu wir sie ich haus garten fluss "
        "stadt kind brot morgen abend immer sehr klein groß neu weg schule markt fischer "
        "bäckerei heute straße zwischen"
    ).split(),
    "es": (
        "el la los las un una y es en para con por que no nosotros ellos ella casa jardín río "
        "ciudad niño pan mañana noche siempre mucho muy pequeño grande nuevo camino escuela "
        "mercado pescador panadería hoy"
    ).split(),
}
SYLLABLES = ("zx", "qv", "kro", "pth", "wyz", "glu", "xi", "vrk", "obb", "jju", "tsq", "hmy")
NAMES = ("alice", "bruno", "chen", "dana", "emeka", "fatima", "goran", "hana")
KINDS = (
    "good", "blocked", "foreign", "gibberish", "short", "repetitive", "symbols", "duplicate",
    "near_duplicate",
)  # fmt: skip


@dataclass(frozen=True)
class Page:
    url: str
    html: str
    kind: str  # the generator's label, one of KINDS


@dataclass(frozen=True)
class CrawlConfig:
    n_pages: int = 300
    seed: int = 0
    sentences: tuple[int, int] = (12, 24)  # sentences per good page, inclusive range
    pii_rate: float = 0.3  # share of good pages that mention an email, a phone number or an IP
    # share of each kind of page; "good" gets whatever the others leave
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "blocked": 0.07,
            "foreign": 0.15,
            "gibberish": 0.04,
            "short": 0.05,
            "repetitive": 0.05,
            "symbols": 0.04,
            "duplicate": 0.06,
            "near_duplicate": 0.08,
        }
    )

    def __post_init__(self):
        positive_int("n_pages", self.n_pages)
        lo, hi = self.sentences
        if not 1 <= lo <= hi:
            raise ValueError(f"sentences must be a range (lo, hi) with 1 <= lo <= hi, got {self.sentences}")
        probability("pii_rate", self.pii_rate)
        for kind, share in self.mix.items():
            one_of("a kind in mix", kind, KINDS[1:])  # "good" gets the rest
            real(f"mix[{kind!r}]", share, low=0.0)
        if sum(self.mix.values()) >= 1:
            raise ValueError(f"mix shares must sum to less than 1 (room for good pages), got {self.mix}")


def english_sentence(rng: random.Random) -> str:
    """One sentence of the template grammar: subject, verb, object, adverbial."""
    words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}"
    return words[0].upper() + words[1:] + "."


def foreign_sentence(rng: random.Random, lang: str) -> str:
    words = rng.choices(FOREIGN_WORDS[lang], k=rng.randint(6, 12))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def gibberish_sentence(rng: random.Random) -> str:
    words = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(rng.randint(6, 12))]
    return " ".join(words) + "."


def pii_sentence(rng: random.Random) -> str:
    """A sentence with one email address, phone number or IPv4 address in it."""
    name = rng.choice(NAMES)
    choice = rng.randrange(3)
    if choice == 0:
        return f"Write to {name} at {name}.{rng.randint(1, 99)}@mail.example.org for details."
    if choice == 1:
        return f"Call {name} on +1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)} after six."
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return f"The booking server at {ip} was down for an hour."


def language_samples(seed: int = 0, sentences: int = 200) -> dict[str, str]:
    """Text in each language of the crawl ("en", "fr", "de", "es"), for training a language identifier."""
    rng = random.Random(seed)
    samples = {"en": " ".join(english_sentence(rng) for _ in range(sentences))}
    for lang in FOREIGN_WORDS:
        samples[lang] = " ".join(foreign_sentence(rng, lang) for _ in range(sentences))
    return samples


def render_html(domain: str, title: str, paragraphs: list[str], rng: random.Random) -> str:
    """Wrap paragraphs in a page with the usual boilerplate around them."""
    nav = " | ".join(f'<a href="/{p.lower()}">{p}</a>' for p in ("Home", "About", "Contact", "Login"))
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title} - {domain}</title>\n"
        f"<script>var visitor = {rng.randint(1000, 9999)}; track(visitor);</script>\n"
        "<style>body { font-family: sans-serif; } p { margin: 1em; }</style></head>\n"
        f"<body><nav>{nav}</nav>\n<main><h1>{title}</h1>\n{body}\n</main>\n"
        f"<footer>Copyright 2024 {domain}. All rights reserved. Cookie settings.</footer></body></html>"
    )


def _good_paragraphs(rng: random.Random, config: CrawlConfig) -> list[str]:
    sentences = [english_sentence(rng) for _ in range(rng.randint(*config.sentences))]
    if rng.random() < config.pii_rate:
        sentences.insert(rng.randrange(len(sentences) + 1), pii_sentence(rng))
    return [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]


def _mutate(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Swap about one word in fifty for another English word: a near-duplicate."""
    vocabulary = [w for phrase in SUBJECTS + OBJECTS for w in phrase.split()]
    out = []
    for p in paragraphs:
        words = p.split()
        for i in range(len(words)):
            if rng.random() < 0.02:
                words[i] = rng.choice(vocabulary)
        out.append(" ".join(words))
    return out


def make_crawl(config: CrawlConfig | None = None) -> list[Page]:
    """``config.n_pages`` pages in a seeded random order; the same config gives the same crawl."""
    config = config or CrawlConfig()
    rng = random.Random(config.seed)
    counts = {kind: round(share * config.n_pages) for kind, share in config.mix.items()}
    counts["good"] = config.n_pages - sum(counts.values())
    if counts["good"] < 1:
        raise ValueError(
            f"n_pages={config.n_pages} leaves no good page after the mix {counts}; raise n_pages"
        )
    pages: list[Page] = []
    originals: list[tuple[str, list[str]]] = []  # (title, paragraphs) of good pages, for copies

    def add(kind: str, title: str, paragraphs: list[str], domain: str | None = None) -> None:
        domain = domain or f"site{rng.randint(1, 999)}.example"
        url = f"https://{domain}/{title.lower().replace(' ', '-')}-{len(pages)}.html"
        pages.append(Page(url, render_html(domain, title, paragraphs, rng), kind))

    for _ in range(counts["good"]):
        title, paragraphs = rng.choice(TOPICS), _good_paragraphs(rng, config)
        originals.append((title, paragraphs))
        add("good", title, paragraphs)
    for _ in range(counts.get("blocked", 0)):
        add("blocked", "Win big", _good_paragraphs(rng, config), domain=rng.choice(BLOCKED_DOMAINS))
    for _ in range(counts.get("foreign", 0)):
        lang = rng.choice(sorted(FOREIGN_WORDS))
        add(
            "foreign",
            lang.upper(),
            [" ".join(foreign_sentence(rng, lang) for _ in range(4)) for _ in range(4)],
        )
    for _ in range(counts.get("gibberish", 0)):
        add("gibberish", "Zxq", [" ".join(gibberish_sentence(rng) for _ in range(4)) for _ in range(4)])
    for _ in range(counts.get("short", 0)):
        add("short", "Hello", [english_sentence(rng)])
    for _ in range(counts.get("repetitive", 0)):
        line = english_sentence(rng)
        add("repetitive", "Offers", [line] * rng.randint(15, 30))
    for _ in range(counts.get("symbols", 0)):
        junk = "".join(rng.choices("#$%&*+=<>|~^0123456789 ", k=1200))
        add("symbols", "Data", [junk.replace("<", "&lt;").replace(">", "&gt;"), english_sentence(rng)])
    for kind in ("duplicate", "near_duplicate"):
        for _ in range(counts.get(kind, 0)):
            title, paragraphs = rng.choice(originals)
            add(kind, title, paragraphs if kind == "duplicate" else _mutate(paragraphs, rng))
    rng.shuffle(pages)
    return pages
