"""Checks for a student's ``scaled_dot_product_attention(q, k, v, causal=True)``.

Contract: q (B, H, T_q, d), k (B, H, T_k, d), v (B, H, T_k, d_v) -> (B, H, T_q, d_v),
softmax(q k^T / sqrt(d)) v, where with ``causal`` query i (one of the LAST T_q
positions of the T_k keys) sees keys up to its own position.
"""

import math

import torch

from lmcore import attention as reference
from lmcore.grading.common import (
    attempt,
    available_devices,
    gpu_model_cases,
    judge_model,
    model_case,
    probe_model,
    randn,
)
from lmcore.grading.report import Report, describe_mismatch
from lmcore.model import GPT
from lmcore.tolerances import FP32_OP

DIMS = ("batch", "head", "position", "feature")


def cases(thorough: bool = False) -> dict:
    """(B, H, T_q, T_k, d) shapes: a few for quick feedback, more for the hidden tests."""
    shapes = [(2, 3, 8, 8, 16), (1, 2, 5, 5, 8)]
    if thorough:
        shapes += [(3, 1, 1, 1, 4), (2, 4, 7, 7, 12), (2, 2, 3, 10, 16), (1, 3, 1, 9, 8)]
    devices = available_devices() if thorough else ["cpu"]
    ops = []
    for device in devices:
        for i, (B, H, tq, tk, d) in enumerate(shapes):
            seed = 100 * i
            k, v = (
                randn(B, H, tk, d, seed=seed + 2, device=device),
                randn(B, H, tk, d, seed=seed + 3, device=device),
            )
            cut = tq // 2  # keys/values after query `cut`'s position are perturbed
            future = tk - tq + cut + 1
            k_future, v_future = k.clone(), v.clone()
            k_future[:, :, future:] += 1.0
            v_future[:, :, future:] -= 1.0
            ops.append(
                dict(
                    q=randn(B, H, tq, d, seed=seed + 1, device=device),
                    k=k,
                    v=v,
                    k_future=k_future,
                    v_future=v_future,
                    cut=cut,
                    grad_out=randn(B, H, tq, d, seed=seed + 4, device=device),
                )
            )
    models = [model_case(0)]
    if thorough:
        models += gpu_model_cases(0)
    return dict(ops=ops, models=models, thorough=thorough)


def probe(fn, case: dict) -> dict:
    """Untrusted: run the student's attention on every input of ``case``."""
    outs = []
    for op in case["ops"]:
        out = {}

        def forward_backward(op=op):
            q, k, v = (op[n].clone().requires_grad_() for n in "qkv")
            y = fn(q, k, v, causal=True)
            (y * op["grad_out"]).sum().backward()
            return y.detach(), q.grad, k.grad, v.grad

        result, out["error"] = attempt(forward_backward)
        if result is not None:
            out["y"], out["dq"], out["dk"], out["dv"] = (t.cpu() for t in result)
            with torch.no_grad():
                out["y_future"], out["future_error"] = attempt(
                    lambda op=op: fn(op["q"], op["k_future"], op["v_future"], causal=True).cpu()
                )
                out["y_full"], out["full_error"] = attempt(
                    lambda op=op: fn(op["q"], op["k"], op["v"], causal=False).cpu()
                )
        outs.append(out)
    models = [
        probe_model(lambda c: GPT(c, attention=fn), m, cached_generation=True, train=case["thorough"])
        for m in case["models"]
    ]
    return dict(ops=outs, models=models)


# Classic mistakes, each a function of (q, k, v) with its explanation. When a student's
# output matches one of these and not the reference, the report names the mistake.
def _variant(q, k, v, *, scale=True, mask="bottom_right", axis=-1, fill=float("-inf"), post=False):
    d = q.size(-1)
    scores = q @ k.transpose(-2, -1)
    if scale == "d":
        scores = scores / d
    elif scale:
        scores = scores / math.sqrt(d)
    tq, tk = q.size(-2), k.size(-2)
    keep = {
        "none": torch.ones(tq, tk, dtype=torch.bool),
        "bottom_right": torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq),
        "top_left": torch.ones(tq, tk, dtype=torch.bool).tril(0),
        "see_next": torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq + 1),
        "upper": torch.ones(tq, tk, dtype=torch.bool).triu(tk - tq),
    }[mask].to(q.device)
    if post:
        return (torch.softmax(scores, dim=axis) * keep) @ v
    return torch.softmax(scores.masked_fill(~keep, fill), dim=axis) @ v


