"""The chapter 10 data pipeline, stage by stage, on small crafted inputs, then end to end on the crawl."""

import random
from collections import Counter

import pytest

from lmcore.crawl import CrawlConfig, Page, english_sentence, make_crawl, render_html
from lmcore.pipeline import (
    Document,
    LanguageIdentifier,
    MinHashConfig,
    MinHasher,
    QualityRules,
    deduplicate,
    default_identifier,
    estimate_jaccard,
    extract_text,
    html_to_text,
    jaccard,
    language_filter,
    quality_filter,
    redact,
    redact_pii,
    run_pipeline,
    shingles,
    url_filter,
)


def prose(n_sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(english_sentence(rng) for _ in range(n_sentences))


def doc(text: str, url: str = "https://a.example/x") -> Document:
    return Document(url, text)


# --------------------------------------------------------------------------- crawl


def test_crawl_is_seeded_and_has_every_kind():
    a, b = make_crawl(CrawlConfig(n_pages=120, seed=3)), make_crawl(CrawlConfig(n_pages=120, seed=3))
    assert a == b and len(a) == 120
    assert set(Counter(p.kind for p in a)) >= {"good", "blocked", "foreign", "duplicate", "near_duplicate"}
    assert make_crawl(CrawlConfig(n_pages=120, seed=4)) != a


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_pages": 0},
        {"sentences": (5, 2)},
        {"pii_rate": 1.5},
        {"mix": {"spam": 0.1}},
        {"mix": {"foreign": 1.0}},
    ],
)
def test_crawl_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        CrawlConfig(**kwargs)


# --------------------------------------------------------------------------- 1. URL filter


def test_url_filter_blocks_domains_and_their_subdomains():
    pages = [
        Page("https://good.example/a", "<p>x</p>", "good"),
        Page("https://bad.example/a", "<p>x</p>", "blocked"),
        Page("https://WWW.Bad.example/b", "<p>x</p>", "blocked"),
        Page("https://notbad.example/c", "<p>x</p>", "good"),
    ]
    result = url_filter(pages, blocklist=("bad.example",))
    assert [p.url for p in result.kept] == ["https://good.example/a", "https://notbad.example/c"]
    assert result.removed == {"blocked domain": 2}


def test_url_filter_rejects_relative_urls():
    with pytest.raises(ValueError, match="absolute URL"):
        url_filter([Page("/relative/path", "", "good")])


# --------------------------------------------------------------------------- 2. extraction


def test_extraction_drops_boilerplate_and_keeps_main_text():
    html = render_html("site.example", "Boats", ["First paragraph.", "Second &amp; last."], random.Random(0))
    text = html_to_text(html)
    assert text == "Boats\nFirst paragraph.\nSecond & last."  # the <title> sits in <head>, which is skipped
    for boilerplate in ("track(visitor)", "font-family", "Login", "All rights reserved"):
        assert boilerplate not in text


def test_extraction_removes_pages_without_text():
    pages = [Page("https://a.example/", "<script>x = 1</script><nav>Home</nav>", "good")]
    result = extract_text(pages)
    assert result.kept == [] and result.removed == {"no text": 1}


# --------------------------------------------------------------------------- 3. language ID


def test_language_identifier_on_unseen_sentences():
    identifier = default_identifier()
    assert identifier.predict("The engineer repairs the bridge near the station.")[0] == "en"
    assert identifier.predict("Le pêcheur est dans la maison avec les enfants.")[0] == "fr"
    assert identifier.predict("Der Fischer ist mit dem Kind in der Stadt.")[0] == "de"
    assert identifier.predict("El niño es muy pequeño y la casa es grande.")[0] == "es"
    assert identifier.predict("zxqv kroglu vrkobb tsqhmy jjuxi pthwyz")[0] == "unknown"
    assert identifier.predict("1234 !!! ???") == ("unknown", 0.0)


def test_language_filter_counts_removals_by_language():
    docs = [doc(prose(5)), doc("Le pêcheur est dans la maison avec les enfants et le pain.")]
    result = language_filter(docs, default_identifier())
    assert result.kept == docs[:1] and result.removed == {"fr": 1}
    with pytest.raises(ValueError, match="min_confidence"):
        language_filter(docs, default_identifier(), min_confidence=2)
    with pytest.raises(ValueError, match="two languages"):
        LanguageIdentifier({"en": "hello"})


# --------------------------------------------------------------------------- 4. quality rules


