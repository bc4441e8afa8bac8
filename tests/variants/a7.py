"""A7's variants (see tests/variants/__init__.py for the format)."""

MUTANTS = {
    "adamw": {
        "adam_plus_l2": [
            (
                "adamw",
                '                p.mul_(1 - lr * group["weight_decay"])  # decoupled weight decay\n'
                "                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)\n"
                "                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)\n",
                '                g = p.grad + group["weight_decay"] * p\n'
                "                m.mul_(beta1).add_(g, alpha=1 - beta1)\n"
                "                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)\n",
            )
        ],
        "no_bias_correction": [
            (
                "adamw",
                "m_hat = m / (1 - beta1**t)\n                v_hat = v / (1 - beta2**t)",
                "m_hat, v_hat = m, v",
            )
        ],
        "decay_not_scaled_by_lr": [
            ("adamw", 'p.mul_(1 - lr * group["weight_decay"])', 'p.mul_(1 - group["weight_decay"])')
        ],
        "eps_inside_sqrt": [("adamw", "(v_hat.sqrt() + eps)", "(v_hat + eps).sqrt()")],
        "lr_not_read_from_group": [
            (
                "adamw",
                'lr, (beta1, beta2), eps = group["lr"]',
                'lr, (beta1, beta2), eps = self.defaults["lr"]',
            )
        ],
        "weight_decay_from_defaults": [
            (
                "adamw",
                'p.mul_(1 - lr * group["weight_decay"])',
                'p.mul_(1 - lr * self.defaults["weight_decay"])',
            )
        ],
        "state_outside_self_state": [
            (
                "adamw",
                "weight_decay=weight_decay))\n",
                "weight_decay=weight_decay))\n        self.moments = {}\n",
            ),
            ("adamw", "state = self.state[p]", "state = self.moments.setdefault(p, {})"),
        ],
        "none_grad_decayed": [
            (
                "adamw",
                '            for p in group["params"]:\n',
                '            for p in group["params"]:\n'
                '                p.mul_(1 - lr * group["weight_decay"])\n',
            ),
            (
                "adamw",
                '                p.mul_(1 - lr * group["weight_decay"])  # decoupled weight decay\n',
                "",
            ),
        ],
        "global_step_count": [
            ("adamw", "weight_decay=weight_decay))\n", "weight_decay=weight_decay))\n        self.t = 0\n"),
            (
                "adamw",
                "        ### BEGIN SOLUTION\n        for group",
                "        ### BEGIN SOLUTION\n        self.t += 1\n        for group",
            ),
            ("adamw", 't, m, v = state["step"], state["m"]', 't, m, v = self.t, state["m"]'),
        ],
    },
    "schedule": {
        "warmup_off_by_one": [("schedule", "lr * (step + 1) / warmup_steps", "lr * step / warmup_steps")],
        "warmup_includes_step_w": [("schedule", "if step < warmup_steps:", "if step <= warmup_steps:")],
        "cosine_over_max_steps": [
            (
                "schedule",
                "progress = (step - warmup_steps) / (max_steps - warmup_steps)",
                "progress = step / max_steps",
            )
        ],
        "decay_ends_early": [
            (
                "schedule",
                "/ (max_steps - warmup_steps)",
                "/ (max_steps - 1 - warmup_steps)",
            )
        ],
        "no_min_lr": [
            (
                "schedule",
                "return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)",
                "return 0.5 * (1.0 + math.cos(math.pi * progress)) * lr",
            )
        ],
        "no_step_range_check": [
            (
                "schedule",
                "    if not 0 <= step <= max_steps:\n"
                '        raise ValueError(f"step must be in [0, max_steps={max_steps}], got {step}")\n',
                "",
            )
        ],
    },
    "clipping": {
        "clip_per_tensor": [
            (
                "clipping",
                "    for g in grads:\n        g.detach().mul_(scale)\n",
                "    for g in grads:\n        g.detach().mul_(min(1.0, max_norm / float(g.norm())))\n",
            )
        ],
        "always_rescaled": [
            (
                "clipping",
                "scale = min(1.0, max_norm / (float(total_norm) + 1e-6))",
                "scale = max_norm / (float(total_norm) + 1e-6)",
            )
        ],
        "no_sqrt": [
            (
                "clipping",
                "torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)).float()",
                "sum((g.detach().double() ** 2).sum() for g in grads).float()",
            )
        ],
        "returns_clipped_norm": [
            (
                "clipping",
                "    return total_norm\n",
                "    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).float()\n",
            )
        ],
        "returns_float": [("clipping", "    return total_norm\n", "    return total_norm.item()\n")],
        "generator_read_twice": [
            (
                "clipping",
                "    grads = [p.grad for p in parameters if p.grad is not None]\n"
                "    total_norm = torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)).float()\n",
                "    squares = [(p.grad.double() ** 2).sum() for p in parameters if p.grad is not None]\n"
                "    total_norm = torch.sqrt(sum(squares)).float()\n"
                "    grads = [p.grad for p in parameters if p.grad is not None]\n",
            )
        ],
        "none_grad_not_skipped": [
            (
                "clipping",
                "grads = [p.grad for p in parameters if p.grad is not None]",
                "grads = [p.grad for p in parameters]",
            )
        ],
    },
    "batching": {
        "targets_not_shifted": [
            ("batching", "return windows[:, :-1], windows[:, 1:]", "return windows[:, :-1], windows[:, :-1]")
        ],
        "last_start_never_drawn": [
            ("batching", "torch.randint(len(data) - block_size,", "torch.randint(len(data) - block_size - 1,")
        ],
        "window_overflows": [
            ("batching", "torch.randint(len(data) - block_size,", "torch.randint(len(data) - block_size + 1,")
        ],
        "global_rng": [("batching", "(batch_size,), generator=generator)", "(batch_size,))")],
        "not_int64": [("batching", "].long()  # (B, T + 1)", "]  # (B, T + 1)")],
        "short_data_not_rejected": [
            (
                "batching",
                "    if len(data) < block_size + 1:\n"
                '        raise ValueError(f"data has {len(data)} tokens; a window needs block_size + 1 = '
                '{block_size + 1}")\n',
                "",
            )
        ],
    },
    "training_loop": {
        "rng_not_restored": [("training_loop", '        generator.set_state(checkpoint["generator"])\n', "")],
        "optimizer_not_restored": [
            ("training_loop", '        optimizer.load_state_dict(checkpoint["optimizer"])\n', "")
        ],
        "step_not_restored": [("training_loop", '        step = checkpoint["step"]\n', "")],
        "checkpoint_path_none_fails": [
            (
                "training_loop",
                "    if checkpoint_path is not None and os.path.exists(checkpoint_path):",
                "    if os.path.exists(checkpoint_path):",
            )
        ],
        "optimizer_cls_ignored": [
            ("training_loop", "optimizer = optimizer_cls(param_groups(", "optimizer = AdamW(param_groups(")
        ],
        "zero_grad_per_micro_batch": [
            (
                "training_loop",
                "        model.zero_grad(set_to_none=True)\n"
                "        total = 0.0\n"
                "        for _ in range(config.grad_accum_steps):\n",
                "        total = 0.0\n"
                "        for _ in range(config.grad_accum_steps):\n"
                "            model.zero_grad(set_to_none=True)\n",
            )
        ],
        "clip_not_called": [
            (
                "training_loop",
                "        if config.grad_clip:\n"
                "            clip_grad_norm(model.parameters(), config.grad_clip)\n",
                "",
            )
        ],
    },
}

