"""Checks of assignment A7 (training): AdamW, the learning-rate schedule, gradient
clipping, random batches and the training loop with checkpoints.

Each check follows cases -> probe (untrusted) -> judge (trusted); see ``common``.
The references are torch's (``torch.optim.AdamW``, ``clip_grad_norm_``) and
lmcore's (``lr_at``, ``random_windows``, ``Trainer``). A student's training loop
is run with the reference optimizer, schedule, clipping and batches passed in, so
a mistake in parts 1-4 never costs part 5.
"""

import functools
import importlib
import inspect
import math
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad as torch_clip_grad

from lmcore import train as ref_train
from lmcore.batching import random_windows
from lmcore.grading.common import attempt, randint, randn
from lmcore.grading.delegation import trace
from lmcore.grading.hosts import TINY
from lmcore.grading.part import Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.model import GPT
from lmcore.tolerances import FP32_OP, FP32_TRAINING

# ------------------------------------------------------------------------- helpers


def _diagnose(report: Report, why: str) -> None:
    if why not in report.diagnosis:
        report.diagnosis.append(why)


def one_thread(fn):
    """Run ``fn`` with one intra-op thread: a tiny model trains up to ~100x faster so on a
    busy machine (threads waiting on each other cost far more than its tiny matmuls)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


# ------------------------------------------------------------------ anti-delegation


def _own_functions(*modules) -> dict:
    """Code objects of the functions defined in ``modules`` (not those they import)."""
    found = {}
    for module in modules:
        for name, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                found[inspect.unwrap(fn).__code__] = f"{module.__name__}.{name}"
    return found


# part -> (banned substrings of aten op / torch function names, banned Python code objects)
BANNED = {
    "adamw": (
        ("adam", "_foreach"),
        {
            **_own_functions(
                importlib.import_module("torch.optim.adam"), importlib.import_module("torch.optim.adamw")
            ),
            inspect.unwrap(torch.optim.Adam.step).__code__: "torch.optim.Adam.step",
        },
    ),
    "clipping": (("_foreach_norm",), _own_functions(torch_clip_grad)),
}


def delegation_findings(part: str, run) -> list[str]:
    """What ``run()`` handed to a banned library op or function (empty: it did its own work)."""
    if part not in BANNED:
        raise ValueError(f"no delegation rule for part {part!r}; rules exist for {sorted(BANNED)}")
    ops, calls = trace(run)
    banned_ops, banned_code = BANNED[part]
    found = sorted(op for op in ops if any(b in op.lower() for b in banned_ops))
    return found + sorted(banned_code[c] for c in calls if c in banned_code)


def _judge_delegation(report: Report, part: str, out: dict) -> None:
    if "delegation" in out:
        findings = out["delegation"]
        report.add(
            "does its own work (no torch optimizer, fused/_foreach kernel or torch clipping function)",
            not findings,
            "found: " + "; ".join(findings) + "\nwrite the update yourself with tensor operations",
        )


# --------------------------------------------------------------------------- AdamW

PARAM_SHAPES = [(3, 4), (5,), (2, 3, 2)]


def adamw_cases(thorough: bool = False) -> dict:
    n_steps = 12 if thorough else 5
    runs = [
        dict(
            lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, groups=[[0, 1], [2]], group_wd=[0.1, 0.0]
        )
    ]
    if thorough:
        runs.append(
            dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3, groups=[[0, 1, 2]], group_wd=[None])
        )
    for i, run in enumerate(runs):
        run["params"] = [randn(*s, seed=100 * i + j) for j, s in enumerate(PARAM_SHAPES)]
        run["grads"] = [
            [randn(*s, seed=1000 + 100 * i + 10 * t + j) for j, s in enumerate(PARAM_SHAPES)]
            for t in range(n_steps)
        ]
        run["none_grad"] = [(2, 1)] if thorough else []  # (step, param) left without a gradient
        run["lrs"] = [run["lr"] * (1.0 - 0.05 * t) for t in range(n_steps)]  # a schedule sets group["lr"]
    trainer = dict(state=_tiny_state(0), data=randint(TINY.vocab_size, 400, seed=2))
    return dict(runs=runs, trainer=trainer, thorough=thorough)


def _tiny_state(seed: int) -> dict:
    torch.manual_seed(seed)
    return GPT(TINY).state_dict()


def _run_optimizer(optimizer_cls, run: dict) -> list[list[Tensor]]:
    """The parameters after each step of ``optimizer_cls`` fed the run's gradients and lrs."""
    params = [nn.Parameter(p.clone()) for p in run["params"]]
    groups = []
    for indices, wd in zip(run["groups"], run["group_wd"], strict=True):
        group = {"params": [params[i] for i in indices]}
        if wd is not None:
            group["weight_decay"] = wd  # None: the constructor's default applies
        groups.append(group)
    optimizer = optimizer_cls(
        groups, lr=run["lr"], betas=run["betas"], eps=run["eps"], weight_decay=run["weight_decay"]
    )
    after = []
    for t, (grads, lr) in enumerate(zip(run["grads"], run["lrs"], strict=True)):
        for j, (p, g) in enumerate(zip(params, grads, strict=True)):
            p.grad = None if (t, j) in run["none_grad"] else g.clone()
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        after.append([p.detach().clone() for p in params])
    return after