def test_each_quality_rule_fires_on_its_own_kind_of_page():
    good = prose(12)
    docs = {
        "good": good,
        "too short": prose(2),
        "too many symbols": good + " " + "#$%& *+=| ~^<>" * 40,
        "repeated lines": "\n".join([english_sentence(random.Random(1))] * 20),
        "word length": " ".join(["a"] * 60),
    }
    result = quality_filter([doc(t) for t in docs.values()], QualityRules())
    assert [d.text for d in result.kept] == [good]
    assert result.removed == {name: 1 for name in docs if name != "good"}


@pytest.mark.parametrize(
    "kwargs", [{"min_words": 0}, {"max_symbol_ratio": 1.5}, {"mean_word_length": (8.0, 3.0)}]
)
def test_quality_rules_reject_bad_values(kwargs):
    with pytest.raises(ValueError):
        QualityRules(**kwargs)


# --------------------------------------------------------------------------- 5. MinHash


def test_minhash_estimate_is_within_a_bound_of_the_true_jaccard():
    base = prose(30, seed=2).split()
    a = shingles(" ".join(base), 3)
    hasher = MinHasher(num_perm=256, seed=0)
    for cut in (20, 60, 120):
        b = shingles(" ".join(base[cut:] + base[:cut]), 3)  # rotate: changes some shingles
        b |= shingles(prose(cut // 4 + 1, seed=cut), 3)  # add new text: lowers J
        true, estimate = jaccard(a, b), estimate_jaccard(hasher.signature(a), hasher.signature(b))
        # standard deviation sqrt(J(1-J)/256) <= 1/32; four of them is a generous bound
        assert abs(estimate - true) < 4 / 32, (cut, true, estimate)
    assert estimate_jaccard(hasher.signature(a), hasher.signature(a)) == 1.0


def test_dedup_removes_exact_and_near_duplicates_and_keeps_distinct_pages():
    original = prose(20, seed=5)
    words = original.split()
    words[40] = "lighthouse"  # one word changed: still a near-duplicate
    near = " ".join(words)
    distinct = prose(20, seed=6)
    result = deduplicate([doc(original), doc(near), doc(distinct), doc(original)], MinHashConfig())
    assert [d.text for d in result.kept] == [original, distinct]
    assert result.removed == {"near duplicate": 1, "exact duplicate": 1}


@pytest.mark.parametrize("kwargs", [{"num_perm": 60, "bands": 16}, {"threshold": 0.0}, {"shingle_size": 0}])
def test_minhash_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        MinHashConfig(**kwargs)


def test_minhash_errors():
    with pytest.raises(ValueError, match="empty set"):
        MinHasher(8).signature(set())
    with pytest.raises(ValueError, match="differ in length"):
        estimate_jaccard([1, 2], [1])


# --------------------------------------------------------------------------- 6. PII


def test_pii_is_fully_redacted_and_counted():
    text = (
        "Mail bob.smith+news@mail.example.org or ann@uni.example.ac.uk, call +1 555-123-4567 or "
        "(555) 987 6543 or 555.222.3333; the server 192.168.0.17 and 10.0.0.255 answered. "
        "Version 1.2.3 and the year 2024 are not PII."
    )
    clean, counts = redact(text)
    assert counts == {"email": 2, "phone": 3, "ipv4": 2}
    for secret in ("bob.smith", "ann@", "555", "4567", "192.168", "10.0.0"):
        assert secret not in clean
    assert "Version 1.2.3 and the year 2024 are not PII." in clean
    result = redact_pii([doc(text), doc("nothing here")])
    assert len(result.kept) == 2 and result.removed == counts


# --------------------------------------------------------------------------- end to end


def test_pipeline_on_the_crawl_keeps_mostly_good_pages():
    pages = make_crawl(CrawlConfig(n_pages=150, seed=1))
    kinds = {p.url: p.kind for p in pages}
    documents, reports = run_pipeline(pages)
    assert [r.name for r in reports][0] == "URL filter" and reports[-1].n_out == len(documents)
    for before, after in zip(reports, reports[1:], strict=False):
        assert before.n_out == after.n_in
    for r in reports[:-1]:  # every stage but PII redaction removes exactly what it reports
        assert r.n_in - r.n_out == sum(r.removed.values())
    survivors = Counter(kinds[d.url] for d in documents)
    assert set(survivors) <= {"good", "duplicate", "near_duplicate"}
    assert survivors["good"] >= 0.8 * Counter(kinds.values())["good"]
    assert not any("@" in d.text for d in documents)
    with pytest.raises(ValueError, match="Page"):
        run_pipeline(["<html></html>"])
