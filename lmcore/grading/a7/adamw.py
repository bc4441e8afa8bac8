"""A7, part 1: ``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)``.

Contract (``torch.optim.AdamW``, foreach or not): a ``torch.optim.Optimizer`` over tensors or
parameter groups; ``step()`` reads lr, betas, eps and weight_decay from each group at every
step, skips a parameter whose .grad is None, decays the weights apart from the Adam update
(p <- p (1 - lr wd)), bias-corrects m and v by this parameter's own step count and divides by
sqrt(v_hat) + eps; m, v and the step count live in ``self.state[p]``, so ``state_dict()`` /
``load_state_dict()`` carry a run across a checkpoint. Checked step by step against torch
(groups with their own lr and weight decay, gradients small enough that eps matters, a resume
through state_dict, None gradients, the constructor's defaults) and inside lmcore's Trainer,
weights compared after every step (and, hidden, across Trainer.resume).
"""

import importlib
import io
import tempfile
from pathlib import Path

import torch
from torch import nn

from lmcore.grading.a7._common import (
    first_divergence,
    losses_apart,
    one_thread,
    tiny_gpt,
    tiny_state,
    weights,
)
from lmcore.grading.common import attempt, randint, randn
from lmcore.grading.hosts import TINY
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP, FP32_TRAINING
from lmcore.train import TrainConfig, Trainer

PARAM_SHAPES = [(3, 4), (5,), (2, 3, 2)]
TRAINER_STEPS, TRAINER_RESUME_AT = 4, 2


def _run(i: int, steps: int, scales, **settings) -> dict:
    """A step-by-step run: parameters, one gradient per step and parameter (N(0, 1) times the
    parameter's scale), the lr schedule a trainer would set, and the optimizer's settings."""
    run = dict(
        params=[randn(*s, seed=100 * i + j) for j, s in enumerate(PARAM_SHAPES)],
        grads=[
            [
                scale * randn(*s, seed=1000 + 100 * i + 10 * t + j)
                for j, (s, scale) in enumerate(zip(PARAM_SHAPES, scales, strict=True))
            ]
            for t in range(steps)
        ],
        none_grad=[],  # (step, parameter) left without a gradient
        resume_at=None,  # after this step: state_dict() into a new optimizer, which goes on
        **settings,
    )
    return run


def cases(thorough: bool = False) -> dict:
    # parameter 1's gradients are tiny: v_hat ~ 1e-10, so eps = 1e-8 changes sqrt(v_hat) + eps
    runs = [
        _run(
            0,
            5,
            (1.0, 1e-5, 1.0),
            kwargs=dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
            groups=[
                dict(indices=[0, 1], weight_decay=0.1, lr_scale=1.0),
                dict(indices=[2], weight_decay=0.0, lr_scale=0.5),
            ],
            lrs=[1e-2 * (1.0 - 0.1 * t) for t in range(5)],
        )
    ]
    runs[0]["resume_at"] = 2
    if thorough:
        other = _run(
            1,
            12,
            (1.0, 1e-4, 0.1),
            kwargs=dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3),
            groups=[dict(indices=[0, 1, 2], weight_decay=None, lr_scale=1.0)],  # the constructor's decay
            lrs=[3e-2 * (1.0 - 0.05 * t) for t in range(12)],
        )
        other["none_grad"] = [(2, 1), (3, 1)]
        other["resume_at"] = 7
        defaults = _run(2, 6, (1.0, 1e-5, 1.0), kwargs={}, groups=None, lrs=None)  # AdamW(params) alone
        runs += [other, defaults]
    trainer = dict(state=tiny_state(0), other_state=tiny_state(1), data=randint(TINY.vocab_size, 400, seed=2))
    return dict(runs=runs, trainer=trainer, thorough=thorough)


def _label(run: dict) -> str:
    if run["groups"] is None:
        return f"[{len(run['grads'])} steps, AdamW(params) with its defaults]"
    settings = ", ".join(f"{k}={v}" for k, v in run["kwargs"].items())
    groups = ", ".join(
        f"({'default' if g['weight_decay'] is None else g['weight_decay']}, {g['lr_scale']})"
        for g in run["groups"]
    )
    return f"[{len(run['grads'])} steps, {settings}; groups (weight_decay, lr factor): {groups}]"


def _optimizer(cls, run: dict, params: list):
    if run["groups"] is None:
        return cls(params)
    groups = []
    for g in run["groups"]:
        group = {"params": [params[i] for i in g["indices"]]}
        if g["weight_decay"] is not None:
            group["weight_decay"] = g["weight_decay"]
        groups.append(group)
    return cls(groups, **run["kwargs"])


def _steps(optimizer, run: dict, params: list, steps: range) -> list:
    after = []
    for t in steps:
        for j, p in enumerate(params):
            p.grad = None if (t, j) in run["none_grad"] else run["grads"][t][j].clone()
        if run["lrs"] is not None:  # as a trainer does: every group's lr, every step
            for g, group in zip(run["groups"], optimizer.param_groups, strict=True):
                group["lr"] = run["lrs"][t] * g["lr_scale"]
        optimizer.step()
        after.append([p.detach().clone() for p in params])
    return after


