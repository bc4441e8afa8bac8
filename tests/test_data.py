"""lmcore.data: the grammar's exact probabilities, the book's prose, word problems, text files, the mix."""

import ast
import math
import random
from collections import Counter

import pytest

import lmcore
from lmcore.data import (
    END,
    STORY_GRAMMAR,
    Grammar,
    book_text,
    extract_answer,
    load_text,
    myst_prose,
    sample_sentences,
    stories,
    training_text,
    verify,
    word_problems,
)

# Three sentences: "a c" (3/8), "a" (3/8), "b" (1/4); X may derive nothing.
TINY = {"S": [(0.75, ("a", "X")), (0.25, ("b",))], "X": [(0.5, ("c",)), (0.5, ())]}
TINY_P = {("a", "c"): 3 / 8, ("a",): 3 / 8, ("b",): 1 / 4}


# ------------------------------------------------------------------ the grammar
def test_tiny_grammar_exact_values_match_hand_computation():
    g = Grammar(TINY)
    hand_entropy = -sum(p * math.log(p) for p in TINY_P.values())
    assert g.entropy() == pytest.approx(hand_entropy, abs=1e-12)
    assert g.expected_length() == pytest.approx(2 * 3 / 8 + 1 * 3 / 8 + 1 * 1 / 4, abs=1e-12)
    assert g.entropy_per_token() == pytest.approx(hand_entropy / (11 / 8 + 1), abs=1e-12)
    assert g.vocabulary() == ("a", "b", "c")
    assert {s.words: math.exp(s.logprob) for s in g.sentences()} == pytest.approx(TINY_P)
    for words, p in TINY_P.items():
        assert g.logprob(words) == pytest.approx(math.log(p), abs=1e-12)


def test_sample_frequencies_match_exact_probabilities():
    g, n = Grammar(TINY), 20_000
    rng = random.Random(0)
    samples = [g.sample(rng) for _ in range(n)]
    counts = Counter(s.words for s in samples)
    assert set(counts) == set(TINY_P)
    for words, p in TINY_P.items():
        assert abs(counts[words] - n * p) < 5 * math.sqrt(n * p * (1 - p)), words
    for s in samples[:50]:
        assert s.logprob == pytest.approx(math.log(TINY_P[s.words]), abs=1e-12)


def test_story_grammar_is_unambiguous_and_its_exact_values_agree_with_enumeration():
    g = STORY_GRAMMAR
    seen, count, total, entropy, length = set(), 0, 0.0, 0.0, 0.0
    for s in g.sentences():
        seen.add(s.words)
        count += 1
        p = math.exp(s.logprob)
        total += p
        entropy -= p * s.logprob
        length += p * len(s.words)
    assert len(seen) == count  # no string has two derivations
    assert total == pytest.approx(1.0, abs=1e-9)
    assert g.entropy() == pytest.approx(entropy, rel=1e-9)
    assert g.expected_length() == pytest.approx(length, rel=1e-9)
    assert count < 5_000_000


def test_enumeration_exposes_an_ambiguous_grammar():
    g = Grammar({"S": [(0.5, ("A", "B")), (0.5, ("x", "y"))], "A": [(1.0, ("x",))], "B": [(1.0, ("y",))]})
    words = [s.words for s in g.sentences()]
    assert len(words) == 2 and len(set(words)) == 1
    assert len(g.derivations(["x", "y"])) == 2
    assert g.logprob(["x", "y"]) == pytest.approx(0.0, abs=1e-12)  # both derivations counted


def test_story_grammar_shape():
    g = STORY_GRAMMAR
    assert 80 <= len(g.vocabulary()) <= 200
    assert all(w == w.lower() and " " not in w for w in g.vocabulary())
    lengths = [len(s.words) for s in sample_sentences(2000, seed=1)]
    assert 4 <= min(lengths) and max(lengths) <= 15
    assert 1.2 < g.entropy_per_token() < 3.0


def test_story_grammar_sample_logprob_equals_parse():
    for s in sample_sentences(300, seed=2):
        assert STORY_GRAMMAR.logprob(s.words) == pytest.approx(s.logprob, abs=1e-9)
        assert len(STORY_GRAMMAR.derivations(s.words)) == 1


