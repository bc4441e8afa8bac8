"""A5, part 1: ``scaled_dot_product_attention(q, k, v, causal=True)``.

Contract (``lmcore.attention.scaled_dot_product_attention``): q (B, H, T_q, d_k),
k (B, H, T_k, d_k), v (B, H, T_k, d_v) -> (B, H, T_q, d_v), softmax(q k^T / sqrt(d_k)) v;
with ``causal`` (the default) query i, one of the LAST T_q of the T_k positions, sees the
keys up to its own position. Checked alone (outputs, gradients, causality, causal=False, the
default) and inside lmcore's GPT (logits, gradients, cached generation, training).
"""

import math

import torch

from lmcore import attention as ref
from lmcore import model as ref_model
from lmcore.grading.common import attempt, available_devices, randn
from lmcore.grading.hosts import gpu_model_cases, judge_model, model_case, probe_model
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.model import GPT
from lmcore.tolerances import FP32_OP

DIMS = ("batch", "head", "position", "feature")


def cases(thorough: bool = False) -> dict:
    """(B, H, T_q, T_k, d_k, d_v): a few for quick feedback, more for the hidden tests."""
    shapes = [(2, 3, 8, 8, 16, 16), (1, 2, 3, 5, 8, 6)]  # the second: fewer queries than keys
    if thorough:
        shapes += [(3, 1, 1, 1, 4, 4), (2, 4, 7, 7, 12, 5), (2, 2, 5, 5, 16, 16), (1, 3, 1, 9, 8, 3)]
    devices = available_devices() if thorough else ["cpu"]
    ops = []
    for device in devices:
        for i, (B, H, tq, tk, d, dv) in enumerate(shapes):
            seed = 100 * i
            k = randn(B, H, tk, d, seed=seed + 2, device=device)
            v = randn(B, H, tk, dv, seed=seed + 3, device=device)
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
                    grad_out=randn(B, H, tq, dv, seed=seed + 4, device=device),
                )
            )
    models = [model_case(0)] + (gpu_model_cases(0) if thorough else [])
    return dict(ops=ops, models=models, thorough=thorough)


def probe(fn, case: dict) -> dict:
    """Untrusted: run the attention on every input of ``case``, then inside the GPT."""
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
            out["y"], out["dq"], out["dk"], out["dv"] = (t.cpu() if t is not None else None for t in result)
            with torch.no_grad():
                out["y_future"], out["future_error"] = attempt(
                    lambda op=op: fn(op["q"], op["k_future"], op["v_future"], causal=True).cpu()
                )
                out["y_full"], out["full_error"] = attempt(
                    lambda op=op: fn(op["q"], op["k"], op["v"], causal=False).cpu()
                )
                out["y_default"], out["default_error"] = attempt(
                    lambda op=op: fn(op["q"], op["k"], op["v"]).cpu()
                )
        outs.append(out)
    models = [
        probe_model(lambda c: GPT(c, attention=fn), m, cached_generation=True, train=case["thorough"])
        for m in case["models"]
    ]
    return dict(ops=outs, models=models)


