"""A7, part 5: ``train(model, data, config, steps, *, checkpoint_path=None, optimizer_cls,
lr_at, clip_grad_norm, get_batch) -> list[float]``.

Contract (``lmcore.train.train``, lmcore's Trainer as one call): build the optimizer as
optimizer_cls(param_groups(model, config.weight_decay), lr=, betas=, eps=) and the batch
generator from config.seed; each step sets every group's lr to lr_at(step, ...), averages the
gradients of grad_accum_steps micro-batches from get_batch, clips them with clip_grad_norm when
config.grad_clip is set, and steps the optimizer; ``steps`` counts the steps taken in total. A
file at checkpoint_path is resumed from (weights, optimizer state, step, generator) and the
checkpoint is saved after the last step; checkpoint_path=None reads and writes no file. The
student's loop gets lmcore's parts (recording how it calls them), so parts 1-4 cost nothing
here. Checked against lmcore's train: the losses of every step, the final weights, a run
stopped and resumed into other initial weights, no file without a path, and the calls; hidden:
gradient accumulation, clipping off, no warmup, a run that stops before max_steps.
"""

import math
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from lmcore import train as ref
from lmcore.batching import random_windows
from lmcore.grading.a7._common import (
    first_divergence,
    losses_apart,
    one_thread,
    tiny_gpt,
    tiny_state,
    weights,
)
from lmcore.grading.common import attempt, randint
from lmcore.grading.hosts import TINY
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.losses import lm_loss
from lmcore.schedule import lr_at as reference_lr_at
from lmcore.tolerances import FP32_TRAINING
from lmcore.train import TrainConfig, param_groups

BASE = dict(max_steps=8, batch_size=4, block_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=3)


def cases(thorough: bool = False) -> dict:
    # (config fields, steps in total, the step the interrupted run stops at)
    runs = [(dict(seed=0), 8, 4)]
    if thorough:
        runs += [
            (dict(seed=5, grad_accum_steps=2, grad_clip=0.5, weight_decay=0.2), 8, 4),
            (dict(seed=2, max_steps=8, warmup_steps=0, grad_clip=None, betas=(0.8, 0.9)), 6, 3),
        ]
    configs = [
        dict(
            config=TrainConfig(**{**BASE, **fields, "autocast_bf16": False, "progress": False}), fields=fields
        )
        | dict(steps=steps, stop=stop)
        for fields, steps, stop in runs
    ]
    return dict(
        state=tiny_state(0),
        other_state=tiny_state(99),  # a resumed run must load its weights from the checkpoint
        data=randint(TINY.vocab_size, 400, seed=3),
        runs=configs,
    )


class _Parts:
    """lmcore's optimizer, schedule, clipping and batches, noting how the loop calls them."""

    def __init__(self):
        self.calls = dict(optimizer=[], lr_at=[], clip=[], get_batch=[])

    def optimizer_cls(self, groups, **kwargs):
        groups = list(groups)
        self.calls["optimizer"].append(
            dict(
                groups=[[len(g["params"]), g.get("weight_decay")] for g in groups],
                kwargs=sorted(kwargs.items()),
            )
        )
        return torch.optim.AdamW(groups, **kwargs)

    def lr_at(self, step, max_steps, lr, min_lr, warmup_steps):
        self.calls["lr_at"].append([step, max_steps, lr, min_lr, warmup_steps])
        return reference_lr_at(step, max_steps, lr, min_lr, warmup_steps)

    def clip_grad_norm(self, parameters, max_norm):
        if max_norm != math.inf:  # lmcore's loop measures the norm with max_norm = inf when not clipping
            self.calls["clip"].append(max_norm)
        return nn.utils.clip_grad_norm_(parameters, max_norm)

    def get_batch(self, data, batch_size, block_size, generator):
        self.calls["get_batch"].append([batch_size, block_size, type(generator).__name__])
        return random_windows(data, batch_size, block_size, generator)

    def given(self) -> dict:
        return dict(
            optimizer_cls=self.optimizer_cls,
            lr_at=self.lr_at,
            clip_grad_norm=self.clip_grad_norm,
            get_batch=self.get_batch,
        )

    def record(self) -> dict:
        """The calls as plain data; lr_at by the steps it was asked for (asking twice is fine)."""
        return {**self.calls, "lr_at": sorted({tuple(c) for c in self.calls["lr_at"]})}


