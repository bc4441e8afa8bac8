"""A7, part 3: ``clip_grad_norm(parameters, max_norm) -> Tensor``.

Contract (``torch.nn.utils.clip_grad_norm_`` with its defaults): ``parameters`` is any iterable
(a generator such as ``model.parameters()`` is read once); parameters whose .grad is None are
skipped; every gradient is scaled in place by min(1, max_norm / total_norm), the norm of all
gradients together, so gradients whose norm is below max_norm are left exactly as they were;
the total norm before clipping is returned as a 0-dim tensor on the gradients' device, of
their dtype. Checked above, below and exactly at max_norm, with every tensor's own norm below
max_norm but the total above, a tiny max_norm, a generator, and (hidden) on CUDA.
"""

import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grad as torch_clip_grad

from lmcore.grading.common import attempt, available_devices, randn
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP

SHAPES = [(4, 3), (5,), (2, 2), (3,)]
WITH_GRAD = [True, True, False, True]  # the (2, 2) parameter has no gradient: it must be skipped


def cases(thorough: bool = False) -> dict:
    setups = [("above", 1.0, 1.0), ("below", 100.0, 1.0)]
    if thorough:  # "spread": every tensor's own norm is below max_norm, the global norm above it
        setups += [("spread", 1.0, 0.3), ("tiny max_norm", 1e-3, 1.0), ("exactly at", None, 1.0)]
    runs = []
    for device in available_devices() if thorough else ["cpu"]:
        for i, (name, max_norm, scale) in enumerate(setups):
            grads = [
                randn(*s, seed=50 + 10 * i + j, device=device) * scale if g else None
                for j, (s, g) in enumerate(zip(SHAPES, WITH_GRAD, strict=True))
            ]
            if max_norm is None:  # max_norm equal to the total norm: nothing changes
                max_norm = float(torch.cat([g.flatten() for g in grads if g is not None]).norm())
            runs.append(dict(name=name, max_norm=max_norm, grads=grads, device=device, as_generator=i == 0))
    return dict(runs=runs)


def _parameters(run: dict) -> list[nn.Parameter]:
    """The run's parameters (all ones), with its gradients attached (None where it has none)."""
    params = [nn.Parameter(torch.ones(s, device=run["device"])) for s in SHAPES]
    for p, g in zip(params, run["grads"], strict=True):
        p.grad = None if g is None else g.clone()
    return params


def _describe(total) -> dict:
    if not isinstance(total, Tensor):
        return dict(value=float(total), kind=type(total).__name__)
    return dict(
        value=float(total),
        kind="tensor",
        dtype=str(total.dtype),
        device=total.device.type,
        shape=list(total.shape),
    )


def _run(clip_grad_norm, run: dict) -> dict:
    params = _parameters(run)
    total = clip_grad_norm(iter(params) if run["as_generator"] else params, run["max_norm"])
    return dict(total=_describe(total), grads=[None if p.grad is None else p.grad.cpu() for p in params])


def probe(clip_grad_norm, case: dict) -> dict:
    """Untrusted: clip each run's gradients; the returned norm and the gradients after."""
    runs = []
    for run in case["runs"]:
        result, error = attempt(_run, clip_grad_norm, run)
        runs.append({**(result or {}), "error": error})
    return dict(runs=runs)


