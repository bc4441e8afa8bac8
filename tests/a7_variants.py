"""Submissions of A7 that the grading must tell apart: mutants (one classic bug each) and
an alternative correct solution written differently from the reference.

A mutant is a list of (grade_id, old, new) edits to the solution notebook's cells, the set
of parts it breaks (every other part must keep its full points) and a text its failure
report must contain.
"""

from tests.variants import Submissions, namespace  # noqa: F401  (namespace is used by the tests)

A7 = Submissions("A7")
SOLUTION = A7.solution_path
PARTS = ("adamw", "schedule", "clipping", "batching", "training_loop")
COMPONENTS = {
    "adamw": "AdamW",
    "schedule": "lr_at",
    "clipping": "clip_grad_norm",
    "batching": "get_batch",
    "training_loop": "train",
}

MUTANTS = {
    "adam_plus_l2": (
        [
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
        {"adamw"},
        "adam + l2",
    ),
    "no_bias_correction": (
        [
            (
                "adamw",
                "m_hat = m / (1 - beta1**t)\n                v_hat = v / (1 - beta2**t)",
                "m_hat, v_hat = m, v",
            )
        ],
        {"adamw"},
        "bias correction is missing",
    ),
    "warmup_off_by_one": (
        [("schedule", "lr * (step + 1) / warmup_steps", "lr * step / warmup_steps")],
        {"schedule"},
        "warmup is off by one",
    ),
    "clip_per_tensor": (
        [
            (
                "clipping",
                "    for g in grads:\n        g.detach().mul_(scale)\n",
                "    for g in grads:\n        g.detach().mul_(min(1.0, max_norm / float(g.norm())))\n",
            )
        ],
        {"clipping"},
        "clipped to max_norm on its own",
    ),
    "targets_not_shifted": (
        [("batching", "return windows[:, :-1], windows[:, 1:]", "return windows[:, :-1], windows[:, :-1]")],
        {"batching"},
        "y equals x",
    ),
    "last_start_never_drawn": (
        [("batching", "torch.randint(len(data) - block_size,", "torch.randint(len(data) - block_size - 1,")],
        {"batching"},
        "never drawn",
    ),
    "rng_not_restored": (
        [("training_loop", '        generator.set_state(checkpoint["generator"])\n', "")],
        {"training_loop"},
        "freshly seeded generator",
    ),
}

# Delegation computes the right numbers, so it passes every visible check and loses only the
# hidden points of its part.
DELEGATING = {
    "adamw": """
class AdamW(torch.optim.AdamW):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
""",
    "clipping": """
def clip_grad_norm(parameters, max_norm):
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
""",
}

ALTERNATIVE = {
    "adamw": """
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
    "schedule": """
def lr_at(step, max_steps, lr, min_lr, warmup_steps):
    if step < 0 or step > max_steps:
        raise ValueError("step out of range")
    if warmup_steps > step:
        return (step + 1) * (lr / warmup_steps)
    decay_ratio = (step - warmup_steps) / (max_steps - warmup_steps)
    coeff = math.cos(math.pi * decay_ratio / 2) ** 2
    return min_lr + coeff * (lr - min_lr)
""",
    "clipping": """
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)
    return norm
""",
    "batching": """
def get_batch(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in ix]).to(torch.int64)
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in ix]).to(torch.int64)
    return x, y
""",
    "training_loop": """
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


def train(model, data, config, steps, *, checkpoint_path, optimizer_cls=AdamW, lr_at=lr_at,
          clip_grad_norm=clip_grad_norm, get_batch=get_batch):
    groups = param_groups(model, config.weight_decay)
    optimizer = optimizer_cls(groups, lr=config.lr, betas=config.betas, eps=config.eps)
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    done = 0
    try:
        saved = torch.load(checkpoint_path, weights_only=True)
    except FileNotFoundError:
        saved = None
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
    saved = {"weights": model.state_dict(), "opt": optimizer.state_dict(), "rng": generator.get_state()}
    saved["done"] = steps
    torch.save(saved, checkpoint_path)
    return history
""",
}


solution_notebook, edited, replaced = A7.solution, A7.edited, A7.replaced