@one_thread
def _straight(train, case: dict, run: dict) -> dict:
    """From scratch to ``steps`` with checkpoint_path left out, in an empty working directory."""
    parts = _Parts()
    model = tiny_gpt(case["state"])
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            losses = train(model, case["data"], run["config"], run["steps"], **parts.given())
            files = sorted(os.listdir(tmp))
        finally:
            os.chdir(here)
    return dict(
        losses=torch.tensor([float(v) for v in losses]),
        final=weights(model),
        files=files,
        calls=parts.record(),
    )


@one_thread
def _resumed(train, case: dict, run: dict) -> dict:
    """Stopped at ``stop`` with a checkpoint, then resumed into a model with other weights."""
    given = _Parts().given()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.pt"
        first = train(
            tiny_gpt(case["state"]), case["data"], run["config"], run["stop"], checkpoint_path=path, **given
        )
        saved = path.exists()
        model = tiny_gpt(case["other_state"])
        second = train(model, case["data"], run["config"], run["steps"], checkpoint_path=path, **given)
    losses = torch.tensor([float(v) for v in list(first) + list(second)])
    return dict(losses=losses, final=weights(model), saved=saved)


def probe(train, case: dict) -> dict:
    """Untrusted: the student's loop, with lmcore's parts, straight through and interrupted."""
    runs = []
    for run in case["runs"]:
        straight, straight_error = attempt(_straight, train, case, run)
        resumed, resumed_error = attempt(_resumed, train, case, run)
        runs.append(
            dict(
                straight=straight, straight_error=straight_error, resumed=resumed, resumed_error=resumed_error
            )
        )
    return dict(runs=runs)


def _judge_calls(report: Report, label: str, run: dict, got: dict, want: dict) -> None:
    c = run["config"]
    report.add(
        f"{label} builds its optimizer once, as optimizer_cls(param_groups(model, {c.weight_decay}), "
        "lr=config.lr, betas=config.betas, eps=config.eps)",
        got["optimizer"] == want["optimizer"],
        f"optimizer_cls was called {len(got['optimizer'])} times: {got['optimizer'][:2]}\n"
        "use the optimizer_cls it is given (not your AdamW)",
    )
    report.add(
        f"{label} sets each step's lr from the lr_at it is given: lr_at(step, config.max_steps, "
        "config.lr, config.min_lr, config.warmup_steps)",
        got["lr_at"] == want["lr_at"],
        f"it asked for {got['lr_at'][:3]}{' ...' if len(got['lr_at']) > 3 else ''}",
    )
    report.add(
        f"{label} draws grad_accum_steps = {c.grad_accum_steps} batches a step from the get_batch it is "
        "given: get_batch(data, config.batch_size, config.block_size, generator)",
        got["get_batch"] == want["get_batch"],
        f"{len(got['get_batch'])} calls for {run['steps']} steps, e.g. {got['get_batch'][:1]}",
    )
    clip = (
        f"clips once a step with clip_grad_norm(model.parameters(), {c.grad_clip})"
        if c.grad_clip
        else ("does not clip: config.grad_clip is None")
    )
    report.add(
        f"{label} {clip}",
        got["clip"] == want["clip"],
        f"clip_grad_norm was called with max_norm {got['clip'][:3]}",
    )


