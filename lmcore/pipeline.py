"""A pretraining data pipeline in six stages, FineWeb-style, small enough to read in one sitting.

    pages (url, html)
      -> url_filter        drop pages whose domain is on a blocklist
      -> extract_text      HTML -> main text, without scripts, styles, navigation, footers
      -> language_filter   keep the target language (a character-trigram classifier)
      -> quality_filter    Gopher-like rules: length, symbols, repeated lines, word length
      -> deduplicate       MinHash signatures + LSH bands: drop near-duplicates of kept pages
      -> redact_pii        replace emails, phone numbers and IPv4 addresses by placeholders

Every stage returns a ``StageResult``: the items it kept and a count of what it
removed, by reason. ``run_pipeline`` chains them and reports each stage.
"""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from lmcore.crawl import BLOCKED_DOMAINS, Page, language_samples
from lmcore.validation import positive, positive_int, probability


@dataclass(frozen=True)
class Document:
    url: str
    text: str


@dataclass
class StageResult:
    kept: list  # what passes on to the next stage (Pages, then Documents)
    removed: Counter  # reason -> how many items were dropped (for redact_pii: how many spans replaced)


# --------------------------------------------------------------------------- 1. URL filter


def domain_of(url: str) -> str:
    """The lower-cased host name of an absolute URL, e.g. "https://A.b.example/x" -> "a.b.example"."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL with a host: {url!r}")
    return host


def url_filter(pages: list[Page], blocklist: Iterable[str] = BLOCKED_DOMAINS) -> StageResult:
    """Drop pages whose domain, or any parent domain, is on ``blocklist``."""
    blocked = {d.lower() for d in blocklist}
    kept, removed = [], Counter()
    for page in pages:
        parts = domain_of(page.url).split(".")
        if any(".".join(parts[i:]) in blocked for i in range(len(parts))):
            removed["blocked domain"] += 1
        else:
            kept.append(page)
    return StageResult(kept, removed)


# --------------------------------------------------------------------------- 2. text extraction

SKIPPED_TAGS = {"script", "style", "nav", "header", "footer", "head", "noscript", "aside", "form"}
BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "li", "br", "tr", "section", "article", "main", "title"}


class _TextExtractor(HTMLParser):
    """Collects text outside SKIPPED_TAGS; block-level tags start a new line."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0  # > 0 while inside a skipped element
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag in BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Main text of ``html``: one line per block element, whitespace collapsed, empty lines dropped."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).split("\n"))
    return "\n".join(line for line in lines if line)


def extract_text(pages: list[Page]) -> StageResult:
    """Pages -> Documents (url, main text); pages with no text left are dropped."""
    kept, removed = [], Counter()
    for page in pages:
        text = html_to_text(page.html)
        if text:
            kept.append(Document(page.url, text))
        else:
            removed["no text"] += 1
    return StageResult(kept, removed)


# --------------------------------------------------------------------------- 3. language identification


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Character n-grams of each lower-cased word padded with spaces: "the" -> " th", "the", "he "."""
    grams = []
    for word in re.findall(r"[^\W\d_]+", text.lower()):
        padded = f" {word} "
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class LanguageIdentifier:
    """A naive Bayes classifier over character trigrams, trained on a little text per language.

    ``predict`` returns the most likely language and its posterior probability
    (uniform prior, add-``alpha`` smoothing). Text that fits no language well (a
    mean log-probability per trigram below ``min_log_prob`` under the best one)
    is labelled "unknown".
    """

    def __init__(self, samples: dict[str, str], n: int = 3, alpha: float = 0.5, min_log_prob: float = -7.0):
        if len(samples) < 2:
            raise ValueError(f"need training text for at least two languages, got {sorted(samples)}")
        alpha = positive("alpha", alpha, hint="add-alpha smoothing adds alpha to every n-gram count")
        self.n, self.min_log_prob = n, min_log_prob
        self.log_probs: dict[str, dict[str, float]] = {}
        self.unseen: dict[str, float] = {}  # log-probability of a trigram never seen in training
        vocab = {g for text in samples.values() for g in char_ngrams(text, n)}
        for lang, text in samples.items():
            counts = Counter(char_ngrams(text, n))
            if not counts:
                raise ValueError(f"the training text for {lang!r} has no letters")
            total = sum(counts.values()) + alpha * (len(vocab) + 1)
            self.log_probs[lang] = {g: math.log((c + alpha) / total) for g, c in counts.items()}
            self.unseen[lang] = math.log(alpha / total)

    def log_likelihoods(self, text: str) -> dict[str, float]:
        """Sum of trigram log-probabilities of ``text`` under each language."""
        grams = char_ngrams(text, self.n)
        return {
            lang: sum(table.get(g, self.unseen[lang]) for g in grams)
            for lang, table in self.log_probs.items()
        }

    def predict(self, text: str) -> tuple[str, float]:
        """(language or "unknown", posterior probability of the best language)."""
        n_grams = len(char_ngrams(text, self.n))
        if n_grams == 0:
            return "unknown", 0.0
        scores = self.log_likelihoods(text)
        best = max(scores, key=scores.get)
        top = scores[best]
        posterior = 1.0 / sum(math.exp(s - top) for s in scores.values())  # softmax, stable
        if top / n_grams < self.min_log_prob:
            return "unknown", posterior
        return best, posterior


def default_identifier() -> LanguageIdentifier:
    """A LanguageIdentifier trained on the crawl generator's own word lists (seed 12345)."""
    return LanguageIdentifier(language_samples(seed=12345))