def judge(case: dict, out: dict) -> Report:
    report = Report("scaled_dot_product_attention")
    for op, got in zip(case["ops"], out["ops"], strict=True):
        q, k, v = op["q"], op["k"], op["v"]
        B, H, tq, d = q.shape
        label = f"B={B}, H={H}, T_q={tq}, T_k={k.size(-2)}, d_k={d}, d_v={v.size(-1)}, {q.device.type}"
        if got.get("error"):
            report.add(f"[{label}] runs forward and backward", False, got["error"])
            continue
        qr, kr, vr = (t.clone().requires_grad_() for t in (q, k, v))
        expected = ref.scaled_dot_product_attention(qr, kr, vr, causal=True)
        (expected * op["grad_out"]).sum().backward()
        m = describe_mismatch(got["y"], expected, FP32_OP, DIMS)
        report.add(
            f"[{label}] output matches softmax(q k^T / sqrt(d_k)) v with a causal mask", m is None, m or ""
        )
        bad = []
        for n, g, r in (("q", got["dq"], qr.grad), ("k", got["dk"], kr.grad), ("v", got["dv"], vr.grad)):
            mm = "no gradient reached it" if g is None else describe_mismatch(g, r, FP32_OP, DIMS)
            if mm:
                bad.append(f"d{n}: {mm.splitlines()[0]}")
        report.add(f"[{label}] gradients w.r.t. q, k, v match", not bad, "\n".join(bad))
        cut = op["cut"]
        name = (
            f"[{label}] causal: changing keys/values after query {cut}'s position "
            f"leaves outputs 0..{cut} unchanged"
        )
        if got.get("y_future") is None:
            report.add(name, False, got["future_error"])
        else:
            report.add_causal(name, got["y_future"], got["y"], op["cut"], 2, FP32_OP, DIMS)
        for key, causal, what in (
            ("y_full", False, "causal=False attends to every key"),
            ("y_default", True, "causal is True by default"),
        ):
            want = ref.scaled_dot_product_attention(q, k, v, causal=causal)
            mm = (
                got.get(key.replace("y_", "") + "_error")
                if got.get(key) is None
                else describe_mismatch(got[key], want, FP32_OP, DIMS)
            )
            report.add(f"[{label}] {what}", mm is None, mm or "")
    for m_case, m_out in zip(case["models"], out["models"], strict=True):
        judge_model(report, m_case, m_out)
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(*, scale="sqrt", mask="bottom_right", axis=-1, fill=float("-inf"), post=False):
    """An attention with one classic mistake; the defaults are the correct one."""

    def attention(q, k, v, causal=True):
        d = q.size(-1)
        scores = q @ k.transpose(-2, -1)
        scores = scores / {"sqrt": math.sqrt(d), "d": d, "none": 1.0}[scale]
        tq, tk = q.size(-2), k.size(-2)
        ones = torch.ones(tq, tk, dtype=torch.bool, device=q.device)
        keep = {
            "none": ones,
            "bottom_right": ones.tril(tk - tq),
            "top_left": ones.tril(0),
            "see_next": ones.tril(tk - tq + 1),
            "upper": ones.triu(tk - tq),
        }[mask if causal else "none"]
        if post:
            return (torch.softmax(scores, dim=axis) * keep) @ v
        return torch.softmax(scores.masked_fill(~keep, fill), dim=axis) @ v

    return attention


MISTAKES = (
    Mistake(
        "no_causal_mask",
        "no causal mask: every position attends to future positions. Set the scores above the "
        "diagonal to -inf before the softmax.",
        _wrong(mask="none"),
    ),
    Mistake(
        "no_scaling",
        "the scores are not scaled by 1/sqrt(d_k): use q @ k^T / sqrt(d_k).",
        _wrong(scale="none"),
    ),
    Mistake("scaled_by_d", "the scores are divided by d_k instead of sqrt(d_k).", _wrong(scale="d")),
    Mistake(
        "softmax_wrong_axis",
        "the softmax runs over the wrong axis: it must normalise over the keys (the last "
        "dimension, dim=-1), so each query's weights sum to 1.",
        _wrong(axis=-2),
    ),
    Mistake(
        "mask_fill_zero",
        "masked scores are set to 0 instead of -inf: exp(0) = 1, so masked positions still get weight.",
        _wrong(fill=0.0),
    ),
    Mistake(
        "mask_after_softmax",
        "the mask is applied after the softmax, so the remaining weights no longer sum to 1; mask "
        "the scores before the softmax.",
        _wrong(post=True),
    ),
    Mistake(
        "mask_sees_next",
        "the mask is off by one: each position also sees the next one "
        "(tril with diagonal 0 for a square mask).",
        _wrong(mask="see_next"),
    ),
    Mistake(
        "mask_upper_triangle",
        "the mask keeps the upper triangle: positions see the future and not the past.",
        _wrong(mask="upper"),
    ),
    Mistake(
        "mask_top_left",
        "with fewer queries than keys (as with a KV cache) the mask must be aligned to the LAST "
        "queries: query i sits at position T_k - T_q + i. Use torch.tril(ones(T_q, T_k), "
        "diagonal=T_k - T_q).",
        _wrong(mask="top_left"),
    ),
)


def _exercise(fn):
    q, k, v = (randn(1, 2, 4, 8, seed=s) for s in (1, 2, 3))
    return lambda: fn(q, k, v, causal=True)


PART = Part(
    id="attention",
    names=("scaled_dot_product_attention",),
    reference=(ref.scaled_dot_product_attention,),
    section="ch07_attention#7.2",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        ops=(
            "scaled_dot_product",
            "flash_attention",
            "efficient_attention",
            "cudnn_attention",
            "multi_head_attention",
        ),
        code=(ref.scaled_dot_product_attention, ref.attention_weights, ref_model.fused_attention),
        names=("scaled_dot_product_attention", "fused_attention", "attention_weights", "MultiheadAttention"),
    ),
    exercise=_exercise,
)
check = PART.check