ALTERNATIVES = {
    "adamw": {
        "functional_update": """
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def step(self):
        with torch.no_grad():
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in [q for q in group["params"] if q.grad is not None]:
                    s = self.state[p]
                    s.setdefault("exp_avg", torch.zeros_like(p))
                    s.setdefault("exp_avg_sq", torch.zeros_like(p))
                    s["t"] = s.get("t", 0) + 1
                    s["exp_avg"] = b1 * s["exp_avg"] + (1 - b1) * p.grad
                    s["exp_avg_sq"] = b2 * s["exp_avg_sq"] + (1 - b2) * p.grad.square()
                    step_size = group["lr"] / (1 - b1 ** s["t"])
                    denom = (s["exp_avg_sq"] / (1 - b2 ** s["t"])).sqrt() + group["eps"]
                    p.copy_(p * (1 - group["lr"] * group["weight_decay"]) - step_size * s["exp_avg"] / denom)
""",
    },
    "schedule": {
        "squared_cosine": """
def lr_at(step, max_steps, lr, min_lr, warmup_steps):
    if step < 0 or step > max_steps:
        raise ValueError("step out of range")
    if warmup_steps > step:
        return (step + 1) * (lr / warmup_steps)
    decay_ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    coeff = math.cos(math.pi * decay_ratio / 2) ** 2
    return min_lr + coeff * (lr - min_lr)
""",
    },
    "clipping": {
        "vector_norms": """
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)
    return norm
""",
    },
    "batching": {
        "stacked_slices": """
def get_batch(data, batch_size, block_size, generator):
    n_starts = len(data) - block_size
    if n_starts < 1:
        raise ValueError(f"need at least {block_size + 1} tokens, got {len(data)}")
    ix = torch.randint(n_starts, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in ix]).to(torch.int64)
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in ix]).to(torch.int64)
    return x, y
""",
    },
    "training_loop": {
        "helper_per_step": """
def _one_step(model, optimizer, data, config, step, generator, lr_at, clip_grad_norm, get_batch):
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, config.max_steps, config.lr, config.min_lr, config.warmup_steps)
    optimizer.zero_grad(set_to_none=True)
    losses = []
    for _ in range(config.grad_accum_steps):
        x, y = get_batch(data, config.batch_size, config.block_size, generator)
        loss = lm_loss(model(x), y) / config.grad_accum_steps
        loss.backward()
        losses.append(loss.item() * config.grad_accum_steps)
    if config.grad_clip:
        clip_grad_norm(model.parameters(), config.grad_clip)
    optimizer.step()
    return sum(losses) / len(losses)


def train(model, data, config, steps, *, checkpoint_path=None, optimizer_cls=AdamW, lr_at=lr_at,
          clip_grad_norm=clip_grad_norm, get_batch=get_batch):
    groups = param_groups(model, config.weight_decay)
    optimizer = optimizer_cls(groups, lr=config.lr, betas=config.betas, eps=config.eps)
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    done = 0
    saved = None
    if checkpoint_path is not None:
        try:
            saved = torch.load(checkpoint_path, weights_only=True)
        except FileNotFoundError:
            pass
    if saved is not None:
        model.load_state_dict(saved["weights"])
        optimizer.load_state_dict(saved["opt"])
        generator.set_state(saved["rng"])
        done = saved["done"]
    model.train()
    history = [
        _one_step(model, optimizer, data, config, s, generator, lr_at, clip_grad_norm, get_batch)
        for s in range(done, steps)
    ]
    if checkpoint_path is not None:
        saved = {"weights": model.state_dict(), "opt": optimizer.state_dict(), "rng": generator.get_state()}
        saved["done"] = steps
        torch.save(saved, checkpoint_path)
    return history
""",
    },
}

DELEGATING = {
    "adamw": {
        "subclass_torch": """
class AdamW(torch.optim.AdamW):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
""",
    },
    "schedule": {
        "lmcore_schedule": """
def lr_at(step, max_steps, lr, min_lr, warmup_steps):
    from lmcore import schedule

    return schedule.lr_at(step, max_steps, lr, min_lr, warmup_steps)
""",
    },
    "clipping": {
        "torch_clip": """
def clip_grad_norm(parameters, max_norm):
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
""",
    },
    "batching": {
        "lmcore_windows": """
def get_batch(data, batch_size, block_size, generator):
    import lmcore.batching

    return lmcore.batching.random_windows(data, batch_size, block_size, generator)
""",
    },
    "training_loop": {
        "lmcore_trainer": """
def train(model, data, config, steps, *, checkpoint_path=None, optimizer_cls=AdamW, lr_at=lr_at,
          clip_grad_norm=clip_grad_norm, get_batch=get_batch):
    from lmcore.train import train as reference

    return reference(model, data, config, steps, checkpoint_path=checkpoint_path, optimizer_cls=optimizer_cls,
                     lr_at=lr_at, clip_grad_norm=clip_grad_norm, get_batch=get_batch)
""",
    },
}
