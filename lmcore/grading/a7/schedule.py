"""A7, part 2: ``lr_at(step, max_steps, lr, min_lr, warmup_steps) -> float``.

Contract (``lmcore.schedule.lr_at``): linear warmup lr * (step + 1) / warmup_steps for
step < warmup_steps, then a half cosine from lr at step warmup_steps to min_lr at step
max_steps; warmup_steps=0 means no warmup; a step outside [0, max_steps] raises ValueError.
Checked at every step of several schedules (with and without warmup, warmup ending one step
before max_steps, max_steps=1, min_lr=lr), the boundary steps named, and the two steps just
outside the range.
"""

import math

import torch

from lmcore import schedule as ref
from lmcore.grading.common import attempt
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP

ARGS = ("max_steps", "lr", "min_lr", "warmup_steps")


def cases(thorough: bool = False) -> dict:
    schedules = [
        dict(max_steps=20, lr=1e-3, min_lr=1e-4, warmup_steps=5),
        dict(max_steps=10, lr=6e-4, min_lr=0.0, warmup_steps=0),
    ]
    if thorough:
        schedules += [
            dict(max_steps=100, lr=1.0, min_lr=0.1, warmup_steps=10),
            dict(max_steps=7, lr=3e-4, min_lr=3e-5, warmup_steps=6),  # one decay step
            dict(max_steps=1, lr=2.0, min_lr=0.5, warmup_steps=0),
            dict(max_steps=8, lr=0.3, min_lr=0.3, warmup_steps=2),  # constant after warmup
        ]
    return dict(schedules=schedules)


def probe(lr_at, case: dict) -> dict:
    """Untrusted: the rate at every step 0 .. max_steps, and what steps -1 and max_steps + 1 give."""
    out = []
    for s in case["schedules"]:
        args = [s[k] for k in ARGS]
        lrs, error = attempt(lambda args=args: [float(lr_at(t, *args)) for t in range(args[0] + 1)])
        outside = []
        for step in (-1, s["max_steps"] + 1):
            value, outside_error = attempt(lambda step=step, args=args: float(lr_at(step, *args)))
            outside.append(dict(step=step, value=value, error=outside_error))
        out.append(dict(lrs=lrs, error=error, outside=outside))
    return dict(schedules=out)


def _boundaries(s: dict) -> dict[int, str]:
    w = s["warmup_steps"]
    named = {0: "first step"}
    if w:
        named.update({w - 1: "last warmup step: lr reached", w: "first decay step: lr"})
    named[s["max_steps"]] = "step max_steps: min_lr"
    return dict(sorted(named.items()))


def judge(case: dict, out: dict) -> Report:
    report = Report("lr_at")
    for s, got in zip(case["schedules"], out["schedules"], strict=True):
        label = "[" + ", ".join(f"{k}={v}" for k, v in s.items()) + "]"
        every = f"{label} every step 0 .. {s['max_steps']} matches"
        if got["error"]:
            report.add(f"{label} runs for steps 0 .. max_steps", False, got["error"])
            report.skip(every, "not checked: a call raised")
        else:
            want = torch.tensor([ref.lr_at(t, **s) for t in range(s["max_steps"] + 1)], dtype=torch.float64)
            mine = torch.tensor(got["lrs"], dtype=torch.float64)
            bad = [
                f"step {t} ({what}): yours {mine[t].item():.6g}, expected {want[t].item():.6g}"
                for t, what in _boundaries(s).items()
                if describe_mismatch(mine[t] / s["lr"], want[t] / s["lr"], FP32_OP) is not None
            ]
            report.add(f"{label} boundary steps {list(_boundaries(s))}", not bad, "\n".join(bad))
            m = describe_mismatch(
                mine / s["lr"], want / s["lr"], FP32_OP, ("step",), ("yours / lr", "expected / lr")
            )
            report.add(every, m is None, m or "")
        wrong = [
            f"step {o['step']}: " + (o["error"] or f"returned {o['value']:.6g}")
            for o in got["outside"]
            if not (o["error"] or "").startswith("ValueError")
        ]
        report.add(
            f"{label} steps -1 and {s['max_steps'] + 1} (outside 0 .. max_steps) raise ValueError",
            not wrong,
            "\n".join(wrong) + "\ncheck 0 <= step <= max_steps first and raise ValueError otherwise",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """A schedule with one classic mistake; the others as the contract asks."""

    def lr_at(step, max_steps, lr, min_lr, warmup_steps):
        if not 0 <= step <= max_steps and mistake != "no_step_range_check":
            raise ValueError(f"step must be in [0, {max_steps}], got {step}")
        in_warmup = step <= warmup_steps if mistake == "warmup_includes_step_w" else step < warmup_steps
        if in_warmup:
            return lr * (step if mistake == "warmup_off_by_one" else step + 1) / warmup_steps
        start = 0 if mistake == "cosine_over_max_steps" else warmup_steps
        end = max_steps - 1 if mistake == "decay_ends_early" else max_steps
        progress = (step - start) / (end - start)
        floor = 0.0 if mistake == "no_min_lr" else min_lr
        return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - floor)

    return lr_at


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, _wrong(mistake))


MISTAKES = (
    _mistake(
        "warmup_off_by_one",
        "warmup is off by one: step 0 gets lr * 1 / warmup_steps (not 0), so the peak lr is "
        "reached at step warmup_steps - 1: lr * (step + 1) / warmup_steps",
    ),
    _mistake(
        "warmup_includes_step_w",
        "step warmup_steps is still in the warmup (step <= warmup_steps): the warmup is steps "
        "0 .. warmup_steps - 1, and the cosine starts at step warmup_steps with lr",
    ),
    _mistake(
        "cosine_over_max_steps",
        "the cosine runs over all max_steps; it must start after warmup: "
        "progress = (step - warmup_steps) / (max_steps - warmup_steps)",
    ),
    _mistake(
        "decay_ends_early",
        "the cosine reaches min_lr at step max_steps - 1; it ends at step max_steps: "
        "progress = (step - warmup_steps) / (max_steps - warmup_steps)",
    ),
    _mistake(
        "no_min_lr",
        "the cosine decays to 0, not to min_lr: min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr)",
    ),
    _mistake(
        "no_step_range_check",
        "a step outside 0 .. max_steps returns a rate; raise ValueError for it",
    ),
)


PART = Part(
    id="schedule",
    names=("lr_at",),
    reference=(ref.lr_at,),
    section="ch10_pretraining#10.7",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.lr_at,)),
)
check = PART.check
