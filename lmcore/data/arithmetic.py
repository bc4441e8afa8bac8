"""Arithmetic word problems whose answers a program can check.

``word_problems`` writes short stories about buying, giving away, groups of
things and sharing equally; every problem carries its answer and the arithmetic
``expression`` that computes it (Python syntax, ``/`` an exact division), and
every intermediate value is a non-negative integer. ``verify`` is the reward
of reinforcement learning with verifiable rewards: it reads the last integer of
a model's answer and compares it with the truth.
"""

import random
import re
from dataclasses import dataclass

from lmcore.validation import integer, non_negative_int, positive_int

NAMES = ("Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Ivy", "Jack", "Lena", "Omar")
PRONOUNS = dict(zip(NAMES, ("she", "he") * 6, strict=True))
ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "shells", "stamps", "cards")
CONTAINERS = ("bags", "boxes", "jars", "packs")

_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\d)")


@dataclass(frozen=True)
class WordProblem:
    """A question in words, its integer answer, and the expression that computes it ("3 + 5 * 2")."""

    question: str
    answer: int
    expression: str


def word_problems(n: int, seed: int = 0, max_steps: int = 2, max_number: int = 20) -> list[WordProblem]:
    """``n`` problems of 1..max_steps operations on numbers in 1..max_number, from ``random.Random(seed)``.

    A problem starts from a quantity ("Ava has 7 marbles." or "Ava has 3 bags with 4
    marbles in each.", the latter one multiplication), then adds (buys more), subtracts
    (gives some away, never more than there are) or multiplies; sharing equally among
    friends, an exact division, can only be the last step.
    """
    n, max_steps = non_negative_int("n", n), positive_int("max_steps", max_steps)
    max_number = integer("max_number", max_number, low=2)
    rng = random.Random(seed)
    return [_problem(rng, rng.randint(1, max_steps), max_number) for _ in range(n)]


def _problem(rng: random.Random, steps: int, top: int) -> WordProblem:
    name, friend = rng.sample(NAMES, 2)
    he, item = PRONOUNS[name], rng.choice(ITEMS)
    He = he.capitalize()
    if rng.random() < 0.5:  # groups of: one multiplication
        groups, each = rng.randint(2, top), rng.randint(2, top)
        value, expr, sums = groups * each, f"{groups} * {each}", False
        text = [f"{name} has {groups} {rng.choice(CONTAINERS)} with {each} {item} in each."]
        steps -= 1
    else:
        value = rng.randint(1, top)
        expr, sums, text = str(value), False, [f"{name} has {value} {item}."]
    ask = f"How many {item} does {name} have now?"
    for step in range(steps):
        last = step == steps - 1
        divisors = [d for d in range(2, top + 1) if value % d == 0 and value > 0]
        ops = ["+", "*"] + (["-"] if value > 0 else []) + (["/"] if last and divisors else [])
        op = rng.choice(ops)
        if op == "+":
            b = rng.randint(1, top)
            value, expr, sums = value + b, f"{expr} + {b}", True
            text.append(rng.choice([f"{He} buys {b} more.", f"{friend} gives {name} {b} more."]))
        elif op == "-":
            b = rng.randint(1, min(value, top))
            value, expr, sums = value - b, f"{expr} - {b}", True
            text.append(rng.choice([f"{He} gives {b} to {friend}.", f"{He} loses {b}."]))
        elif op == "*":
            b = rng.randint(2, top)
            value, expr, sums = value * b, f"({expr}) * {b}" if sums else f"{expr} * {b}", False
            text.append(f"Then {he} ends up with {b} times as many as that.")
        else:
            b = rng.choice(divisors)
            value, expr = value // b, f"({expr}) / {b}" if sums else f"{expr} / {b}"
            text.append(f"{He} shares them equally among {b} friends.")
            ask = f"How many {item} does each friend get?"
    return WordProblem(" ".join(text + [ask]), value, expr)


def extract_answer(text: str) -> int | None:
    """The last number in ``text`` as an int ("-3", "1,000", "#### 42"); None if there is none.

    A last number with a non-zero fractional part ("2.5") is not an integer answer
    and gives None; "12.0" gives 12.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    whole, _, fraction = numbers[-1].replace(",", "").partition(".")
    if fraction.strip("0"):
        return None
    return int(whole)


def verify(problem: WordProblem, text: str) -> bool:
    """True iff the last integer of ``text`` is the problem's answer."""
    return extract_answer(text) == problem.answer
