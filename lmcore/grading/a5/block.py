"""A5, part 3: ``MLP(config)`` and ``Block(config, self_attention_cls=CausalSelfAttention)``.

Contract (``lmcore.model.Block``): a pre-LN residual block, x = x + attn(ln_1(x)) then
x = x + mlp(ln_2(x)), with LayerNorms of eps ``config.layer_norm_eps`` and GPT-2's MLP
c_proj(gelu_tanh(c_fc(x))) of width 4 n_embd. Checked with lmcore's attention module, the
reference weights loaded, alone (including a residual-stream test with both sublayers'
c_proj zeroed, and an input small enough that LayerNorm's eps matters) and inside the GPT.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmcore import model as ref
from lmcore.grading.common import attempt
from lmcore.grading.hosts import BTC, TINY, judge_module, load_module, module_cases, probe_module
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP


def cases(thorough: bool = False) -> dict:
    torch.manual_seed(2)
    case = module_cases(ref.Block(TINY), thorough)
    # the same weights with both sublayers' output projections zeroed: a pre-LN residual
    # block must then return its input unchanged
    case["zeroed_state"] = {
        k: (torch.zeros_like(v) if ".c_proj." in k else v) for k, v in case["state"].items()
    }
    return case


def probe(cls, case: dict) -> dict:
    def build():
        return cls(case["config"], ref.CausalSelfAttention)

    out = probe_module(build, case, lambda c: ref.GPT(c, block_cls=cls))
    module, err = attempt(load_module, build, {**case, "state": case["zeroed_state"]})
    if module is not None:
        with torch.no_grad():
            out["y_zeroed"], err = attempt(module, case["ops"][0]["x"])
    out["zeroed_error"] = err
    return out


def judge(case: dict, out: dict) -> Report:
    report = Report("Block")
    reference = ref.Block(case["config"])
    reference.load_state_dict(case["state"])
    name = "residual stream: with both sublayers' c_proj zeroed, the block returns its input"
    if out.get("y_zeroed") is not None:
        m = describe_mismatch(out["y_zeroed"], case["ops"][0]["x"], FP32_OP, BTC, ("yours", "input"))
        report.add(
            name,
            m is None,
            "a pre-LN block adds each sublayer's output to x and normalises only the sublayer's "
            "input, so zero sublayers leave x unchanged\n" + (m or ""),
        )
    elif out.get("zeroed_error"):
        report.add(name, False, out["zeroed_error"])
    judge_module(report, case, out, reference)
    return report


# ------------------------------------------------------------------ known mistakes


class _WrongMLP(ref.MLP):
    activation = staticmethod(lambda x: F.gelu(x, approximate="tanh"))

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.activation(self.c_fc(x)))


class _Wrong(ref.Block):
    mistake = ""

    def __init__(self, config, self_attention_cls=ref.CausalSelfAttention):
        super().__init__(config, self_attention_cls)
        if self.mistake == "gelu_exact":
            self.mlp.__class__ = type("MLP_gelu_exact", (_WrongMLP,), {"activation": staticmethod(F.gelu)})
        elif self.mistake == "relu":
            self.mlp.__class__ = type("MLP_relu", (_WrongMLP,), {"activation": staticmethod(F.relu)})
        elif self.mistake == "layernorm_no_eps":
            self.ln_1.eps = self.ln_2.eps = 0.0

    def forward(self, x: Tensor, kv_cache=None) -> Tensor:
        attn, mlp, ln_1, ln_2 = self.attn, self.mlp, self.ln_1, self.ln_2
        if self.mistake == "post_ln":
            x = ln_1(x + attn(x))
            return ln_2(x + mlp(x))
        h = attn(ln_1(x)) if self.mistake == "no_attention_residual" else x + attn(ln_1(x))
        if self.mistake == "no_mlp_residual":
            return mlp(ln_2(h))
        if self.mistake == "ln_1_reused":
            return h + mlp(ln_1(h))
        return h + mlp(ln_2(h))


def _wrong(mistake: str) -> type:
    return type(f"Block_{mistake}", (_Wrong,), {"mistake": mistake})


MISTAKES = (
    Mistake(
        "post_ln",
        "LayerNorm is applied after the residual add (post-LN, the original transformer); GPT-2 is "
        "pre-LN: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))",
        _wrong("post_ln"),
    ),
    Mistake(
        "no_attention_residual",
        "the residual connection around attention is missing (x = x + attn(ln_1(x)))",
        _wrong("no_attention_residual"),
    ),
    Mistake(
        "no_mlp_residual",
        "the residual connection around the MLP is missing (x = x + mlp(ln_2(x)))",
        _wrong("no_mlp_residual"),
    ),
    Mistake(
        "ln_1_reused",
        "ln_1 is used before the MLP too; the MLP needs its own LayerNorm ln_2",
        _wrong("ln_1_reused"),
    ),
    Mistake(
        "gelu_exact",
        "the MLP uses the exact (erf) GELU; GPT-2 uses the tanh approximation: F.gelu(x, approximate='tanh')",
        _wrong("gelu_exact"),
    ),
    Mistake("relu", "the MLP uses ReLU; GPT-2 uses GELU (tanh approximation)", _wrong("relu")),
    Mistake(
        "layernorm_no_eps",
        "LayerNorm without eps: (x - mean) / sqrt(var) blows up where the variance is tiny (the "
        "check's input of std 1e-3 shows it); divide by sqrt(var + eps) with eps = "
        "config.layer_norm_eps, as nn.LayerNorm(n_embd, eps=config.layer_norm_eps) does",
        _wrong("layernorm_no_eps"),
    ),
)


def _exercise(cls):
    from lmcore.grading.common import randn

    module = cls(TINY, ref.CausalSelfAttention)
    x = randn(1, 4, TINY.n_embd, seed=4)
    return lambda: module(x)


PART = Part(
    id="block",
    names=("Block",),
    reference=(ref.Block,),
    section="ch07_attention#7.10",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        ops=("transformer_encoder_layer",),
        code=(ref.Block.forward, ref.MLP.forward, nn.TransformerEncoderLayer.forward),
        names=("Block", "MLP", "TransformerEncoderLayer", "TransformerDecoderLayer"),
    ),
    exercise=_exercise,
)
check = PART.check