@one_thread
def _trainer_run(optimizer_cls, trainer_case: dict):
    """Losses and final weights of 4 steps of lmcore's Trainer with ``optimizer_cls``."""
    model = GPT(TINY)
    model.load_state_dict(trainer_case["state"])
    config = ref_train.TrainConfig(
        max_steps=4, batch_size=4, block_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=1, seed=0, progress=False
    )
    trainer = ref_train.Trainer(model, trainer_case["data"], config=config, optimizer_factory=optimizer_cls)
    history = trainer.fit()
    return torch.tensor(history["loss"]), {k: v.detach().clone() for k, v in model.state_dict().items()}


def probe_adamw(optimizer_cls, case: dict) -> dict:
    out = {"runs": []}
    for run in case["runs"]:
        result, error = attempt(_run_optimizer, optimizer_cls, run)
        out["runs"].append({"params": result, "error": error})
    result, out["trainer_error"] = attempt(_trainer_run, optimizer_cls, case["trainer"])
    if result is not None:
        out["losses"], out["final_state"] = result
    if case["thorough"]:  # one traced step
        run = {**case["runs"][0], "grads": case["runs"][0]["grads"][:1], "lrs": case["runs"][0]["lrs"][:1]}
        found, error = attempt(
            lambda: delegation_findings("adamw", lambda: _run_optimizer(optimizer_cls, run))
        )
        out["delegation"] = found if error is None else [f"running it raised {error}"]
    return out


def _adamw_variant(run: dict, *, l2: bool = False, bias_correction: bool = True, lr_in_decay: bool = True):
    """Parameters after each step of an Adam written out, with one mistake switched on."""
    params = [p.clone().double() for p in run["params"]]
    wd = [run["weight_decay"]] * len(params)
    for indices, group_wd in zip(run["groups"], run["group_wd"], strict=True):
        for i in indices:
            wd[i] = run["weight_decay"] if group_wd is None else group_wd
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    steps = [0] * len(params)
    (beta1, beta2), eps = run["betas"], run["eps"]
    after = []
    for t, (grads, lr) in enumerate(zip(run["grads"], run["lrs"], strict=True)):
        for j, p in enumerate(params):
            if (t, j) in run["none_grad"]:
                continue
            g = grads[j].double()
            steps[j] += 1
            if l2:
                g = g + wd[j] * p
            else:
                p.mul_(1 - (lr if lr_in_decay else 1.0) * wd[j])
            m[j] = beta1 * m[j] + (1 - beta1) * g
            v[j] = beta2 * v[j] + (1 - beta2) * g * g
            m_hat, v_hat = m[j], v[j]
            if bias_correction:
                m_hat, v_hat = m_hat / (1 - beta1 ** steps[j]), v_hat / (1 - beta2 ** steps[j])
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        after.append([p.float() for p in params])
    return after


