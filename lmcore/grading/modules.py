"""Checks for a student's modules: CausalSelfAttention, Block and GPT.

Each module is built with the REFERENCE parts below it (the reference attention
function inside a student's CausalSelfAttention, the reference attention module
inside a student's Block, ...), loaded with the reference weights, and compared
alone and inside lmcore's GPT. So a bug in one part never fails the check of
another.
"""

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmcore import model as ref
from lmcore.grading.common import (
    TINY,
    attempt,
    gpu_model_cases,
    judge_model,
    model_case,
    probe_model,
    randn,
)
from lmcore.grading.report import Report, describe_mismatch
from lmcore.tolerances import FP32_OP

BTC = ("batch", "position", "feature")


def _module_cases(reference_module: nn.Module, thorough: bool) -> dict:
    shapes = [(2, 8)] + ([(1, 1), (3, 13)] if thorough else [])
    ops = []
    for i, (B, T) in enumerate(shapes):
        x = randn(B, T, TINY.n_embd, seed=10 * i)
        cut = T // 2
        x_future = x.clone()
        x_future[:, cut + 1 :] += 1.0
        ops.append(dict(x=x, x_future=x_future, cut=cut, grad_out=randn(B, T, TINY.n_embd, seed=10 * i + 1)))
    models = [model_case(0)] + (gpu_model_cases(0) if thorough else [])
    return dict(config=TINY, state=reference_module.state_dict(), ops=ops, models=models, thorough=thorough)


def _run_module(module: nn.Module, op: dict) -> dict:
    x = op["x"].clone().requires_grad_()
    module.zero_grad()
    y = module(x)
    (y * op["grad_out"]).sum().backward()
    out = dict(y=y.detach(), dx=x.grad)
    out["grads"] = {n: p.grad.detach() for n, p in module.named_parameters() if p.grad is not None}
    with torch.no_grad():
        out["y_future"] = module(op["x_future"])
    return out


def _load(build, case: dict) -> nn.Module:
    module = build()
    try:
        module.load_state_dict(case["state"])
    except RuntimeError as exc:
        names = ", ".join(f"{n} {tuple(t.shape)}" for n, t in case["state"].items())
        raise RuntimeError(f"{exc}\nthe reference weights are: {names}") from None
    return module


def _probe_module(build, case: dict, build_in_gpt) -> dict:
    """Untrusted: build the module, load reference weights, run every op; then inside the GPT."""
    module, err = attempt(_load, build, case)
    out = dict(build_error=err, ops=[], models=[])
    if module is not None:
        for op in case["ops"]:
            result, error = attempt(_run_module, module, op)
            out["ops"].append(result or {"error": error})
    out["models"] = [
        probe_model(build_in_gpt, m, cached_generation=False, train=case["thorough"]) for m in case["models"]
    ]
    return out


def _judge_ops(report: Report, case: dict, out: dict, reference: nn.Module, mistakes) -> None:
    if out["build_error"]:
        report.add("builds and loads the reference weights", False, out["build_error"])
    for op, got in zip(case["ops"], out["ops"], strict=False):
        label = f"x of shape {tuple(op['x'].shape)}"
        if got.get("error"):
            report.add(f"[{label}] runs forward and backward", False, got["error"])
            continue
        expected = _run_module(reference, op)
        m = describe_mismatch(got["y"], expected["y"], FP32_OP, BTC)
        report.add(f"[{label}] output matches the reference", m is None, m or "")
        if m is not None:
            for why, wrong in mistakes(reference, op["x"]):
                if describe_mismatch(got["y"], wrong, FP32_OP) is None and why not in report.diagnosis:
                    report.diagnosis.append(why)
        bad = [
            f"{n}: {mm.splitlines()[0]}"
            for n, g in expected["grads"].items()
            if (mm := describe_mismatch(got["grads"].get(n, torch.full_like(g, float("nan"))), g, FP32_OP))
        ]
        mm = describe_mismatch(got["dx"], expected["dx"], FP32_OP, BTC)
        if mm:
            bad.insert(0, f"input x: {mm.splitlines()[0]}")
        report.add(f"[{label}] gradients (input and parameters) match", not bad, "\n".join(bad[:5]))
        cut = op["cut"]
        report.add_causal(
            f"[{label}] causal: changing x after position {cut} leaves outputs 0..{cut} unchanged",
            got["y_future"],
            got["y"],
            cut,
            1,
            FP32_OP,
            BTC,
        )
    for m_case, m_out in zip(case["models"], out["models"], strict=True):
        judge_model(report, m_case, m_out)


# ----------------------------------------------------------------- CausalSelfAttention


def _recording(calls: list):
    def attention(q, k, v, causal=True):
        calls.append(dict(q=q.detach().clone(), k=k.detach().clone(), v=v.detach().clone(), causal=causal))
        return ref.fused_attention(q, k, v, causal=causal)

    return attention


