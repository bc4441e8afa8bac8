"""The grading records themselves: reports, the tracer, matching a mistake, student errors."""

import linecache
import re

import pytest
import torch

from lmcore import model as ref
from lmcore.attention import scaled_dot_product_attention
from lmcore.grading import a5
from lmcore.grading.common import attempt
from lmcore.grading.records import same_outputs
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules, trace
from lmcore.tolerances import FP32_OP


def test_report_lists_failures_first_and_never_counts_a_skipped_property():
    report = Report("part")
    for i in range(5):
        report.add(f"holds {i}", True)
    report.add("breaks", False, "here")
    report.skip("depends on the broken one", "its input raised")
    report.diagnose("some_mistake", "what to fix")
    lines = str(report).splitlines()
    assert lines[0] == "part: 1 of 7 properties fail, 1 not checked"
    assert lines[1].startswith("  diagnosis [some_mistake]")
    assert lines[2] == "  [FAIL] breaks" and lines[4] == "  [not checked] depends on the broken one"
    assert all(line.startswith("  [ok]") for line in lines[6:])
    only_skipped = Report("part")
    only_skipped.skip("could not run", "why")
    assert not only_skipped.passed and only_skipped.failed() == []


def test_describe_mismatch_locates_the_difference():
    expected = torch.zeros(2, 3, 4, 5)
    actual = expected.clone()
    actual[1, 2, 3, 4] = 0.5
    message = describe_mismatch(actual, expected, FP32_OP, ("batch", "head", "position", "feature"))
    assert "batch 1, head 2, position 3, feature 4" in message
    assert "positions that differ: 3" in message
    assert describe_mismatch(expected, expected, FP32_OP) is None
    assert "shape" in describe_mismatch(expected[0], expected, FP32_OP)
    actual[0, 0, 0, 0] = float("nan")
    assert "NaN" in describe_mismatch(actual, expected, FP32_OP)


def test_the_tracer_sees_an_alias_of_the_reference_and_a_fused_kernel():
    rules = a5.attention.PART.rules
    q = k = v = torch.randn(1, 1, 3, 4)
    alias = scaled_dot_product_attention
    _, found = trace(lambda: alias(q, k, v), rules)
    assert found == ["lmcore.attention.attention_weights", "lmcore.attention.scaled_dot_product_attention"]
    _, found = trace(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), rules)
    assert found and all("scaled_dot_product" in f for f in found)
    _, found = trace(lambda: torch.softmax(q @ k.transpose(-2, -1), -1) @ v, rules)
    assert found == []


def test_the_tracer_names_a_banned_library_and_a_banned_module():
    rules = Rules(code=(re,), libraries=("torch",))
    _, found = trace(lambda: re.compile("a+b"), rules)
    assert "re.compile" in found
    _, found = trace(lambda: torch.zeros(2).sum(), Rules(libraries=("torch",)))
    assert found == ["the torch library"]


def test_a_student_error_inside_a_library_points_at_the_students_line():
    source = "import re\n\ndef pretokenize(text):\n    return re.findall('(', text)\n"
    linecache.cache["<cell 4>"] = (len(source), None, source.splitlines(True), "<cell 4>")  # as IPython does
    code = compile(source, "<cell 4>", "exec")
    ns: dict = {}
    exec(code, ns)
    _, error = attempt(ns["pretokenize"], "some text")
    assert error.startswith("error: missing ), unterminated subpattern")
    assert "(line 4: return re.findall('(', text))" in error


def test_a_part_that_raises_is_reported_with_the_error():
    def broken(q, k, v, causal=True):
        raise NotImplementedError("not yet")

    report = a5.attention.check(broken)
    assert not report.passed and "NotImplementedError: not yet" in str(report)


def test_a_module_with_wrong_names_is_told_the_expected_names():
    class Renamed(ref.CausalSelfAttention):
        def __init__(self, config, attention=None):
            super().__init__(config, attention)
            self.qkv = self.c_attn
            del self.c_attn

    report = a5.self_attention.check(Renamed)
    assert not report.passed and "c_attn.weight" in str(report)


def test_check_says_which_components_it_takes():
    with pytest.raises(TypeError, match="attention.check takes scaled_dot_product_attention"):
        a5.attention.check(scaled_dot_product_attention, scaled_dot_product_attention)
    with pytest.raises(TypeError, match="needs scaled_dot_product_attention"):
        a5.attention.check()


def test_outputs_agree_entry_by_entry():
    a = dict(y=torch.tensor([1.0, float("nan")]), n=3, error=None, run_error="ValueError: x")
    assert same_outputs(a, dict(a, run_error="ValueError: another message"))
    assert not same_outputs(a, dict(a, run_error="TypeError: x"))
    assert not same_outputs(a, dict(a, y=torch.tensor([1.1, float("nan")])))
    assert same_outputs(a, dict(a, y=torch.tensor([1.0 + 1e-6, float("nan")])))
    assert not same_outputs(a, dict(a, n=4))
    assert not same_outputs(dict(p=float("inf")), dict(p=3.0)) and not same_outputs(
        dict(p=3.0), dict(p=float("inf"))
    )
    assert not same_outputs(torch.tensor([1.0]), torch.tensor([float("inf")]))
    assert same_outputs(torch.tensor([float("-inf")]), torch.tensor([float("-inf")]))
    assert same_outputs(dict(a, times=[1.0]), dict(a, times=[2.0]), ignore=("times",))


def _counting_part(calls: list):
    """A one-name part whose probe records each implementation it runs; two known mistakes."""
    from lmcore.grading.records import Mistake, Part

    def probe(fn, case):
        calls.append((fn, "timed" in case))
        y, error = attempt(fn, case["x"])
        return {"y": y, "error": error, "timed": "timed" in case}

    def judge(case, out):
        report = Report("double")
        report.add(
            "doubles x", out["error"] is None and torch.equal(out["y"], 2 * case["x"]), out["error"] or ""
        )
        return report

    def plus_one(x):
        return x + 1

    def squared(x):
        return x * x

    mistakes = (Mistake("plus_one", "add, do not double", plus_one), Mistake("squared", "x * x", squared))
    return Part(
        id="double", names=("double",), reference=(lambda x: 2 * x,), section="ch00#0.0",
        cases=lambda thorough: {"x": torch.arange(3.0) + 3, "timed": True}, probe=probe, judge=judge,
        mistakes=mistakes, ignore=("timed",),
    )  # fmt: skip


def test_known_mistakes_run_once_per_case_without_the_timed_runs_and_not_for_a_stub():
    calls = []
    part = _counting_part(calls)
    (plus_one, squared) = (m.implementation for m in part.mistakes)
    report = part.check(lambda x: x + 1)
    assert report.mistakes == ["plus_one"] and len(calls) == 3  # the student's, then each mistake
    assert part.check(lambda x: x + 1).mistakes == ["plus_one"] and len(calls) == 4  # remembered
    assert calls.count((plus_one, False)) == calls.count((squared, False)) == 1  # never timed

    def stub(x):
        raise NotImplementedError()

    report = part.check(stub)
    assert not report.passed and report.mistakes == [] and "raise NotImplementedError" in str(report)
