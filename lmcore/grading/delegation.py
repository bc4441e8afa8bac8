"""The anti-delegation check: a student's part may not hand its work to a library or to lmcore.

Three layers, from hardest to fool to easiest to read:
  * every aten operator the part executes is recorded (a TorchDispatchMode), so a
    fused attention kernel is seen however it was reached;
  * every torch function called is recorded (a TorchFunctionMode), which sees
    F.scaled_dot_product_attention even where it decomposes into plain ops;
  * every Python function called is recorded (sys.setprofile) and compared with
    lmcore's own reference code objects, so an alias of the reference is caught too.
``static_findings`` reads the source instead; the audit uses it because it runs
in a process the student's code never touched.
"""

import ast
import inspect
import sys
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from lmcore import attention as ref_attention
from lmcore import model as ref_model
from lmcore.grading.common import randn
from lmcore.grading.hosts import TINY
from lmcore.grading.report import Report


@dataclass(frozen=True)
class Rules:
    ops: tuple[str, ...]  # substrings of banned aten operator / torch function names
    code: tuple  # banned Python functions (lmcore's references, torch's modules)
    names: tuple[str, ...]  # banned attribute / import names in the source


FUSED_ATTENTION = (
    "scaled_dot_product",
    "flash_attention",
    "efficient_attention",
    "cudnn_attention",
)
RULES = {
    "attention": Rules(
        FUSED_ATTENTION + ("multi_head_attention",),
        (
            ref_attention.scaled_dot_product_attention,
            ref_attention.attention_weights,
            ref_model.fused_attention,
        ),
        (
            "scaled_dot_product_attention",
            "fused_attention",
            "attention_weights",
            "MultiheadAttention",
        ),
    ),
    "self_attention": Rules(
        ("multi_head_attention",),
        (ref_model.CausalSelfAttention.forward, nn.MultiheadAttention.forward),
        ("CausalSelfAttention", "MultiheadAttention", "multi_head_attention_forward"),
    ),
    "block": Rules(
        ("transformer_encoder_layer",),
        (ref_model.Block.forward, ref_model.MLP.forward, nn.TransformerEncoderLayer.forward),
        ("Block", "MLP", "TransformerEncoderLayer", "TransformerDecoderLayer"),
    ),
    "gpt": Rules((), (ref_model.GPT.forward,), ("GPT", "GPT2LMHeadModel")),
}


class _Ops(TorchDispatchMode):
    def __init__(self, seen: set):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


class _Functions(TorchFunctionMode):
    def __init__(self, seen: set):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def trace(run) -> tuple[set, set]:
    """Run ``run()``; return (torch op and function names seen, Python code objects called)."""
    ops: set = set()
    calls: set = set()

    def profile(frame, event, arg):
        if event == "call":
            calls.add(frame.f_code)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with _Functions(ops), _Ops(ops):
            run()
    finally:
        sys.setprofile(previous)
    return ops, calls


def _exercise(part: str, component):
    """A small call of the part, with reference parts below it where it needs them."""
    if part == "attention":
        q, k, v = (randn(1, 2, 4, 8, seed=s) for s in (1, 2, 3))
        return lambda: component(q, k, v, causal=True)
    x = randn(1, 4, TINY.n_embd, seed=4)
    if part == "self_attention":
        module = component(TINY, attention=ref_attention.scaled_dot_product_attention)
    elif part == "block":
        module = component(TINY, ref_model.CausalSelfAttention)
    else:
        module = component(TINY, block_cls=ref_model.Block)
        x = torch.zeros(1, 4, dtype=torch.long)
    return lambda: module(x)


def dynamic_findings(part: str, component) -> list[str]:
    """What the part delegated when run (empty when it did its own work)."""
    rules = RULES[part]
    ops, calls = trace(_exercise(part, component))
    found = sorted(op for op in ops if any(b in op for b in rules.ops))
    # unwrap decorators: a decorated function's __code__ is its wrapper's, shared by many
    banned = {inspect.unwrap(f).__code__: f.__qualname__ for f in rules.code}
    found += sorted(f"lmcore/torch reference {banned[c]}" for c in calls if c in banned)
    return found


def static_findings(part: str, source: str) -> list[str]:
    """Banned names used in ``source`` as attributes or imports (not the student's own defs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"the code does not parse: {exc}"]
    names = set(RULES[part].names)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in names or (node.module or "").startswith("lmcore"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if a.name.startswith("lmcore")
            ]
    return found


def report_delegation(part: str, findings: list[str]) -> Report:
    report = Report(f"{part}: does its own work")
    report.add(
        "does not call a fused library kernel or lmcore's reference for this part",
        not findings,
        "found: " + "; ".join(findings) + "\nwrite the computation yourself with tensor operations",
    )
    return report


def check_no_delegation(component, part: str) -> Report:
    """Run ``component`` once and report any library kernel or reference it hands its work to."""
    if part not in RULES:
        raise ValueError(f"unknown part {part!r}; expected one of {sorted(RULES)}")
    return report_delegation(part, dynamic_findings(part, component))