def language_filter(
    docs: list[Document], identifier: LanguageIdentifier, language: str = "en", min_confidence: float = 0.65
) -> StageResult:
    """Keep documents identified as ``language`` with probability >= min_confidence (FineWeb: 0.65)."""
    probability("min_confidence", min_confidence)
    kept, removed = [], Counter()
    for doc in docs:
        lang, confidence = identifier.predict(doc.text)
        if lang == language and confidence >= min_confidence:
            kept.append(doc)
        else:
            removed[lang if lang != language else "low confidence"] += 1
    return StageResult(kept, removed)


# --------------------------------------------------------------------------- 4. quality rules


@dataclass(frozen=True)
class QualityRules:
    min_words: int = 50  # shorter documents carry too little text to learn from
    max_symbol_ratio: float = 0.1  # characters that are neither letters, digits, spaces nor . , ' -
    max_duplicate_line_ratio: float = 0.3  # share of lines that repeat an earlier line
    mean_word_length: tuple[float, float] = (3.0, 10.0)  # Gopher's range for natural prose

    def __post_init__(self):
        positive_int("min_words", self.min_words)
        for name in ("max_symbol_ratio", "max_duplicate_line_ratio"):
            probability(name, getattr(self, name))
        lo, hi = self.mean_word_length
        if not 0 <= lo <= hi:
            raise ValueError(f"mean_word_length must be a range (lo, hi) with 0 <= lo <= hi, got {(lo, hi)}")


def quality_problem(text: str, rules: QualityRules) -> str | None:
    """The first rule that ``text`` breaks, by name, or None if it passes them all."""
    words = text.split()
    if len(words) < rules.min_words:
        return "too short"
    symbols = sum(not (c.isalnum() or c.isspace() or c in ".,'-") for c in text)
    if symbols / len(text) > rules.max_symbol_ratio:
        return "too many symbols"
    lines = text.split("\n")
    if (len(lines) - len(set(lines))) / len(lines) > rules.max_duplicate_line_ratio:
        return "repeated lines"
    mean_length = sum(map(len, words)) / len(words)
    if not rules.mean_word_length[0] <= mean_length <= rules.mean_word_length[1]:
        return "word length"
    return None


def quality_filter(docs: list[Document], rules: QualityRules | None = None) -> StageResult:
    """Drop documents that break a quality rule; ``removed`` counts them by the first rule broken."""
    rules = rules or QualityRules()
    kept, removed = [], Counter()
    for doc in docs:
        problem = quality_problem(doc.text, rules)
        if problem:
            removed[problem] += 1
        else:
            kept.append(doc)
    return StageResult(kept, removed)


# --------------------------------------------------------------------------- 5. MinHash deduplication

MERSENNE_PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class MinHashConfig:
    shingle_size: int = 5  # words per shingle
    num_perm: int = 64  # hash functions = signature length
    bands: int = 16  # LSH bands; num_perm must be a multiple of bands
    threshold: float = 0.7  # estimated Jaccard at or above which a document is a near-duplicate
    seed: int = 0

    def __post_init__(self):
        for name in ("shingle_size", "num_perm", "bands"):
            positive_int(name, getattr(self, name))
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        probability("threshold", self.threshold, open_low=True)