ADAMW_MISTAKES = [
    (
        "weight decay is added to the gradient (Adam + L2): AdamW decouples it, "
        "p <- p - lr * weight_decay * p, applied to the weights apart from the Adam update",
        dict(l2=True),
    ),
    (
        "bias correction is missing: divide m by (1 - beta1**t) and v by (1 - beta2**t), "
        "t counting this parameter's steps from 1",
        dict(bias_correction=False),
    ),
    (
        "the weight decay is not scaled by the learning rate: p <- p * (1 - lr * weight_decay)",
        dict(lr_in_decay=False),
    ),
]


def _same_trajectory(got: list[list[Tensor]], want: list[list[Tensor]]) -> str | None:
    for t, (g_step, w_step) in enumerate(zip(got, want, strict=True)):
        for j, (g, w) in enumerate(zip(g_step, w_step, strict=True)):
            m = describe_mismatch(g, w, FP32_OP)
            if m:
                return f"after step {t + 1}, parameter {j} of shape {tuple(w.shape)}:\n{m}"
    return None


def judge_adamw(case: dict, out: dict) -> Report:
    report = Report("AdamW")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        grouping = " + ".join(f"group (weight_decay={wd})" for wd in run["group_wd"])
        label = f"[{len(run['grads'])} steps, betas={run['betas']}, {grouping}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want = _run_optimizer(lambda *a, **k: torch.optim.AdamW(*a, **k, foreach=False), run)
        if len(got["params"]) != len(want):
            report.add(
                f"{label} parameters match torch.optim.AdamW after every step", False, "wrong step count"
            )
            continue
        m = _same_trajectory(got["params"], want)
        report.add(f"{label} parameters match torch.optim.AdamW after every step", m is None, m or "")
        if m is not None:
            for why, flags in ADAMW_MISTAKES:
                if _same_trajectory(got["params"], _adamw_variant(run, **flags)) is None:
                    _diagnose(report, why)
        if run["none_grad"]:
            t, j = run["none_grad"][0]
            unchanged = got["params"][t][j].equal(got["params"][t - 1][j])
            report.add(
                "a parameter whose .grad is None is left untouched (no decay, no state update)",
                unchanged,
                "skip parameters with p.grad is None",
            )
    if out.get("trainer_error"):
        report.add("runs inside lmcore's Trainer (optimizer_factory)", False, out["trainer_error"])
    else:
        ref_losses, ref_state = _trainer_run(torch.optim.AdamW, case["trainer"])
        m = describe_mismatch(out["losses"], ref_losses, FP32_TRAINING, ("step",))
        report.add("inside lmcore's Trainer: the loss trajectory matches (4 steps)", m is None, m or "")
        bad = [n for n, w in ref_state.items() if describe_mismatch(out["final_state"][n], w, FP32_TRAINING)]
        report.add(
            "inside lmcore's Trainer: the final weights match", not bad, "differ: " + ", ".join(bad[:5])
        )
    _judge_delegation(report, "adamw", out)
    return report


def check_adamw(optimizer_cls, *, thorough: bool = False) -> Report:
    case = adamw_cases(thorough)
    return judge_adamw(case, probe_adamw(optimizer_cls, case))


# ------------------------------------------------------------------------ schedule


def reference_lr_at(step: int, max_steps: int, lr: float, min_lr: float, warmup_steps: int) -> float:
    """lmcore.train.lr_at with the schedule's numbers as arguments (the A7 signature)."""
    config = ref_train.TrainConfig(
        max_steps=max_steps, batch_size=1, block_size=1, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps
    )
    return ref_train.lr_at(step, config)


def schedule_cases(thorough: bool = False) -> dict:
    schedules = [
        dict(max_steps=20, lr=1e-3, min_lr=1e-4, warmup_steps=5),
        dict(max_steps=10, lr=6e-4, min_lr=0.0, warmup_steps=0),
    ]
    if thorough:
        schedules += [
            dict(max_steps=100, lr=1.0, min_lr=0.1, warmup_steps=10),
            dict(max_steps=7, lr=3e-4, min_lr=3e-5, warmup_steps=6),
            dict(max_steps=1, lr=2.0, min_lr=0.5, warmup_steps=0),
        ]
    return dict(schedules=schedules)


