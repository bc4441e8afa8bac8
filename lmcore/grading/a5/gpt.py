"""A5, part 4: ``GPT(config, block_cls=Block)``.

Contract (``lmcore.model.GPT``): token embeddings ``transformer.wte`` plus learned position
embeddings ``transformer.wpe`` of positions 0 .. T-1, the blocks ``transformer.h``, a final
LayerNorm ``transformer.ln_f`` and ``lm_head`` (no bias) whose weight IS ``wte``'s (weight
tying; the order in which the two are created does not matter). GPT-2's parameter names, so
GPT-2-format weights load. Checked with lmcore's blocks: tying, the parameter count, then
inside the full-model host (logits, gradients of every parameter name, causality, training).
"""

import torch
from torch import Tensor, nn

from lmcore import model as ref
from lmcore.grading.common import attempt
from lmcore.grading.hosts import TINY, gpu_model_cases, judge_model, model_case, probe_model
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules


def cases(thorough: bool = False) -> dict:
    models = [model_case(0)] + (gpu_model_cases(0) if thorough else [])
    return dict(config=TINY, models=models, thorough=thorough)


def probe(cls, case: dict) -> dict:
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


def judge(case: dict, out: dict) -> Report:
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
    return report


# ------------------------------------------------------------------ known mistakes


class _Wrong(ref.GPT):
    mistake = ""

    def __init__(self, config, block_cls=ref.Block):
        super().__init__(config, block_cls=block_cls)
        if self.mistake == "untied":
            self.lm_head.weight = nn.Parameter(self.transformer.wte.weight.detach().clone())

    def forward(self, idx: Tensor, kv_cache=None) -> Tensor:
        t = self.transformer
        pos = torch.arange(idx.size(1), device=idx.device) + (self.mistake == "positions_from_1")
        x = t.wte(idx) if self.mistake == "no_position_embeddings" else t.wte(idx) + t.wpe(pos)
        for block in t.h:
            x = block(x)
        return self.lm_head(x if self.mistake == "no_final_layernorm" else t.ln_f(x))


def _wrong(mistake: str) -> type:
    return type(f"GPT_{mistake}", (_Wrong,), {"mistake": mistake})


MISTAKES = (
    Mistake(
        "no_position_embeddings",
        "position embeddings are missing: x = wte(idx) + wpe(positions)",
        _wrong("no_position_embeddings"),
    ),
    Mistake(
        "no_final_layernorm",
        "the final LayerNorm ln_f before lm_head is missing",
        _wrong("no_final_layernorm"),
    ),
    Mistake("positions_from_1", "positions start at 1; they are 0 .. T-1", _wrong("positions_from_1")),
    Mistake(
        "untied",
        "lm_head has its own weight: tie it with self.lm_head.weight = self.transformer.wte.weight, "
        "so the embedding and the output layer are one tensor (and one set of gradients)",
        _wrong("untied"),
    ),
)


def _exercise(cls):
    module = cls(TINY, block_cls=ref.Block)
    idx = torch.zeros(1, 4, dtype=torch.long)
    return lambda: module(idx)


PART = Part(
    id="gpt",
    names=("GPT",),
    reference=(ref.GPT,),
    section="ch08_gpt#8.1",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.GPT.forward,), names=("GPT", "GPT2LMHeadModel")),
    exercise=_exercise,
)
check = PART.check