def judge(case: dict, out: dict) -> Report:
    report = Report("clip_grad_norm")
    for run, got in zip(case["runs"], out["runs"], strict=True):
        given = ", parameters as a generator" if run["as_generator"] else ""
        label = f"[{run['name']}: max_norm={run['max_norm']:.4g}{given}, {run['device']}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        want = _run(nn.utils.clip_grad_norm_, run)
        total, expected = got["total"], want["total"]
        m = describe_mismatch(torch.tensor(total["value"]), torch.tensor(expected["value"]), FP32_OP)
        report.add(
            f"{label} returns the total norm of all gradients, measured before clipping",
            m is None,
            (m or "") + "\nthe norm of all gradients together, as one long vector, before any scaling",
        )
        kind = {k: total.get(k) for k in expected}
        report.add(
            f"{label} the norm is a 0-dim {expected['dtype']} tensor on {expected['device']}",
            kind == {**expected, "value": total["value"]},
            f"got {kind['kind']}"
            + (
                f" of shape {kind['shape']}, {kind['dtype']} on {kind['device']}"
                if kind["kind"] == "tensor"
                else ""
            )
            + "; compute it with tensor operations on the gradients and return the tensor",
        )
        none_kept = [g is None for g in got["grads"]] == [w is None for w in want["grads"]]
        report.add(
            f"{label} a parameter whose .grad is None keeps .grad None",
            none_kept,
            "skip parameters with no gradient",
        )
        if not none_kept:
            continue
        pairs = [
            (j, g, w)
            for j, (g, w) in enumerate(zip(got["grads"], want["grads"], strict=True))
            if w is not None
        ]
        originals = [g.cpu() for g in run["grads"] if g is not None]
        if all(torch.equal(w, g0) for (_, _, w), g0 in zip(pairs, originals, strict=True)):
            # the norm is below max_norm: the contract is exact here, nothing changes
            bad = [f"parameter {j}: changed" for j, g, w in pairs if not torch.equal(g, w)]
            what = "gradients are left exactly as they were (their norm is below max_norm)"
        else:
            bad = [
                f"parameter {j}: {mm.splitlines()[0]}"
                for j, g, w in pairs
                if (mm := describe_mismatch(g, w, FP32_OP))
            ]
            what = "gradients are scaled in place by min(1, max_norm / total_norm), as clip_grad_norm_ does"
        report.add(f"{label} {what}", not bad, "\n".join(bad))
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """A clipping with one classic mistake; the others as the contract asks."""

    def clip_grad_norm(parameters, max_norm):
        if mistake != "generator_read_twice":
            parameters = list(parameters)
        if mistake == "none_grad_not_skipped":
            squares = [p.grad.square().sum() for p in parameters]
        else:
            squares = [p.grad.square().sum() for p in parameters if p.grad is not None]
        total = torch.stack(squares).sum()
        total = total if mistake == "no_sqrt" else total.sqrt()
        grads = [p.grad for p in parameters if p.grad is not None]
        for g in grads:
            if mistake == "clip_per_tensor":
                g.mul_(min(1.0, max_norm / float(g.norm())))
            elif mistake == "always_rescaled":
                g.mul_(max_norm / total)
            else:
                g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
        if mistake == "returns_clipped_norm":
            return torch.stack([g.norm() for g in grads]).norm()
        return float(total) if mistake == "returns_float" else total

    return clip_grad_norm


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, _wrong(mistake))


MISTAKES = (
    _mistake(
        "clip_per_tensor",
        "each tensor is clipped to max_norm on its own; clip by the GLOBAL norm of all gradients "
        "together: scale every gradient by min(1, max_norm / total_norm)",
    ),
    _mistake(
        "always_rescaled",
        "gradients are scaled to max_norm even when their norm is already below it; "
        "the scale is min(1, max_norm / total_norm)",
    ),
    _mistake("no_sqrt", "the total norm is the sum of squares; take its square root"),
    _mistake(
        "returns_clipped_norm",
        "the norm returned is measured after clipping; return the total norm from before the scaling",
    ),
    _mistake(
        "returns_float",
        "the norm is returned as a Python float; return the 0-dim tensor (on the gradients' device), "
        "as torch.nn.utils.clip_grad_norm_ does",
    ),
    _mistake(
        "generator_read_twice",
        "parameters is read twice, but a generator (model.parameters()) is empty the second time, so "
        "nothing is scaled; read it once into a list: parameters = list(parameters)",
    ),
    _mistake(
        "none_grad_not_skipped",
        "a parameter whose .grad is None is not skipped; leave out parameters with p.grad is None",
    ),
)


PART = Part(
    id="clipping",
    names=("clip_grad_norm",),
    reference=(nn.utils.clip_grad_norm_,),
    section="ch10_pretraining#10.9",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        ops=("_foreach_norm",),
        code=(torch_clip_grad,),
        names=("clip_grad_norm_", "get_total_norm", "clip_grads_with_norm_", "_foreach_norm"),
    ),
)
check = PART.check