def probe_schedule(lr_at, case: dict) -> dict:
    def run(s):
        return [
            float(lr_at(step, s["max_steps"], s["lr"], s["min_lr"], s["warmup_steps"]))
            for step in range(s["max_steps"] + 1)
        ]

    return {
        "schedules": [dict(zip(("lrs", "error"), attempt(run, s), strict=True)) for s in case["schedules"]]
    }


def _schedule_variant(step: int, max_steps: int, lr: float, min_lr: float, warmup_steps: int, mistake: str):
    if step < warmup_steps:
        return lr * (step if mistake == "warmup_from_0" else step + 1) / warmup_steps
    if mistake == "cosine_over_max_steps":
        progress = step / max_steps
    else:
        progress = (step - warmup_steps) / (max_steps - warmup_steps)
    if mistake == "no_min_lr":
        return 0.5 * (1 + math.cos(math.pi * progress)) * lr
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


SCHEDULE_MISTAKES = {
    "warmup_from_0": "warmup is off by one: step 0 gets lr * 1 / warmup_steps (not 0), so the peak lr is "
    "reached at step warmup_steps - 1: lr * (step + 1) / warmup_steps",
    "cosine_over_max_steps": "the cosine runs over all max_steps; it must start after warmup: "
    "progress = (step - warmup_steps) / (max_steps - warmup_steps)",
    "no_min_lr": "the cosine decays to 0, not to min_lr: "
    "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr)",
}


def judge_schedule(case: dict, out: dict) -> Report:
    report = Report("lr_at")
    for s, got in zip(case["schedules"], out["schedules"], strict=True):
        label = "[" + ", ".join(f"{k}={v}" for k, v in s.items()) + "]"
        if got["error"]:
            report.add(f"{label} runs for steps 0 .. max_steps", False, got["error"])
            continue
        want = torch.tensor([reference_lr_at(t, **s) for t in range(s["max_steps"] + 1)], dtype=torch.float64)
        mine = torch.tensor(got["lrs"], dtype=torch.float64)
        w = s["warmup_steps"]
        boundaries = {0: "first step"}
        if w:
            boundaries.update({w - 1: "last warmup step (lr reached)", w: "first decay step"})
        boundaries[s["max_steps"]] = "step max_steps (min_lr)"
        bad = [
            f"step {t} ({what}): yours {mine[t].item():.6g}, expected {want[t].item():.6g}"
            for t, what in sorted(boundaries.items())
            if describe_mismatch(mine[t] / s["lr"], want[t] / s["lr"], FP32_OP) is not None
        ]
        report.add(f"{label} boundary steps {sorted(boundaries)}", not bad, "\n".join(bad))
        m = describe_mismatch(
            mine / s["lr"], want / s["lr"], FP32_OP, ("step",), ("yours / lr", "expected / lr")
        )
        report.add(f"{label} every step 0 .. {s['max_steps']} matches", m is None, m or "")
        if m is not None:
            for mistake, why in SCHEDULE_MISTAKES.items():
                wrong = torch.tensor(
                    [_schedule_variant(t, **s, mistake=mistake) for t in range(s["max_steps"] + 1)],
                    dtype=torch.float64,
                )
                if describe_mismatch(mine / s["lr"], wrong / s["lr"], FP32_OP) is None:
                    _diagnose(report, why)
    return report


def check_schedule(lr_at, *, thorough: bool = False) -> Report:
    case = schedule_cases(thorough)
    return judge_schedule(case, probe_schedule(lr_at, case))


# ------------------------------------------------------------------------ clipping


def clipping_cases(thorough: bool = False) -> dict:
    shapes = [(4, 3), (5,), (2, 2), (3,)]
    with_grad = [True, True, False, True]  # (2, 2) has no gradient: it must be skipped
    setups = [("above", 1.0, 1.0), ("below", 100.0, 1.0)]
    if thorough:  # every tensor's own norm is below max_norm but the global norm is above it
        setups += [("spread", 1.0, 0.3), ("tiny max_norm", 1e-3, 1.0), ("exactly at", None, 1.0)]
    cases = []
    for i, (name, max_norm, scale) in enumerate(setups):
        grads = [
            randn(*s, seed=50 + 10 * i + j) * scale if g else None
            for j, (s, g) in enumerate(zip(shapes, with_grad, strict=True))
        ]
        if max_norm is None:  # max_norm equal to the total norm: nothing changes
            max_norm = float(torch.cat([g.flatten() for g in grads if g is not None]).norm())
        cases.append(dict(name=name, max_norm=max_norm, grads=grads, as_generator=i == 0))
    return dict(cases=cases, thorough=thorough)


