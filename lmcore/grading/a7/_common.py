"""What A7's parts share: the tiny GPT they train, one thread for it, and where two
trajectories of weights first part."""

import functools

import torch
from torch import Tensor

from lmcore.grading.hosts import TINY
from lmcore.grading.report import describe_mismatch
from lmcore.model import GPT


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


def tiny_state(seed: int) -> dict:
    torch.manual_seed(seed)
    return GPT(TINY).state_dict()


def tiny_gpt(state: dict) -> GPT:
    model = GPT(TINY)
    model.load_state_dict(state)
    return model


def weights(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def first_divergence(got: list, want: list, tol, what: str = "tensor", start: int = 0) -> str | None:
    """None when two trajectories (one {name: tensor} or [tensor] per step, the first after
    step ``start`` + 1) agree within ``tol``; otherwise the first step where one leaves the
    other, which tensor, and by how much."""
    if len(got) != len(want):
        return f"{len(got)} steps, expected {len(want)}"
    for step, (g_step, w_step) in enumerate(zip(got, want, strict=True), start=start):
        names = list(w_step) if isinstance(w_step, dict) else range(len(w_step))
        for name in names:
            w = w_step[name]
            g = g_step.get(name) if isinstance(g_step, dict) else g_step[name]
            if g is None:
                return f"after step {step + 1}: {what} {name} is missing"
            m = describe_mismatch(g, w, tol)
            if m:
                return f"first differs after step {step + 1}, {what} {name} of shape {tuple(w.shape)}:\n{m}"
    return None


def losses_apart(got: Tensor, want: Tensor, tol) -> str | None:
    """None when two loss trajectories agree within ``tol``; otherwise the first step where
    they part, then where they differ most."""
    m = describe_mismatch(got, want, tol, ("step",))
    if m is None or got.shape != want.shape:
        return m
    first = int((~tol.close(got.double(), want.double())).nonzero()[0])
    return (
        f"first differs at step {first + 1}: yours {float(got[first]):.6g}, "
        f"reference {float(want[first]):.6g}\n" + m
    )
