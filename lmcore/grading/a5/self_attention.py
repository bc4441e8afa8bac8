"""A5, part 2: ``CausalSelfAttention(config, attention=scaled_dot_product_attention)``.

Contract (``lmcore.model.CausalSelfAttention``): ``c_attn`` maps x (B, T, C) to q, k, v for
all heads at once; each is viewed as (B, T, n_head, C // n_head) and transposed to
(B, n_head, T, head_dim); the ``attention`` function given to ``__init__`` combines them
(called once with every head, or once per head); the heads go back side by side to
(B, T, C) and through ``c_proj``. Checked with lmcore's attention function, with the
reference weights loaded, alone and inside lmcore's GPT.
"""

import torch
from torch import Tensor

from lmcore import model as ref
from lmcore.grading.hosts import TINY, judge_module, module_cases, probe_module
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP

MAX_CALLS = 64  # attention calls recorded on the first input (one per head at most)


def _recording(calls: list):
    """lmcore's attention, recording the q, k, v it is called with."""

    def attention(q, k, v, causal=True):
        if len(calls) < MAX_CALLS:
            calls.append(dict(q=q.detach().clone(), k=k.detach().clone(), v=v.detach().clone()))
        return ref.fused_attention(q, k, v, causal=causal)

    return attention


def cases(thorough: bool = False) -> dict:
    torch.manual_seed(1)
    return module_cases(ref.CausalSelfAttention(TINY), thorough)


def probe(cls, case: dict) -> dict:
    calls: list = []
    out = probe_module(
        lambda: cls(case["config"], attention=_recording(calls)),
        case,
        lambda c: ref.GPT(c, self_attention_cls=cls),
    )
    out["calls"] = calls[: _first_forward(calls, case)]
    return out


def _first_forward(calls: list, case: dict) -> int:
    """How many recorded calls the first forward made: its calls cover the T positions of
    x once (one call with every head, or one per head)."""
    B, T, C = case["ops"][0]["x"].shape
    n, covered = 0, 0
    for call in calls:
        covered += call["q"].numel()
        n += 1
        if covered >= B * T * C:
            break
    return n


def _heads(calls: list, B: int, T: int, name: str) -> Tensor:
    """The calls' q (or k, v) with the heads side by side: (B, n_head, T, head_dim); the first
    call's as it is when the calls do not stack that way."""
    try:
        return torch.cat([c[name].reshape(B, -1, T, c[name].size(-1)) for c in calls], dim=1)
    except RuntimeError:
        return calls[0][name]


def judge(case: dict, out: dict) -> Report:
    report = Report("CausalSelfAttention")
    reference = ref.CausalSelfAttention(case["config"])
    reference.load_state_dict(case["state"])
    if not out["build_error"] and out["ops"] and not out["ops"][0].get("error"):
        report.add(
            "calls the attention function it was given (the `attention` argument)",
            bool(out["calls"]),
            "self.attention(q, k, v, causal=True) was never called; use the function passed to "
            "__init__ rather than a global one, so it can be swapped",
        )
        if out["calls"]:
            calls: list = []
            reference.attention = _recording(calls)
            x = case["ops"][0]["x"]
            with torch.no_grad():
                reference(x)
            B, T, _ = x.shape
            bad = []
            for n in "qkv":
                got = _heads(out["calls"], B, T, n)
                m = describe_mismatch(got, calls[0][n], FP32_OP, ("batch", "head", "position", "feature"))
                if m:
                    bad.append(f"{n}: {m}")
            report.add(
                "splits q, k, v into heads of shape (B, n_head, T, head_dim) as the reference does",
                not bad,
                "\n".join(bad) + "\nq, k, v = c_attn(x).split(n_embd, dim=2), then each"
                " .view(B, T, n_head, head_dim).transpose(1, 2)",
            )
    judge_module(report, case, out, reference)
    return report


# ------------------------------------------------------------------ known mistakes


class _Wrong(ref.CausalSelfAttention):
    mistake = ""

    def forward(self, x: Tensor, kv_cache=None) -> Tensor:
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        if self.mistake == "heads_split_wrong":  # viewed straight as (B, H, T, hd)
            q, k, v = (t.reshape(B, H, T, C // H) for t in (q, k, v))
        else:
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        y = self.attention(q, k, v, causal=True)
        if self.mistake == "heads_merged_wrong":  # (B, H, T, hd) flattened without the transpose
            return self.c_proj(y.reshape(B, T, C))
        y = y.transpose(1, 2).reshape(B, T, C)
        return y if self.mistake == "no_output_projection" else self.c_proj(y)


def _wrong(mistake: str) -> type:
    return type(f"CausalSelfAttention_{mistake}", (_Wrong,), {"mistake": mistake})


MISTAKES = (
    Mistake(
        "heads_merged_wrong",
        "heads are merged in the wrong order: (B, H, T, hd) must go back to (B, T, H, hd) with "
        ".transpose(1, 2) before .view(B, T, C)",
        _wrong("heads_merged_wrong"),
    ),
    Mistake(
        "no_output_projection", "the output projection c_proj is missing", _wrong("no_output_projection")
    ),
    Mistake(
        "heads_split_wrong",
        "heads are split in the wrong order: view (B, T, C) as (B, T, H, hd), then transpose to "
        "(B, H, T, hd); viewing it directly as (B, H, T, hd) mixes positions and heads",
        _wrong("heads_split_wrong"),
    ),
)


def _exercise(cls):
    from lmcore.attention import scaled_dot_product_attention
    from lmcore.grading.common import randn

    module = cls(TINY, attention=scaled_dot_product_attention)
    x = randn(1, 4, TINY.n_embd, seed=4)
    return lambda: module(x)


PART = Part(
    id="self_attention",
    names=("CausalSelfAttention",),
    reference=(ref.CausalSelfAttention,),
    section="ch07_attention#7.4",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        ops=("multi_head_attention",),
        code=(ref.CausalSelfAttention.forward, torch.nn.MultiheadAttention.forward),
        names=("CausalSelfAttention", "MultiheadAttention", "multi_head_attention_forward"),
    ),
    exercise=_exercise,
)
check = PART.check