def _parameters(c: dict) -> list[nn.Parameter]:
    """The case's parameters (all ones), with its gradients attached (None where it has none)."""
    params = [nn.Parameter(torch.ones(g.shape if g is not None else (2, 2))) for g in c["grads"]]
    for p, g in zip(params, c["grads"], strict=True):
        p.grad = None if g is None else g.clone()
    return params


def _run_clipping(clip_grad_norm, c: dict) -> dict:
    params = _parameters(c)
    total = clip_grad_norm(iter(params) if c["as_generator"] else params, c["max_norm"])
    return dict(total=float(total), grads=[None if p.grad is None else p.grad.clone() for p in params])


def probe_clipping(clip_grad_norm, case: dict) -> dict:
    out = {
        "cases": [
            dict(zip(("result", "error"), attempt(_run_clipping, clip_grad_norm, c), strict=True))
            for c in case["cases"]
        ]
    }
    if case["thorough"]:
        found, error = attempt(
            lambda: delegation_findings("clipping", lambda: _run_clipping(clip_grad_norm, case["cases"][0]))
        )
        out["delegation"] = found if error is None else [f"running it raised {error}"]
    return out


def _clipping_reference(c: dict) -> dict:
    params = _parameters(c)
    total = nn.utils.clip_grad_norm_(params, c["max_norm"])
    return dict(total=float(total), grads=[None if p.grad is None else p.grad.clone() for p in params])


def _clipping_mistakes(c: dict):
    grads = [g for g in c["grads"] if g is not None]
    total = float(torch.cat([g.flatten() for g in grads]).norm())
    yield (
        "each tensor is clipped to max_norm on its own; clip by the GLOBAL norm of all gradients "
        "together: scale every gradient by min(1, max_norm / total_norm)",
        [g * min(1.0, c["max_norm"] / float(g.norm())) for g in grads],
    )
    yield (
        "gradients are scaled to max_norm even when their norm is already below it; "
        "the scale is min(1, max_norm / total_norm)",
        [g * c["max_norm"] / total for g in grads],
    )


def judge_clipping(case: dict, out: dict) -> Report:
    report = Report("clip_grad_norm")
    for c, got in zip(case["cases"], out["cases"], strict=True):
        given = ", parameters as a generator" if c["as_generator"] else ""
        label = f"[{c['name']}: max_norm={c['max_norm']:.4g}{given}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want = _clipping_reference(c)
        got = got["result"]
        m = describe_mismatch(torch.tensor(got["total"]), torch.tensor(want["total"]), FP32_OP)
        report.add(
            f"{label} returns the total norm before clipping",
            m is None,
            (m or "") + "\nreturn the norm of all gradients together, measured before scaling",
        )
        none_kept = all((g is None) == (w is None) for g, w in zip(got["grads"], want["grads"], strict=True))
        report.add(
            f"{label} a parameter with .grad None keeps .grad None",
            none_kept,
            "skip parameters whose .grad is None",
        )
        if not none_kept:
            continue
        bad = [
            f"parameter {j}: {mm.splitlines()[0]}"
            for j, (g, w) in enumerate(zip(got["grads"], want["grads"], strict=True))
            if w is not None and (mm := describe_mismatch(g, w, FP32_OP))
        ]
        below = c["max_norm"] >= want["total"]
        what = (
            "gradients are left untouched (norm is not above max_norm)"
            if below
            else "gradients match clip_grad_norm_"
        )
        report.add(f"{label} {what}", not bad, "\n".join(bad))
        if bad:
            mine = [g for g in got["grads"] if g is not None]
            for why, wrong in _clipping_mistakes(c):
                if all(describe_mismatch(g, w, FP32_OP) is None for g, w in zip(mine, wrong, strict=True)):
                    _diagnose(report, why)
    _judge_delegation(report, "clipping", out)
    return report