def _run_optimizer(cls, run: dict) -> dict:
    """The parameters after each step; with ``resume_at``, also those of a new optimizer that
    loads the state_dict() of this one after step resume_at and takes the remaining steps."""
    params = [nn.Parameter(p.clone()) for p in run["params"]]
    optimizer = _optimizer(cls, run, params)
    k, n = run["resume_at"], len(run["grads"])
    if k is None:
        return dict(params=_steps(optimizer, run, params, range(n)))
    before = _steps(optimizer, run, params, range(k))
    saved = io.BytesIO()  # as a checkpoint does: a copy, loadable with weights_only=True
    torch.save(optimizer.state_dict(), saved)
    after = _steps(optimizer, run, params, range(k, n))
    copies = [nn.Parameter(p.detach().clone()) for p in before[-1]]
    resumed = _optimizer(cls, run, copies)
    saved.seek(0)
    resumed.load_state_dict(torch.load(saved, weights_only=True))
    return dict(params=before + after, resumed=_steps(resumed, run, copies, range(k, n)))


@one_thread
def _trainer_run(cls, trainer: dict, resume: bool) -> dict:
    """Losses and weights after each step of lmcore's Trainer with ``cls`` as its optimizer;
    with ``resume``, also those of a Trainer resumed from a checkpoint saved after step 2."""
    config = TrainConfig(
        max_steps=TRAINER_STEPS,
        batch_size=4,
        block_size=8,
        lr=1e-2,
        min_lr=1e-3,
        warmup_steps=1,
        progress=False,
    )
    run = Trainer(tiny_gpt(trainer["state"]), trainer["data"], config=config, optimizer_factory=cls)
    out = dict(states=[])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        for _ in range(TRAINER_STEPS):
            run.fit(1)
            out["states"].append(weights(run.model))
            if resume and run.step == TRAINER_RESUME_AT:
                run.save_checkpoint(path)
        out["losses"] = torch.tensor(run.history["loss"])
        if resume:
            resumed = Trainer.resume(
                path, tiny_gpt(trainer["other_state"]), trainer["data"], optimizer_factory=cls
            )
            out["resumed_states"] = []
            for _ in range(TRAINER_STEPS - TRAINER_RESUME_AT):
                resumed.fit(1)
                out["resumed_states"].append(weights(resumed.model))
    return out


def probe(cls, case: dict) -> dict:
    """Untrusted: the student's optimizer on every run, then inside lmcore's Trainer."""
    runs = []
    for run in case["runs"]:
        result, error = attempt(_run_optimizer, cls, run)
        runs.append({**(result or {}), "error": error})
    trainer, trainer_error = attempt(_trainer_run, cls, case["trainer"], case["thorough"])
    return dict(runs=runs, trainer=trainer, trainer_error=trainer_error)


def _reference(*args, **kwargs):
    return torch.optim.AdamW(*args, **kwargs, foreach=False)


def judge(case: dict, out: dict) -> Report:
    report = Report("AdamW")
    want = probe(_reference, case)
    for run, got, expected in zip(case["runs"], out["runs"], want["runs"], strict=True):
        label = _label(run)
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        m = first_divergence(got["params"], expected["params"], FP32_OP, "parameter")
        report.add(f"{label} parameters match torch.optim.AdamW after every step", m is None, m or "")
        if run["resume_at"] is not None:
            k = run["resume_at"]
            m = first_divergence(got["resumed"], got["params"][k:], FP32_OP, "parameter", start=k)
            report.add(
                f"{label} a new optimizer that loads state_dict() saved after step {k} takes the same "
                "steps as the one that went on",
                m is None,
                (m or "") + "\nkeep m, v and the step count in self.state[p]: state_dict() saves only that",
            )
        for t, j in run["none_grad"]:
            report.add(
                f"{label} parameter {j}, whose .grad is None at step {t + 1}, is left untouched there",
                torch.equal(got["params"][t][j], got["params"][t - 1][j]),
                "skip parameters with p.grad is None: no weight decay, no change to their state",
            )
    if out["trainer_error"]:
        report.add("runs inside lmcore's Trainer (optimizer_factory)", False, out["trainer_error"])
        return report
    got, expected = out["trainer"], want["trainer"]
    m = losses_apart(got["losses"], expected["losses"], FP32_TRAINING)
    report.add(
        f"inside lmcore's Trainer: the loss of each of {TRAINER_STEPS} steps matches", m is None, m or ""
    )
    m = first_divergence(got["states"], expected["states"], FP32_TRAINING, "weight")
    report.add("inside lmcore's Trainer: the weights match after every step", m is None, m or "")
    if "resumed_states" in expected:
        m = first_divergence(
            got.get("resumed_states", []),
            got["states"][TRAINER_RESUME_AT:],
            FP32_TRAINING,
            "weight",
            start=TRAINER_RESUME_AT,
        )
        report.add(
            f"inside lmcore's Trainer: resumed from a checkpoint after step {TRAINER_RESUME_AT} "
            "(torch.save / torch.load(weights_only=True)), it takes the same steps",
            m is None,
            (m or "") + "\nkeep m, v and the step count in self.state[p]: state_dict() saves only that",
        )
    return report


