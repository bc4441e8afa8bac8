"""Hosts: a student's component checked inside lmcore's reference full model.

``model_case`` builds reference weights and inputs, ``probe_model`` (untrusted) runs the GPT
assembled with the student's part (forward, backward, causality, cached generation, a few
training steps), and ``judge_model`` (trusted) compares with the reference GPT on the same
weights. Every part of A5 ends with these, so a mistake is also seen where it matters.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn

from lmcore.generation import generate
from lmcore.grading.common import attempt, randint, randn
from lmcore.grading.report import Report, describe_mismatch
from lmcore.losses import lm_loss
from lmcore.model import GPT, GPTConfig
from lmcore.tolerances import FP32_OP, FP32_TRAINING, for_output, scaled_to_range

TINY = GPTConfig(block_size=16, vocab_size=37, n_layer=2, n_head=4, n_embd=32)
TRAIN_STEPS = 4


def model_case(seed: int = 0, device: str = "cpu") -> dict:
    """Reference weights, a batch of tokens, and a copy with the future perturbed."""
    torch.manual_seed(seed)
    reference = GPT(TINY)
    idx = randint(TINY.vocab_size, 2, 12, seed=seed + 1)
    cut = 6  # tokens after position `cut` are replaced in `idx_future`
    idx_future = idx.clone()
    idx_future[:, cut + 1 :] = (idx[:, cut + 1 :] + 1) % TINY.vocab_size
    train_data = randint(TINY.vocab_size, 400, seed=seed + 2)
    return dict(
        config=TINY,
        state=reference.state_dict(),
        idx=idx.to(device),
        idx_future=idx_future.to(device),
        cut=cut,
        prompts=[idx[:, :3].to(device), idx[:, :5].to(device)],
        train_data=train_data,
        device=device,
        bf16=False,
    )


def gpu_model_cases(seed: int = 0) -> list[dict]:
    """On CUDA: fp32 (TF32 off) and bf16 autocast, both judged against the fp32 reference."""
    if not torch.cuda.is_available():
        return []
    return [model_case(seed, "cuda"), {**model_case(seed, "cuda"), "bf16": True}]


def _build(build: Callable[[GPTConfig], nn.Module], case: dict) -> nn.Module:
    model = build(case["config"])
    model.load_state_dict(case["state"])  # strict: names and shapes must match GPT-2's
    return model.to(case["device"])


def train_trajectory(model: nn.Module, data: Tensor, steps: int = TRAIN_STEPS):
    """Losses of a few AdamW steps of lmcore's trainer, and the weights they end with."""
    from lmcore.train import TrainConfig, Trainer

    config = TrainConfig(
        max_steps=steps,
        batch_size=4,
        block_size=8,
        lr=1e-2,
        min_lr=1e-3,
        warmup_steps=1,
        grad_clip=1.0,
        seed=0,
        device=str(next(model.parameters()).device),
        autocast_bf16=False,  # fp32 on every device: the trajectory is compared at fp32 tolerance
        progress=False,
    )
    history = Trainer(model, data, config=config).fit()
    return torch.tensor(history["loss"]), {k: v.detach().cpu() for k, v in model.state_dict().items()}


def probe_model(build: Callable, case: dict, *, cached_generation: bool, train: bool) -> dict:
    """Run the model assembled by ``build`` (with the student's part) on the case's inputs."""
    out: dict = {}
    model, err = attempt(_build, build, case)
    if err:
        return {"build_error": err}
    model.eval()
    autocast = torch.autocast(device_type=case["device"], dtype=torch.bfloat16, enabled=case["bf16"])

    def forward_backward():
        model.zero_grad()
        with autocast:
            logits = model(case["idx"]).float()
        lm_loss(logits[:, :-1], case["idx"][:, 1:]).backward()
        # every name of a tied parameter: named_parameters() alone lists it under whichever
        # module registered it first (lm_head may come before transformer.wte)
        grads = {
            n: p.grad.detach().cpu().clone()
            for n, p in model.named_parameters(remove_duplicate=False)
            if p.grad is not None
        }
        model.zero_grad(set_to_none=True)
        return logits.detach().cpu(), grads

    result, out["forward_error"] = attempt(forward_backward)
    if result is not None:
        out["logits"], out["grads"] = result
        with torch.no_grad():
            with autocast:
                out["logits_future"], out["future_error"] = attempt(
                    lambda: model(case["idx_future"]).float().cpu()
                )
    if case["bf16"]:
        return out  # bf16 is judged on logits and causality only
    if cached_generation:
        tokens, out["generation_error"] = attempt(
            lambda: [generate(model, p, 6, temperature=0, use_cache=True).cpu() for p in case["prompts"]]
        )
        out["generated"] = tokens
    if train:
        result, out["train_error"] = attempt(train_trajectory, model, case["train_data"])
        if result is not None:
            out["losses"], out["final_state"] = result
    return out