def check_clipping(clip_grad_norm, *, thorough: bool = False) -> Report:
    case = clipping_cases(thorough)
    return judge_clipping(case, probe_clipping(clip_grad_norm, case))


# ------------------------------------------------------------------------ batching

# uniform starts: every count of BATCH_DRAWS draws over the valid starts must lie within
# this factor of its expectation (6 standard deviations at the sizes used below)
START_COUNT_BOUND = 0.5


def batching_cases(thorough: bool = False) -> dict:
    setups = [dict(n=40, batch_size=50, block_size=8, batches=64, dtype=torch.int64)]
    if thorough:
        setups.append(dict(n=21, batch_size=40, block_size=16, batches=40, dtype=torch.int32))
    for i, s in enumerate(setups):
        g = torch.Generator().manual_seed(7 + i)
        s["data"] = torch.randperm(s["n"], generator=g).to(
            s["dtype"]
        )  # distinct tokens: a window's start is readable
        s["seed"] = 11 + i
    return dict(setups=setups)


def probe_batching(get_batch, case: dict) -> dict:
    out = {"setups": []}
    for s in case["setups"]:

        def run(s=s):
            generator = torch.Generator().manual_seed(s["seed"])
            batches = [
                get_batch(s["data"], s["batch_size"], s["block_size"], generator) for _ in range(s["batches"])
            ]
            torch.manual_seed(12345)  # the global RNG must not matter
            again = get_batch(
                s["data"], s["batch_size"], s["block_size"], torch.Generator().manual_seed(s["seed"])
            )
            return dict(
                x=[x for x, _ in batches], y=[y for _, y in batches], x_again=again[0], y_again=again[1]
            )

        result, error = attempt(run)
        out["setups"].append({**(result or {}), "error": error})
    return out


def judge_batching(case: dict, out: dict) -> Report:
    report = Report("get_batch")
    for s, got in zip(case["setups"], out["setups"], strict=True):
        n, B, T = s["n"], s["batch_size"], s["block_size"]
        label = f"[len(data)={n}, batch_size={B}, block_size={T}, data {s['dtype']}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        shapes_ok = all(tuple(t.shape) == (B, T) and t.dtype == torch.int64 for t in got["x"] + got["y"])
        report.add(
            f"{label} x and y are int64 of shape (batch_size, block_size)",
            shapes_ok,
            f"got {tuple(got['x'][0].shape)} {got['x'][0].dtype}; convert with .long()",
        )
        if not shapes_ok:
            continue
        x, y = torch.cat(got["x"]), torch.cat(got["y"])  # (batches * B, T)
        data = s["data"].long()
        position = torch.full((n,), -1, dtype=torch.long)
        position[data] = torch.arange(n)
        in_data = bool(((x >= 0) & (x < n)).all())
        starts = position[x[:, 0].clamp(0, n - 1)]  # (rows,)
        offsets = torch.arange(T + 1)
        valid = in_data and bool((starts + T < n).all())
        windows = data[(starts[:, None] + offsets).clamp(max=n - 1)]  # (rows, T + 1)
        x_ok = valid and torch.equal(x, windows[:, :-1])
        report.add(
            f"{label} every row of x is a contiguous window data[s : s + block_size]",
            x_ok,
            "rows of x are not consecutive tokens of data, or the window runs past the end",
        )
        y_ok = x_ok and torch.equal(y, windows[:, 1:])
        report.add(
            f"{label} y is x shifted by one: y = data[s + 1 : s + block_size + 1]",
            y_ok,
            "the target of position t is the token at t + 1",
        )
        if x_ok and not y_ok and torch.equal(y, x):
            _diagnose(
                report, "y equals x: the targets must be the NEXT tokens, data[s + 1 : s + 1 + block_size]"
            )
        if not x_ok:
            continue
        n_starts = n - T
        counts = torch.bincount(starts, minlength=n).float()
        expected = len(starts) / n_starts
        never = [int(i) for i in (counts[:n_starts] == 0).nonzero().flatten()]
        report.add(
            f"{label} every valid start 0 .. {n_starts - 1} is drawn (len(data) - block_size starts)",
            not never,
            f"starts never drawn: {never[:8]}",
        )
        if n_starts - 1 in never:
            _diagnose(
                report,
                "the last valid start, len(data) - block_size - 1, is never drawn: its window ends exactly "
                "at the last token; torch.randint(high, ...) excludes high, so high = len(data) - block_size",
            )
        off = (counts[:n_starts] - expected).abs().max().item() / expected
        report.add(
            f"{label} starts are uniform (each start's count within {START_COUNT_BOUND:.0%} of expected)",
            off <= START_COUNT_BOUND,
            f"a start's count is {off:.0%} away from the expected {expected:.0f}",
        )
        same = torch.equal(got["x_again"], got["x"][0]) and torch.equal(got["y_again"], got["y"][0])
        report.add(
            f"{label} the windows come from `generator` (same seed, same batch, whatever the global seed)",
            same,
            "pass generator=generator to torch.randint",
        )
    return report