def shingles(text: str, size: int = 5) -> set[str]:
    """The set of ``size``-word windows of the lower-cased text (one shingle if it is shorter)."""
    words = text.lower().split()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|; 1.0 for two empty sets."""
    return len(a & b) / len(a | b) if a or b else 1.0


class MinHasher:
    """num_perm hash functions h_i(x) = (a_i * H(x) + b_i) mod p, with H a 64-bit BLAKE2b hash.

    For a set S, signature[i] = min over x in S of h_i(x). Two sets agree at
    position i with probability (almost exactly) their Jaccard similarity.
    """

    def __init__(self, num_perm: int = 64, seed: int = 0):
        positive_int("num_perm", num_perm)
        self.params = [
            (
                1 + self._hash(f"a{seed}:{i}") % (MERSENNE_PRIME - 1),
                self._hash(f"b{seed}:{i}") % MERSENNE_PRIME,
            )
            for i in range(num_perm)
        ]

    @staticmethod
    def _hash(item: str) -> int:
        return int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "little")

    def signature(self, items: set[str]) -> list[int]:
        if not items:
            raise ValueError("cannot MinHash an empty set")
        base = [self._hash(x) for x in items]
        return [min((a * h + b) % MERSENNE_PRIME for h in base) for a, b in self.params]


def estimate_jaccard(sig_a: list[int], sig_b: list[int]) -> float:
    """Share of positions where two signatures agree: an unbiased estimate of the Jaccard similarity."""
    if len(sig_a) != len(sig_b):
        raise ValueError(f"signatures differ in length: {len(sig_a)} vs {len(sig_b)}")
    return sum(x == y for x, y in zip(sig_a, sig_b, strict=True)) / len(sig_a)


def deduplicate(docs: list[Document], config: MinHashConfig | None = None) -> StageResult:
    """Keep the first of every group of near-duplicates, in order.

    Each signature is cut into ``bands`` bands; documents that share a whole
    band are candidates, and a candidate whose estimated Jaccard similarity
    with an already kept document reaches ``threshold`` is dropped ("exact
    duplicate" if its text is identical, else "near duplicate").
    """
    config = config or MinHashConfig()
    hasher = MinHasher(config.num_perm, config.seed)
    rows = config.num_perm // config.bands
    buckets: dict[tuple, list[int]] = {}  # (band, its values) -> indices into kept
    kept, signatures, removed = [], [], Counter()
    for doc in docs:
        sig = hasher.signature(shingles(doc.text, config.shingle_size))
        keys = [(b, tuple(sig[b * rows : (b + 1) * rows])) for b in range(config.bands)]
        candidates = {j for key in keys for j in buckets.get(key, [])}
        match = next(
            (j for j in sorted(candidates) if estimate_jaccard(sig, signatures[j]) >= config.threshold), None
        )
        if match is not None:
            removed["exact duplicate" if kept[match].text == doc.text else "near duplicate"] += 1
            continue
        for key in keys:
            buckets.setdefault(key, []).append(len(kept))
        kept.append(doc)
        signatures.append(sig)
    return StageResult(kept, removed)


# --------------------------------------------------------------------------- 6. PII redaction

PII_PATTERNS = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "phone": re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}\b"),
    "ipv4": re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
}
PII_PLACEHOLDERS = {"email": "<EMAIL>", "phone": "<PHONE>", "ipv4": "<IP>"}


def redact(text: str) -> tuple[str, Counter]:
    """``text`` with every email, phone number and IPv4 address replaced; and how many of each."""
    counts = Counter()
    for kind, pattern in PII_PATTERNS.items():
        text, n = pattern.subn(PII_PLACEHOLDERS[kind], text)
        counts[kind] += n
    return text, counts


def redact_pii(docs: list[Document]) -> StageResult:
    """Keep every document, with its PII replaced; ``removed`` counts the replaced spans by kind."""
    kept, removed = [], Counter()
    for doc in docs:
        text, counts = redact(doc.text)
        kept.append(Document(doc.url, text))
        removed.update(counts)
    return StageResult(kept, +removed)  # unary + drops kinds with a zero count


# --------------------------------------------------------------------------- the whole pipeline


@dataclass(frozen=True)
class StageReport:
    name: str
    n_in: int
    n_out: int
    removed: dict[str, int]


@dataclass(frozen=True)
class PipelineConfig:
    blocklist: tuple[str, ...] = BLOCKED_DOMAINS
    language: str = "en"
    min_language_confidence: float = 0.65
    quality: QualityRules = field(default_factory=QualityRules)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)


def run_pipeline(
    pages: list[Page], config: PipelineConfig | None = None, identifier: LanguageIdentifier | None = None
) -> tuple[list[Document], list[StageReport]]:
    """Run the six stages in order -> (clean documents, one StageReport per stage)."""
    if not all(isinstance(p, Page) for p in pages):
        raise ValueError("pages must be a list of lmcore.crawl.Page (url, html, kind)")
    config = config or PipelineConfig()
    identifier = identifier or default_identifier()
    stages = [
        ("URL filter", lambda xs: url_filter(xs, config.blocklist)),
        ("text extraction", extract_text),
        (
            "language ID",
            lambda xs: language_filter(xs, identifier, config.language, config.min_language_confidence),
        ),
        ("quality rules", lambda xs: quality_filter(xs, config.quality)),
        ("MinHash dedup", lambda xs: deduplicate(xs, config.minhash)),
        ("PII redaction", redact_pii),
    ]
    items, reports = list(pages), []
    for name, stage in stages:
        result = stage(items)
        reports.append(StageReport(name, len(items), len(result.kept), dict(result.removed)))
        items = result.kept
    return items, reports