def judge_model(report: Report, case: dict, out: dict) -> None:
    """Compare ``probe_model`` output with the reference GPT on the same weights and inputs."""
    dtype = torch.bfloat16 if case["bf16"] else torch.float32
    prefix = f"inside the GPT ({case['device']}{'' if dtype == torch.float32 else ', ' + str(dtype)})"
    if out.get("build_error"):
        report.add(f"{prefix}: the model builds and loads GPT-2-named weights", False, out["build_error"])
        return
    reference = GPT(case["config"])
    reference.load_state_dict(case["state"])
    reference.to(case["device"]).eval()
    reference.zero_grad()
    ref_logits = reference(case["idx"])
    lm_loss(ref_logits[:, :-1], case["idx"][:, 1:]).backward()
    if out.get("forward_error"):
        report.add(f"{prefix}: forward and backward run", False, out["forward_error"])
        return
    tol = for_output("model", dtype, ref_logits)
    dims = ("batch", "position", "vocab")
    mismatch = describe_mismatch(out["logits"], ref_logits, tol, dims)
    report.add(f"{prefix}: logits match the reference model", mismatch is None, mismatch or "")
    if not case["bf16"]:
        _judge_gradients(report, prefix, reference, out["grads"], tol)
    if out.get("logits_future") is not None:
        cut = case["cut"]
        report.add_causal(
            f"{prefix}: causal (changing tokens after position {cut} leaves logits up to {cut} unchanged)",
            out["logits_future"],
            out["logits"],
            cut,
            1,
            tol,
            dims,
        )
    if case["bf16"]:
        return
    _judge_generation(report, prefix, reference, case, out)
    _judge_training(report, prefix, reference, case, out)


def _judge_gradients(report: Report, prefix: str, reference: nn.Module, grads: dict, tol) -> None:
    bad = []
    for name, p in reference.named_parameters(remove_duplicate=False):
        got = grads.get(name)
        if got is None:
            bad.append(f"{name}: no gradient reached this parameter")
            continue
        m = describe_mismatch(got, p.grad, tol)
        if m:
            bad.append(f"{name}: {m.splitlines()[0]}")
    report.add(f"{prefix}: gradients match after backward", not bad, "\n".join(bad[:4]))


def _judge_generation(report: Report, prefix: str, reference: nn.Module, case: dict, out: dict) -> None:
    if "generated" in out or out.get("generation_error"):
        expected = [generate(reference, p, 6, temperature=0, use_cache=False).cpu() for p in case["prompts"]]
        ok = out.get("generated") is not None and all(
            torch.equal(a, b) for a, b in zip(out["generated"], expected, strict=True)
        )
        detail = out.get("generation_error") or (
            "with the KV cache (queries shorter than keys) your attention chose different tokens "
            "than uncached generation; are queries aligned to the LAST positions of the keys?"
        )
        report.add(f"{prefix}: cached greedy generation equals uncached, token for token", ok, detail)


def _judge_training(report: Report, prefix: str, reference: nn.Module, case: dict, out: dict) -> None:
    if "losses" in out or out.get("train_error"):
        if out.get("train_error"):
            report.add(f"{prefix}: {TRAIN_STEPS} training steps run", False, out["train_error"])
            return
        ref_losses, ref_state = train_trajectory(reference, case["train_data"])
        m = describe_mismatch(out["losses"], ref_losses, FP32_TRAINING, ("step",))
        report.add(
            f"{prefix}: training loss trajectory matches ({TRAIN_STEPS} AdamW steps)",
            m is None,
            m or "",
        )
        final = out["final_state"]
        bad = [
            f"{n}: " + (m.splitlines()[0] if (m := describe_mismatch(final[n], w, FP32_TRAINING)) else "")
            if n in final
            else f"{n}: missing from the trained model's state_dict"
            for n, w in ref_state.items()
            if n not in final or describe_mismatch(final[n], w, FP32_TRAINING)
        ]
        report.add(
            f"{prefix}: weights after training match",
            not bad,
            f"{len(bad)} of {len(ref_state)} tensors differ, e.g.\n" + "\n".join(bad[:4]),
        )


# --------------------------------------------------------------------- a module alone

BTC = ("batch", "position", "feature")


def module_cases(reference_module: nn.Module, thorough: bool) -> dict:
    """Inputs x (B, T, n_embd) for a module loaded with ``reference_module``'s weights. One x
    is tiny (std 1e-3): there a LayerNorm's eps (1e-5 of the variance 1e-6) changes the result."""
    shapes = [(2, 8, 1.0), (1, 5, 1e-3)] + ([(1, 1, 1.0), (3, 13, 1.0)] if thorough else [])
    ops = []
    for i, (B, T, scale) in enumerate(shapes):
        x = scale * randn(B, T, TINY.n_embd, seed=10 * i)
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
    out["grads"] = {
        n: p.grad.detach() for n, p in module.named_parameters(remove_duplicate=False) if p.grad is not None
    }
    with torch.no_grad():
        out["y_future"] = module(op["x_future"])
    return out


def load_module(build, case: dict) -> nn.Module:
    module = build()
    try:
        module.load_state_dict(case["state"])
    except RuntimeError as exc:
        names = ", ".join(f"{n} {tuple(t.shape)}" for n, t in case["state"].items())
        raise RuntimeError(f"{exc}\nthe reference weights are: {names}") from None
    return module


def probe_module(build, case: dict, build_in_gpt) -> dict:
    """Untrusted: build the module, load reference weights, run every op; then inside the GPT."""
    module, err = attempt(load_module, build, case)
    out = dict(build_error=err, ops=[], models=[])
    if module is not None:
        for op in case["ops"]:
            result, error = attempt(_run_module, module, op)
            out["ops"].append(result or {"error": error})
    out["models"] = [
        probe_model(build_in_gpt, m, cached_generation=False, train=case["thorough"]) for m in case["models"]
    ]
    return out


def judge_module(report: Report, case: dict, out: dict, reference: nn.Module) -> None:
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
        bad = [
            f"{n}: {mm.splitlines()[0]}"
            for n, g in expected["grads"].items()
            if (
                mm := describe_mismatch(
                    got["grads"].get(n, torch.full_like(g, float("nan"))), g, scaled_to_range(FP32_OP, g)
                )
            )
        ]
        mm = describe_mismatch(got["dx"], expected["dx"], scaled_to_range(FP32_OP, expected["dx"]), BTC)
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