def check_batching(get_batch, *, thorough: bool = False) -> Report:
    case = batching_cases(thorough)
    return judge_batching(case, probe_batching(get_batch, case))


# ------------------------------------------------------------------- training loop

TRAIN_TOTAL, TRAIN_RESUME_AT = 20, 10


def reference_get_batch(data: Tensor, batch_size: int, block_size: int, generator: torch.Generator):
    return random_windows(data, batch_size, block_size, generator)


def reference_clip_grad_norm(parameters, max_norm: float) -> Tensor:
    return nn.utils.clip_grad_norm_(parameters, max_norm)


REFERENCE_PARTS = dict(
    optimizer_cls=torch.optim.AdamW,
    lr_at=reference_lr_at,
    clip_grad_norm=reference_clip_grad_norm,
    get_batch=reference_get_batch,
)


def _loop_config(**fields) -> ref_train.TrainConfig:
    return ref_train.TrainConfig(
        max_steps=TRAIN_TOTAL,
        batch_size=4,
        block_size=8,
        lr=1e-2,
        min_lr=1e-3,
        warmup_steps=3,
        autocast_bf16=False,
        progress=False,
        **fields,
    )


def training_loop_cases(thorough: bool = False) -> dict:
    configs = [dict(seed=0)]
    if thorough:
        configs.append(dict(seed=5, grad_accum_steps=2, grad_clip=0.5, weight_decay=0.2))
    return dict(state=_tiny_state(0), data=randint(TINY.vocab_size, 400, seed=3), configs=configs)


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@one_thread
def _run_loop(train, case: dict, fields: dict) -> dict:
    config = _loop_config(**fields)
    with tempfile.TemporaryDirectory() as tmp:
        model = GPT(TINY)
        model.load_state_dict(case["state"])
        straight = train(
            model, case["data"], config, TRAIN_TOTAL, checkpoint_path=Path(tmp) / "a.pt", **REFERENCE_PARTS
        )
        out = dict(losses=torch.tensor([float(v) for v in straight]), final=_state(model))
        model = GPT(TINY)
        model.load_state_dict(case["state"])
        path = Path(tmp) / "b.pt"
        first = train(model, case["data"], config, TRAIN_RESUME_AT, checkpoint_path=path, **REFERENCE_PARTS)
        torch.manual_seed(99)
        fresh = GPT(TINY)  # other weights: resuming must load them from the checkpoint
        second = train(fresh, case["data"], config, TRAIN_TOTAL, checkpoint_path=path, **REFERENCE_PARTS)
        out["resumed_losses"] = torch.tensor([float(v) for v in list(first) + list(second)])
        out["resumed_final"] = _state(fresh)
    return out


def probe_training_loop(train, case: dict) -> dict:
    runs = []
    for fields in case["configs"]:
        result, error = attempt(_run_loop, train, case, fields)
        runs.append({**(result or {}), "error": error})
    return {"runs": runs}