def judge(case: dict, out: dict) -> Report:
    report = Report("train")
    want = probe(ref.train, case)
    for run, got, expected in zip(case["runs"], out["runs"], want["runs"], strict=True):
        steps, stop = run["steps"], run["stop"]
        label = "[" + ", ".join(f"{k}={v}" for k, v in run["fields"].items()) + f", {steps} steps]"
        straight, reference = got["straight"], expected["straight"]
        if got["straight_error"]:
            report.add(
                f"{label} runs {steps} steps with checkpoint_path left out (None)",
                False,
                got["straight_error"],
            )
        else:
            m = losses_apart(straight["losses"], reference["losses"], FP32_TRAINING)
            report.add(
                f"{label} the loss of each step matches lmcore's train (its Trainer)", m is None, m or ""
            )
            m = first_divergence(
                [straight["final"]], [reference["final"]], FP32_TRAINING, "weight", start=steps - 1
            )
            report.add(f"{label} the weights after {steps} steps match", m is None, m or "")
            report.add(
                f"{label} with checkpoint_path=None (the default) it writes no file",
                not straight["files"],
                f"it wrote {straight['files']}; save a checkpoint only when checkpoint_path is not None",
            )
            _judge_calls(report, label, run, straight["calls"], reference["calls"])
        name = (
            f"{label} stopped after step {stop} and resumed from checkpoint_path into a model with other "
            "weights, it equals the uninterrupted run (losses and final weights)"
        )
        if got["resumed_error"]:
            report.add(name, False, got["resumed_error"])
            continue
        resumed, reference = got["resumed"], expected["straight"]
        m = losses_apart(resumed["losses"], reference["losses"], FP32_TRAINING)
        w = first_divergence(
            [resumed["final"]], [reference["final"]], FP32_TRAINING, "weight", start=steps - 1
        )
        detail = "\n".join(x for x in (m, w) if x)
        if not resumed["saved"]:
            detail += f"\nno checkpoint was saved after {stop} steps: torch.save one to checkpoint_path"
        report.add(name, m is None and w is None and resumed["saved"], detail)
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """The training loop with one classic mistake; the others as the contract asks."""

    def train(
        model, data, config, steps, *, checkpoint_path=None, optimizer_cls, lr_at, clip_grad_norm, get_batch
    ):
        groups = param_groups(model, config.weight_decay)
        optimizer = (torch.optim.AdamW if mistake == "optimizer_cls_ignored" else optimizer_cls)(
            groups, lr=config.lr, betas=config.betas, eps=config.eps
        )
        generator = torch.Generator().manual_seed(config.seed)
        start = 0
        if (checkpoint_path is not None or mistake == "checkpoint_path_none_fails") and os.path.exists(
            checkpoint_path
        ):
            saved = torch.load(checkpoint_path, weights_only=True)
            model.load_state_dict(saved["model"])
            if mistake != "optimizer_not_restored":
                optimizer.load_state_dict(saved["optimizer"])
            if mistake != "rng_not_restored":
                generator.set_state(saved["generator"])
            start = 0 if mistake == "step_not_restored" else saved["step"]
        model.train()
        losses = []
        for step in range(start, steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config.max_steps, config.lr, config.min_lr, config.warmup_steps)
            model.zero_grad(set_to_none=True)
            total = 0.0
            for _ in range(config.grad_accum_steps):
                if mistake == "zero_grad_per_micro_batch":
                    model.zero_grad(set_to_none=True)
                x, y = get_batch(data, config.batch_size, config.block_size, generator)
                loss = lm_loss(model(x), y)
                (loss / config.grad_accum_steps).backward()
                total += loss.item()
            if config.grad_clip and mistake != "clip_not_called":
                clip_grad_norm(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(total / config.grad_accum_steps)
        if checkpoint_path is not None:
            state = dict(model=model.state_dict(), optimizer=optimizer.state_dict(), step=steps)
            torch.save({**state, "generator": generator.get_state()}, checkpoint_path)
        return losses

    return train


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, _wrong(mistake))


MISTAKES = (
    _mistake(
        "rng_not_restored",
        "after resuming, the batches are those of a freshly seeded generator: save "
        "generator.get_state() in the checkpoint and restore it with generator.set_state(...)",
    ),
    _mistake(
        "optimizer_not_restored",
        "after resuming, AdamW starts from empty moments: save optimizer.state_dict() "
        "in the checkpoint and restore it with optimizer.load_state_dict(...)",
    ),
    _mistake(
        "step_not_restored",
        "after resuming, the loop starts again at step 0: save the step count in the checkpoint and "
        "continue from it (the schedule and the number of steps left depend on it)",
    ),
    _mistake(
        "checkpoint_path_none_fails",
        "checkpoint_path=None (the default) fails: with None, neither look for a checkpoint nor save one",
    ),
    _mistake(
        "optimizer_cls_ignored",
        "the loop builds its own optimizer; build the one it is given: optimizer_cls(param_groups(model, "
        "config.weight_decay), lr=config.lr, betas=config.betas, eps=config.eps)",
    ),
    _mistake(
        "zero_grad_per_micro_batch",
        "the gradients are zeroed before every micro-batch, so only the last one counts; zero them once "
        "per step, before the grad_accum_steps micro-batches add theirs up",
    ),
    _mistake(
        "clip_not_called",
        "the gradients are never clipped: call clip_grad_norm(model.parameters(), config.grad_clip) "
        "before optimizer.step() when config.grad_clip is set",
    ),
)


def _exercise(train):
    case = cases(False)
    run = {**case["runs"][0], "steps": 2, "stop": 1}
    return lambda: _resumed(train, case, run)


PART = Part(
    id="training_loop",
    names=("train",),
    reference=(ref.train,),
    section="ch10_pretraining#10.11",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.Trainer, ref.train), names=("Trainer",)),
    exercise=_exercise,
)
check = PART.check