def self_attention_cases(thorough: bool = False) -> dict:
    torch.manual_seed(1)
    return _module_cases(ref.CausalSelfAttention(TINY), thorough)


def probe_self_attention(cls, case: dict) -> dict:
    calls: list = []
    out = _probe_module(
        lambda: cls(case["config"], attention=_recording(calls)),
        case,
        lambda c: ref.GPT(c, self_attention_cls=cls),
    )
    out["first_call"] = calls[0] if calls else None
    return out


def _self_attention_mistakes(module: ref.CausalSelfAttention, x: Tensor):
    B, T, C = x.shape
    H = module.n_head
    with torch.no_grad():
        q, k, v = module.c_attn(x).split(C, dim=2)
        heads = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
        y = ref.fused_attention(*heads)
        yield (
            "heads are merged in the wrong order: (B, H, T, hd) must go back to (B, T, H, hd) "
            "with .transpose(1, 2) before .view(B, T, C)",
            module.c_proj(y.reshape(B, T, C)),
        )
        yield "the output projection c_proj is missing", y.transpose(1, 2).reshape(B, T, C)
        wrong = [t.reshape(B, H, T, C // H) for t in (q, k, v)]
        yield (
            "heads are split in the wrong order: view (B, T, C) as (B, T, H, hd), then transpose to "
            "(B, H, T, hd); viewing it directly as (B, H, T, hd) mixes positions and heads",
            module.c_proj(ref.fused_attention(*wrong).transpose(1, 2).reshape(B, T, C)),
        )


def judge_self_attention(case: dict, out: dict) -> Report:
    report = Report("CausalSelfAttention")
    reference = ref.CausalSelfAttention(case["config"])
    reference.load_state_dict(case["state"])
    calls: list = []
    reference.attention = _recording(calls)
    if not out["build_error"] and case["ops"]:
        got = out["first_call"]
        report.add(
            "calls the attention function it was given (the `attention` argument)",
            got is not None,
            "self.attention(q, k, v, causal=True) was never called; use the function passed to "
            "__init__ rather than a global one, so it can be swapped",
        )
        if got is not None:
            with torch.no_grad():
                reference(case["ops"][0]["x"])
            want = calls[0]
            bad = []
            for n in "qkv":
                m = describe_mismatch(got[n], want[n], FP32_OP, ("batch", "head", "position", "feature"))
                if m:
                    bad.append(f"{n}: {m}")
            report.add(
                "splits q, k, v into heads of shape (B, n_head, T, head_dim) as the reference does",
                not bad,
                "\n".join(bad) + "\nq, k, v = c_attn(x).split(n_embd, dim=2), then each"
                " .view(B, T, n_head, head_dim).transpose(1, 2)",
            )
    _judge_ops(report, case, out, reference, _self_attention_mistakes)
    return report


def check_self_attention(cls, *, thorough: bool = False) -> Report:
    case = self_attention_cases(thorough)
    return judge_self_attention(case, probe_self_attention(cls, case))


# ------------------------------------------------------------------------------- Block


def block_cases(thorough: bool = False) -> dict:
    torch.manual_seed(2)
    case = _module_cases(ref.Block(TINY), thorough)
    # the same weights with both sublayers' output projections zeroed: a pre-LN residual
    # block must then return its input unchanged
    zeroed = {k: (torch.zeros_like(v) if ".c_proj." in k else v) for k, v in case["state"].items()}
    case["zeroed_state"] = zeroed
    return case


def probe_block(cls, case: dict) -> dict:
    def build():
        return cls(case["config"], ref.CausalSelfAttention)

    out = _probe_module(build, case, lambda c: ref.GPT(c, block_cls=cls))
    module, err = attempt(_load, build, {**case, "state": case["zeroed_state"]})
    if module is not None:
        with torch.no_grad():
            out["y_zeroed"], err = attempt(module, case["ops"][0]["x"])
    out["zeroed_error"] = err
    return out


def _block_mistakes(block: ref.Block, x: Tensor):
    with torch.no_grad():
        attn, mlp, ln_1, ln_2 = block.attn, block.mlp, block.ln_1, block.ln_2
        h = ln_1(x + attn(x))
        yield (
            "LayerNorm is applied after the residual add (post-LN, the original transformer); GPT-2 "
            "is pre-LN: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))",
            ln_2(h + mlp(h)),
        )
        h = attn(ln_1(x))
        yield (
            "the residual connection around attention is missing (x = x + attn(ln_1(x)))",
            h + mlp(ln_2(h)),
        )
        h = x + attn(ln_1(x))
        yield (
            "the residual connection around the MLP is missing (x = x + mlp(ln_2(x)))",
            mlp(ln_2(h)),
        )
        yield (
            "ln_1 is used before the MLP too; the MLP needs its own LayerNorm ln_2",
            h + mlp(ln_1(h)),
        )
        yield (
            "the MLP uses the exact (erf) GELU; GPT-2 uses the tanh approximation: "
            "F.gelu(x, approximate='tanh')",
            h + mlp.c_proj(F.gelu(mlp.c_fc(ln_2(h)))),
        )
        yield (
            "the MLP uses ReLU; GPT-2 uses GELU (tanh approximation)",
            h + mlp.c_proj(F.relu(mlp.c_fc(ln_2(h)))),
        )


def judge_block(case: dict, out: dict) -> Report:
    report = Report("Block")
    reference = ref.Block(case["config"])
    reference.load_state_dict(case["state"])
    if out.get("y_zeroed") is not None:
        x = case["ops"][0]["x"]
        m = describe_mismatch(out["y_zeroed"], x, FP32_OP, BTC, ("yours", "input"))
        report.add(
            "residual stream: with both sublayers' c_proj zeroed, the block returns its input",
            m is None,
            "a pre-LN block adds each sublayer's output to x and normalises only the sublayer's "
            "input, so zero sublayers leave x unchanged\n" + (m or ""),
        )
    _judge_ops(report, case, out, reference, _block_mistakes)
    return report


def check_block(cls, *, thorough: bool = False) -> Report:
    case = block_cases(thorough)
    return judge_block(case, probe_block(cls, case))


# --------------------------------------------------------------------------------- GPT


def gpt_cases(thorough: bool = False) -> dict:
    models = [model_case(0)] + (gpu_model_cases(0) if thorough else [])
    return dict(config=TINY, models=models, thorough=thorough)


def probe_gpt(cls, case: dict) -> dict:
    def build(config):
        return cls(config, block_cls=ref.Block)

    out = {}
    model, out["build_error"] = attempt(build, case["config"])
    if model is not None:
        transformer = getattr(model, "transformer", None)
        wte = transformer["wte"] if isinstance(transformer, nn.ModuleDict) and "wte" in transformer else None
        head = getattr(model, "lm_head", None)
        out["tied"] = bool(wte is not None and head is not None and head.weight is wte.weight)
        out["n_params"] = sum(p.numel() for p in model.parameters())
    out["models"] = [
        probe_model(build, m, cached_generation=False, train=case["thorough"]) for m in case["models"]
    ]
    return out


def judge_gpt(case: dict, out: dict) -> Report:
    report = Report("GPT")
    if out["build_error"]:
        report.add("builds", False, out["build_error"])
    else:
        report.add(
            "lm_head.weight is the same tensor as transformer.wte.weight (weight tying)",
            out["tied"],
            "set self.lm_head.weight = self.transformer.wte.weight after creating both",
        )
        expected = ref.count_parameters(case["config"])
        report.add(
            f"has {expected:,} parameters, as GPT-2's shape gives for this config",
            out["n_params"] == expected,
            f"yours has {out['n_params']:,}",
        )
    for m_case, m_out in zip(case["models"], out["models"], strict=True):
        judge_model(report, m_case, m_out)
        if "logits" in m_out:
            reference = ref.GPT(m_case["config"])
            reference.load_state_dict(m_case["state"])
            reference.to(m_case["device"])
            for why, wrong in _gpt_mistakes(reference, m_case["idx"]):
                if describe_mismatch(m_out["logits"], wrong, FP32_OP) is None and why not in report.diagnosis:
                    report.diagnosis.append(why)
    return report


def _gpt_mistakes(model: ref.GPT, idx: Tensor):
    t = model.transformer
    pos = torch.arange(idx.size(1), device=idx.device)
    with torch.no_grad():

        def rest(x, final_ln=True):
            for block in t.h:
                x = block(x)
            return model.lm_head(t.ln_f(x) if final_ln else x)

        yield "position embeddings are missing: x = wte(idx) + wpe(positions)", rest(t.wte(idx))
        yield (
            "the final LayerNorm ln_f before lm_head is missing",
            rest(t.wte(idx) + t.wpe(pos), final_ln=False),
        )
        yield "positions start at 1; they are 0 .. T-1", rest(t.wte(idx) + t.wpe(pos + 1))


def check_gpt(cls, *, thorough: bool = False) -> Report:
    case = gpt_cases(thorough)
    return judge_gpt(case, probe_gpt(cls, case))


# --------------------------------------------------------------------- all together


def assemble(attention, self_attention_cls, block_cls, gpt_cls):
    """A model factory using only the student's parts: their GPT of their Blocks of theirs."""
    attn_cls = functools.partial(self_attention_cls, attention=attention)
    return lambda config: gpt_cls(config, block_cls=functools.partial(block_cls, self_attention_cls=attn_cls))


def check_model(attention, self_attention_cls, block_cls, gpt_cls) -> Report:
    """The student's whole GPT (every part theirs) against the reference, including training."""
    report = Report("your GPT, assembled from your own parts")
    case = model_case(0)
    out = probe_model(
        assemble(attention, self_attention_cls, block_cls, gpt_cls),
        case,
        cached_generation=False,
        train=True,
    )
    judge_model(report, case, out)
    return report