@one_thread
def _reference_loop(case: dict, fields: dict, resume_mistake: str | None = None):
    """Losses and final weights of lmcore's Trainer; with ``resume_mistake``, stopped at
    TRAIN_RESUME_AT and resumed with that piece of state not restored."""
    config = _loop_config(**fields)
    model = GPT(TINY)
    model.load_state_dict(case["state"])
    trainer = ref_train.Trainer(model, case["data"], config=config)
    if resume_mistake is None:
        trainer.fit()
        return torch.tensor(trainer.history["loss"]), _state(model)
    trainer.fit(TRAIN_RESUME_AT)
    if resume_mistake == "generator":
        trainer.generator = torch.Generator().manual_seed(config.seed)
    elif resume_mistake == "optimizer":
        trainer.optimizer = torch.optim.AdamW(
            ref_train.param_groups(model, config.weight_decay),
            lr=config.lr,
            betas=config.betas,
            eps=config.eps,
        )
    trainer.fit()
    return torch.tensor(trainer.history["loss"]), _state(model)


RESUME_MISTAKES = {
    "generator": "after resuming, the batches are those of a freshly seeded generator: save "
    "generator.get_state() in the checkpoint and restore it with generator.set_state(...)",
    "optimizer": "after resuming, AdamW starts from empty moments: save optimizer.state_dict() "
    "in the checkpoint and restore it with optimizer.load_state_dict(...)",
}


def _weights_differ(got: dict, want: dict) -> list[str]:
    return [n for n, w in want.items() if n not in got or describe_mismatch(got[n], w, FP32_TRAINING)]


def judge_training_loop(case: dict, out: dict) -> Report:
    report = Report("train")
    for fields, got in zip(case["configs"], out["runs"], strict=True):
        label = "[" + ", ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if got["error"]:
            report.add(
                f"{label} runs {TRAIN_TOTAL} steps, then {TRAIN_RESUME_AT} + resume", False, got["error"]
            )
            continue
        losses, final = _reference_loop(case, fields)
        m = describe_mismatch(got["losses"], losses, FP32_TRAINING, ("step",))
        report.add(f"{label} {TRAIN_TOTAL}-step loss trajectory matches lmcore's Trainer", m is None, m or "")
        bad = _weights_differ(got["final"], final)
        report.add(
            f"{label} weights after {TRAIN_TOTAL} steps match", not bad, "differ: " + ", ".join(bad[:5])
        )
        m = describe_mismatch(got["resumed_losses"], losses, FP32_TRAINING, ("step",))
        bad = _weights_differ(got["resumed_final"], final)
        report.add(
            f"{label} stopping at step {TRAIN_RESUME_AT} and resuming from the checkpoint equals the "
            "uninterrupted run (losses and final weights)",
            m is None and not bad,
            (m or "") + ("\nweights differ: " + ", ".join(bad[:5]) if bad else ""),
        )
        if m is not None:
            for mistake, why in RESUME_MISTAKES.items():
                wrong, _ = _reference_loop(case, fields, mistake)
                if describe_mismatch(got["resumed_losses"], wrong, FP32_TRAINING) is None:
                    _diagnose(report, why)
    return report


def check_training_loop(train, *, thorough: bool = False) -> Report:
    case = training_loop_cases(thorough)
    return judge_training_loop(case, probe_training_loop(train, case))


# --------------------------------------------------------------------------- registry

PARTS = [
    Part("adamw", "AdamW", adamw_cases, probe_adamw, judge_adamw),
    Part("schedule", "lr_at", schedule_cases, probe_schedule, judge_schedule),
    Part("clipping", "clip_grad_norm", clipping_cases, probe_clipping, judge_clipping),
    Part("batching", "get_batch", batching_cases, probe_batching, judge_batching),
    Part("training_loop", "train", training_loop_cases, probe_training_loop, judge_training_loop),
]
TESTS = {f"test_{p.name}{suffix}": (p.name, suffix == "_hidden") for p in PARTS for suffix in ("", "_hidden")}

from lmcore.grading.legacy import assignment  # noqa: E402

ASSIGNMENT = assignment("A7", "ch10_pretraining", PARTS)