# ------------------------------------------------------------------ known mistakes


class _Wrong(torch.optim.Optimizer):
    """AdamW with one classic mistake; with ``mistake = ""`` it is correct."""

    mistake = ""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.moments = {}  # state_outside_self_state keeps m, v, t here
        self.t = 0  # global_step_count: one count for every parameter

    @torch.no_grad()
    def step(self):
        self.t += 1
        for group in self.param_groups:
            settings = self.defaults if self.mistake == "lr_not_read_from_group" else group
            lr, (beta1, beta2), eps = settings["lr"], group["betas"], group["eps"]
            wd = (self.defaults if self.mistake == "weight_decay_from_defaults" else group)["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    if self.mistake == "none_grad_decayed":
                        p.mul_(1 - lr * wd)
                    continue
                state = (
                    self.moments.setdefault(p, {})
                    if self.mistake == "state_outside_self_state"
                    else self.state[p]
                )
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
                t = self.t if self.mistake == "global_step_count" else state["step"]
                g = p.grad + wd * p if self.mistake == "adam_plus_l2" else p.grad
                if self.mistake != "adam_plus_l2":
                    p.mul_(1 - (1.0 if self.mistake == "decay_not_scaled_by_lr" else lr) * wd)
                state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
                state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat, v_hat = state["m"], state["v"]
                if self.mistake != "no_bias_correction":
                    m_hat, v_hat = m_hat / (1 - beta1**t), v_hat / (1 - beta2**t)
                denom = (v_hat + eps).sqrt() if self.mistake == "eps_inside_sqrt" else v_hat.sqrt() + eps
                p.sub_(lr * m_hat / denom)


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, type(f"AdamW_{mistake}", (_Wrong,), {"mistake": mistake}))


MISTAKES = (
    _mistake(
        "adam_plus_l2",
        "weight decay is added to the gradient (Adam + L2): AdamW decouples it, "
        "p <- p - lr * weight_decay * p, applied to the weights apart from the Adam update",
    ),
    _mistake(
        "no_bias_correction",
        "bias correction is missing: divide m by (1 - beta1**t) and v by (1 - beta2**t), "
        "t counting this parameter's steps from 1",
    ),
    _mistake(
        "decay_not_scaled_by_lr",
        "the weight decay is not scaled by the learning rate: p <- p * (1 - lr * weight_decay)",
    ),
    _mistake(
        "eps_inside_sqrt",
        "eps is added inside the square root, sqrt(v_hat + eps); AdamW divides by sqrt(v_hat) + eps. "
        "The two agree for gradients near 1 and differ where gradients are small (v_hat near eps)",
    ),
    _mistake(
        "lr_not_read_from_group",
        "the learning rate is the constructor's, not group['lr']: a trainer sets group['lr'] every "
        "step (the schedule), and each group may have its own; read it inside step()",
    ),
    _mistake(
        "weight_decay_from_defaults",
        "every group is decayed with the constructor's weight_decay; read group['weight_decay'], "
        "so the group of biases and LayerNorm gains (weight_decay=0) is not decayed",
    ),
    _mistake(
        "state_outside_self_state",
        "m, v and the step count are kept outside self.state[p], so state_dict() does not save them and "
        "a resumed optimizer starts from empty moments; store them in self.state[p]",
    ),
    _mistake(
        "none_grad_decayed",
        "a parameter whose .grad is None is still decayed; skip it entirely (continue before the decay)",
    ),
    _mistake(
        "global_step_count",
        "one step count for every parameter: bias correction uses each parameter's own count "
        "(self.state[p]['step']), which lags when a parameter had no gradient at some step",
    ),
)


def _exercise(cls):
    run = _run(0, 1, (1.0, 1e-5, 1.0), kwargs=dict(lr=1e-2), groups=None, lrs=None)
    return lambda: _run_optimizer(cls, run)


PART = Part(
    id="adamw",
    names=("AdamW",),
    reference=(torch.optim.AdamW,),
    section="ch10_pretraining#10.7",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        ops=("adam", "_foreach"),
        code=(
            importlib.import_module("torch.optim.adam"),
            importlib.import_module("torch.optim.adamw"),
            torch.optim.Adam,
            torch.optim.AdamW,
        ),
        names=("Adam", "AdamW", "adam", "adamw", "_fused_adamw_"),
    ),
    exercise=_exercise,
)
check = PART.check