def test_next_word_probs_follow_the_chain_rule():
    tiny = Grammar(TINY)
    assert tiny.next_word_probs([]) == pytest.approx({"a": 0.75, "b": 0.25})
    assert tiny.next_word_probs(["a"]) == pytest.approx({"c": 0.5, END: 0.5})
    assert tiny.next_word_probs(["b"]) == pytest.approx({END: 1.0})
    for s in sample_sentences(100, seed=7):
        steps = [STORY_GRAMMAR.next_word_probs(s.words[:t]) for t in range(len(s.words) + 1)]
        assert all(sum(probs.values()) == pytest.approx(1.0) for probs in steps)
        chain = sum(math.log(probs[w]) for probs, w in zip(steps, s.words + (END,), strict=True))
        assert chain == pytest.approx(s.logprob, abs=1e-9)


def test_story_grammar_has_long_range_agreement():
    g = STORY_GRAMMAR
    boys = {"tom", "sam", "ben", "max", "leo", "jack"}
    for s in sample_sentences(3000, seed=3):
        if "he" in s.words:
            assert s.words[0] in boys and "his" in s.words
        if "she" in s.words:
            assert s.words[0] not in boys and "her" in s.words
    assert set(g.next_word_probs("the dogs that saw the cat".split())) == {
        "are", "sleep", "run", "jump", "play", "eat", "sing", "hide", "swim"
    }  # fmt: skip
    assert g.logprob("the dogs that saw the cat sleep .".split()) < 0
    assert g.logprob("the dog that saw the cats sleeps .".split()) < 0
    with pytest.raises(ValueError, match="position 6"):
        g.logprob("the dogs that saw the cat sleeps .".split())
    with pytest.raises(ValueError, match="position 5"):
        g.logprob("tom lost his ball and she cried .".split())


def test_logprob_names_the_first_bad_word_and_a_short_sentence():
    with pytest.raises(ValueError, match=r"'tom' at position 3"):
        STORY_GRAMMAR.logprob("the cat saw tom".split())
    with pytest.raises(ValueError, match="stops too early"):
        STORY_GRAMMAR.logprob("the cat saw a".split())
    with pytest.raises(ValueError, match="position 0"):
        Grammar(TINY).logprob(["c"])


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"S": [(0.5, ("a",)), (0.4, ("b",))]}, "sum to"),
        ({"S": [(1.0, ("a",)), (0.0, ("b",))]}, "must be > 0"),
        ({"S": [(1.0, ("A",))], "A": [(0.5, ("S",)), (0.5, ("a",))]}, "recursive"),
        ({"S": [(1.0, ("a",))], "B": [(1.0, ("b",))]}, "cannot be reached"),
        ({"T": [(1.0, ("a",))]}, "start symbol"),
        ({"S": [(1.0, ("a b",))]}, "without spaces"),
        ({"S": [(1.0, ("</s>",))]}, "other than"),
        ({"S": []}, "no rules"),
    ],
)
def test_invalid_grammars_are_rejected(rules, message):
    with pytest.raises(ValueError, match=message):
        Grammar(rules)


def test_sampling_is_seeded():
    assert sample_sentences(20, seed=5) == sample_sentences(20, seed=5)
    assert sample_sentences(20, seed=5) != sample_sentences(20, seed=6)
    assert stories(5, seed=1) == stories(5, seed=1)
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        sample_sentences(-1)


def test_stories_are_sentences_of_the_grammar():
    for story in stories(30, seed=4, sentences_per_story=(2, 4)):
        tokens = story.split()
        assert " ".join(tokens) == story
        ends = [i for i, t in enumerate(tokens) if t == "."]
        assert 2 <= len(ends) <= 4 and ends[-1] == len(tokens) - 1
        for start, end in zip([-1] + ends[:-1], ends, strict=True):
            STORY_GRAMMAR.logprob(tokens[start + 1 : end + 1])  # raises if not a sentence
    with pytest.raises(ValueError, match="lo <= hi"):
        stories(1, sentences_per_story=(3, 2))


# ------------------------------------------------------------------ the book's prose
MYST = """---
jupytext:
  format_name: myst
---

(ch99)=
# 99. A *test* chapter

Prose with $x^2$ math, a {cite:p}`shannon1948mathematical` citation, a link to
[the docs](https://example.org) and {doc}`the intro <intro>`, and **bold**.

```{code-cell} ipython3
print("code is dropped")
```

$$
p(x) = 1
$$ (eq-one)

:::{admonition} Hint
:class: dropdown
Keep this hint.
:::

````{note}
A note with a fence inside.
```python
dropped = True
```
Still in the note.
````

| a | b |
|---|---|
| one | two |
"""


def test_myst_prose_keeps_only_the_prose():
    text = myst_prose(MYST)
    assert text.split("\n\n") == [
        "99. A test chapter",
        "Prose with math, a citation, a link to the docs and the intro, and bold.",
        "Hint",
        "Keep this hint.",
        "A note with a fence inside.",
        "Still in the note.",
        "a b",
        "one two",
    ]