MISTAKES = [
    (
        dict(mask="none"),
        "no causal mask: every position attends to future positions. Set the "
        "scores above the diagonal to -inf before the softmax.",
    ),
    (dict(scale=False), "missing the 1/sqrt(d_k) scaling of the scores (q @ k^T / sqrt(d_k))."),
    (dict(scale="d"), "scores divided by d_k instead of sqrt(d_k)."),
    (
        dict(axis=-2),
        "softmax over the wrong axis: it must normalise over the keys (the last "
        "dimension, dim=-1), so each query's weights sum to 1.",
    ),
    (
        dict(fill=0.0),
        "masked scores set to 0 instead of -inf: exp(0) = 1, so masked positions still get weight.",
    ),
    (
        dict(post=True),
        "the mask is applied after the softmax, so the remaining weights no longer "
        "sum to 1; mask the scores before the softmax.",
    ),
    (
        dict(mask="see_next"),
        "the mask is off by one: each position also sees the next one "
        "(use tril with diagonal 0 for square masks).",
    ),
    (
        dict(mask="upper"),
        "the mask keeps the upper triangle: positions see the future and not the past.",
    ),
    (
        dict(mask="top_left"),
        "with fewer queries than keys (as with a KV cache) the mask must be "
        "aligned to the LAST queries: query i sits at position T_k - T_q + i. "
        "Use torch.tril(ones(T_q, T_k), diagonal=T_k - T_q).",
    ),
]


def judge(case: dict, out: dict) -> Report:
    report = Report("scaled_dot_product_attention")
    for op, got in zip(case["ops"], out["ops"], strict=True):
        q, k, v = op["q"], op["k"], op["v"]
        B, H, tq, d = q.shape
        label = f"B={B}, H={H}, T_q={tq}, T_k={k.size(-2)}, d={d}, {q.device.type}"
        if got.get("error"):
            report.add(f"[{label}] runs", False, got["error"])
            continue
        qr, kr, vr = (t.clone().requires_grad_() for t in (q, k, v))
        expected = reference.scaled_dot_product_attention(qr, kr, vr, causal=True)
        (expected * op["grad_out"]).sum().backward()
        m = describe_mismatch(got["y"], expected, FP32_OP, DIMS)
        report.add(
            f"[{label}] output matches softmax(q k^T / sqrt(d)) v with a causal mask",
            m is None,
            m or "",
        )
        if m is not None:
            for kwargs, why in MISTAKES:
                wrong = _variant(q, k, v, **kwargs)
                if describe_mismatch(got["y"], wrong, FP32_OP) is None and why not in report.diagnosis:
                    report.diagnosis.append(why)
        bad = [
            f"d{n}: {mm.splitlines()[0]}"
            for n, g, r in (
                ("q", got["dq"], qr.grad),
                ("k", got["dk"], kr.grad),
                ("v", got["dv"], vr.grad),
            )
            if (mm := describe_mismatch(g, r, FP32_OP, DIMS))
        ]
        report.add(f"[{label}] gradients w.r.t. q, k, v match", not bad, "\n".join(bad))
        if got.get("y_future") is not None:
            cut = op["cut"]
            report.add_causal(
                f"[{label}] causal: changing keys/values after query {cut}'s position leaves "
                f"outputs 0..{cut} unchanged",
                got["y_future"],
                got["y"],
                cut,
                2,
                FP32_OP,
                DIMS,
            )
        expected_full = reference.scaled_dot_product_attention(q, k, v, causal=False)
        mm = (
            describe_mismatch(got["y_full"], expected_full, FP32_OP, DIMS)
            if got.get("y_full") is not None
            else got.get("full_error")
        )
        report.add(f"[{label}] causal=False attends to every key", mm is None, mm or "")
    for m_case, m_out in zip(case["models"], out["models"], strict=True):
        judge_model(report, m_case, m_out)
    return report


def check_attention(fn, *, thorough: bool = False) -> Report:
    """Check ``fn`` alone and inside lmcore's GPT. ``thorough`` adds shapes, CUDA and training."""
    c = cases(thorough)
    return judge(c, probe(fn, c))
