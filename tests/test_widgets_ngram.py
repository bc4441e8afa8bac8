"""lmcore.widgets.ngram: the smoothing explorer, driven without a display and checked against lmcore.ngram."""

import math

import pytest

from lmcore.ngram import UNK, AddK, Backoff, Interpolated, KneserNey
from lmcore.widgets.ngram import METHODS, SmoothingExplorer, build_model, context_total, default_contexts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CORPUS = [
    "students opened their books".split(),
    "students opened their laptops".split(),
    "teachers opened their books".split(),
    "students read books".split(),
    "teachers read their notes".split(),
]


def caption_percentages(explorer) -> list[str]:
    """The two bold numbers of the caption: mass shown, mass on unseen words."""
    parts = explorer.caption.value.split("<b>")[1:]
    return [p.split("</b>")[0] for p in parts]


def test_explorer_shows_the_kneser_ney_distribution_by_default():
    explorer = SmoothingExplorer(CORPUS, n=3, contexts=["opened their", "closed their"], top=4)
    assert explorer.method.value == "Kneser-Ney"
    expected = KneserNey(3, discount=0.75).fit(CORPUS).distribution(("opened", "their"))
    assert explorer.dist == pytest.approx(expected, abs=1e-15)
    ranked = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:4]
    assert explorer.shown == ranked  # the same computation: equal to the bit
    assert explorer.shown[0][0] == "books"
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
    # c(opened their w) > 0 only for books and laptops: everything else is unseen mass
    unseen = math.fsum(p for w, p in expected.items() if w not in ("books", "laptops"))
    assert explorer.unseen_mass == pytest.approx(unseen)
    assert caption_percentages(explorer) == [f"{explorer.shown_mass:.1%}", f"{unseen:.1%}"]


def test_every_control_changes_the_numbers_and_matches_lmcore_ngram():
    explorer = SmoothingExplorer(CORPUS, n=2, contexts=[("their",), ("zebra",)])
    seen_captions = {explorer.caption.value}

    explorer.method.value = "add-k"
    explorer.k.value = 0.1
    assert explorer.dist == pytest.approx(AddK(2, k=0.1).fit(CORPUS).distribution(("their",)))
    first_png = explorer.image.value
    explorer.k.value = 10.0
    assert explorer.dist == pytest.approx(AddK(2, k=10.0).fit(CORPUS).distribution(("their",)))
    assert explorer.image.value != first_png
    seen_captions.add(explorer.caption.value)

    explorer.method.value = "interpolation"
    explorer.lam.value = 0.4
    assert explorer.dist == pytest.approx(Interpolated(2, (0.4, 0.4)).fit(CORPUS).distribution(("their",)))
    seen_captions.add(explorer.caption.value)

    explorer.method.value = "backoff"
    explorer.d.value = 0.3
    assert explorer.dist == pytest.approx(Backoff(2, discount=0.3).fit(CORPUS).distribution(("their",)))
    seen_captions.add(explorer.caption.value)

    explorer.context.value = ("zebra",)  # an unknown word: the context is mapped to <unk>
    assert explorer.dist == pytest.approx(Backoff(2, discount=0.3).fit(CORPUS).distribution((UNK,)))
    assert explorer.unseen_mass == pytest.approx(1.0)
    seen_captions.add(explorer.caption.value)
    assert len(seen_captions) == 5


def test_only_the_slider_of_the_chosen_method_is_shown():
    explorer = SmoothingExplorer(CORPUS, n=2)
    for method, shown in [("add-k", "k"), ("interpolation", "lam"), ("backoff", "d"), ("MLE", None)]:
        explorer.method.value = method
        for name in ("k", "lam", "d"):
            assert (getattr(explorer, name).layout.display != "none") == (name == shown), (method, name)


def test_more_discount_moves_more_mass_to_unseen_words():
    explorer = SmoothingExplorer(CORPUS, n=3, contexts=["opened their"], method="backoff")
    masses = []
    for d in (0.1, 0.5, 0.9):
        explorer.d.value = d
        masses.append(explorer.unseen_mass)
    assert masses == sorted(masses) and masses[0] < masses[-1]
    # for backoff the unseen mass is exactly d N1+(h .) / c(h) = 2 d / 3
    assert masses[-1] == pytest.approx(0.9 * 2 / 3)


def test_mle_on_an_unseen_context_explains_instead_of_drawing():
    explorer = SmoothingExplorer(CORPUS, n=2, contexts=[("zebra",), ("their",)], method="MLE")
    assert explorer.dist is None and explorer.shown == []
    assert "MLE is undefined" in explorer.caption.value
    explorer.context.value = ("their",)
    assert explorer.dist["books"] == pytest.approx(2 / 4)
    assert explorer.unseen_mass == 0.0


def test_default_contexts_mix_seen_and_unseen():
    model = build_model("MLE", 3).fit(CORPUS)
    contexts = default_contexts(model)
    totals = [context_total(model, c) for c in contexts]
    assert any(t > 0 for t in totals) and any(t == 0 for t in totals)
    assert all(len(c) == 2 for c in contexts)
    labels = [label for label, _ in SmoothingExplorer(CORPUS, n=3).context.options]
    assert any("never seen" in label for label in labels)
    assert default_contexts(build_model("MLE", 1).fit(CORPUS)) == [()]


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="n-1 = 2 words"):
        SmoothingExplorer(CORPUS, n=3, contexts=["their"])
    with pytest.raises(ValueError, match="method must be one of"):
        SmoothingExplorer(CORPUS, method="Good-Turing")
    with pytest.raises(ValueError, match="top must be"):
        SmoothingExplorer(CORPUS, top=0)
    with pytest.raises(ValueError, match="contexts is empty"):
        SmoothingExplorer(CORPUS, contexts=[])
    with pytest.raises(ValueError, match="list of token lists"):
        SmoothingExplorer("students opened their books")
    assert set(METHODS) == {"MLE", "add-k", "interpolation", "backoff", "Kneser-Ney"}