def test_book_text_has_no_markup():
    text = book_text()
    assert len(text) > 1000
    for markup in ("```", "{code-cell}", "$$", "{cite", ":class:", "(ch07)="):
        assert markup not in text
    assert "\n\n\n" not in text
    assert book_text(["ch07_attention"]) in text


def test_book_text_errors():
    with pytest.raises(ValueError, match="ch07_attention"):
        book_text(["ch99_missing"])
    with pytest.raises(TypeError, match="list"):
        book_text("ch07_attention")


def test_book_text_without_the_book_says_where_it_comes_from(monkeypatch, tmp_path):
    monkeypatch.setattr(lmcore, "__file__", str(tmp_path / "lmcore" / "__init__.py"))
    with pytest.raises(FileNotFoundError, match="repository clone"):
        book_text()


# ------------------------------------------------------------------ word problems
def _steps(expression: str) -> list[float]:
    """The value of every operation in an expression, innermost first."""
    values = []

    def walk(node):
        if isinstance(node, ast.BinOp):
            walk(node.left)
            walk(node.right)
            values.append(eval(compile(ast.Expression(node), "<expr>", "eval")))

    walk(ast.parse(expression, mode="eval").body)
    return values


def test_word_problems_are_consistent():
    problems = word_problems(300, seed=0, max_steps=3, max_number=12)
    assert problems == word_problems(300, seed=0, max_steps=3, max_number=12)
    for p in problems:
        steps = _steps(p.expression)
        assert 1 <= len(steps) <= 3
        assert all(v >= 0 and v == int(v) for v in steps), p  # non-negative integers all the way
        assert steps[-1] == p.answer
        numbers = [int(t) for t in p.expression.replace("(", " ").replace(")", " ").split() if t.isdigit()]
        assert all(1 <= x <= 12 for x in numbers)
        assert verify(p, f"... so the answer is {p.answer}.")
        assert not verify(p, f"#### {p.answer + 1}")
    assert {"+", "-", "*", "/"} <= {c for p in problems for c in p.expression}


def test_word_problem_arguments_are_checked():
    with pytest.raises(ValueError, match="max_steps"):
        word_problems(1, max_steps=0)
    with pytest.raises(ValueError, match="max_number"):
        word_problems(1, max_number=1)


@pytest.mark.parametrize(
    "text, answer",
    [
        ("#### 42", 42),
        ("it is -3", -3),
        ("1,000 apples", 1000),
        ("7 - 2 = 5.", 5),
        ("first 3 then 12.0", 12),
        ("2.5", None),
        ("no number", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


# ------------------------------------------------------------------ text files
def test_load_text_round_trips_exactly(tmp_path):
    path = tmp_path / "corpus.txt"
    text = "\ufeffcaf\u00e9 line one\r\nline two\n"
    path.write_bytes(text.encode("utf-8"))
    assert load_text(path) == text
    assert load_text(str(path)) == text


def test_load_text_errors_say_what_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.txt")):
        load_text(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError, match="folder"):
        load_text(tmp_path)
    (tmp_path / "latin.txt").write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"offset 3 holds b'\\xe9'.*iconv"):
        load_text(tmp_path / "latin.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_text(tmp_path / "empty.txt")


# ------------------------------------------------------------------ the mixed corpus
@pytest.mark.parametrize("n_bytes", [1, 999, 1500, 20_000, 300_000])
def test_training_text_size_bounds(n_bytes):
    text = training_text(n_bytes, seed=1)
    assert n_bytes - 1000 <= len(text.encode("utf-8")) <= n_bytes


def test_training_text_is_deterministic_and_mixed():
    text = training_text(50_000, seed=2)
    assert text == training_text(50_000, seed=2)
    assert text != training_text(50_000, seed=3)
    paragraphs = text.split("\n\n")
    assert any("How many" in p for p in paragraphs)  # word problems
    assert any(p.endswith(" .") for p in paragraphs)  # stories
    with pytest.raises(ValueError, match="n_bytes must be >= 1, got 0"):
        training_text(0)


def test_synthetic_text_is_deterministic_sized_and_has_a_large_vocabulary():
    from lmcore import bpe
    from lmcore.data import synthetic_text

    text = synthetic_text(200_000, seed=3)
    assert text == synthetic_text(200_000, seed=3) != synthetic_text(200_000, seed=4)
    assert 199_000 <= len(text.encode()) <= 200_000
    assert len(bpe.word_counts(text)) > 5_000
    with pytest.raises(ValueError, match="n_bytes"):
        synthetic_text(0)
