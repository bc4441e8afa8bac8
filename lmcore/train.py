"""The reference training loop: AdamW, warmup + cosine schedule, clipping, checkpoints.

One optimizer step (``Trainer.fit`` runs ``max_steps`` of them):

    lr = lr_at(step, max_steps, ...)                   warmup, then cosine decay
    model.zero_grad()
    for each of grad_accum_steps micro-batches:        random windows of the corpus
        loss = lm_loss(model(x), y)                    (bf16 autocast on CUDA)
        (loss / grad_accum_steps).backward()           gradients of the mean loss
    clip the global gradient norm to grad_clip
    optimizer.step()

Each piece can be replaced: the optimizer is built by ``optimizer_factory(param_groups,
lr=, betas=, eps=)`` (``torch.optim.AdamW`` by default), and ``lr_at``, ``clip_grad_norm``
and ``get_batch`` have the signatures of ``lmcore.schedule.lr_at``,
``torch.nn.utils.clip_grad_norm_`` and ``lmcore.batching.random_windows``. This is how a
student's component runs inside the reference trainer. ``train`` is the same loop as one
function call that resumes from and saves to a checkpoint file. A checkpoint holds everything
the loop depends on (weights, optimizer state, step, random states, history, config), so a
resumed CPU run continues bit for bit as if it had never stopped.
"""

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from lmcore.batching import check_token_stream, random_windows
from lmcore.losses import lm_loss
from lmcore.schedule import lr_at
from lmcore.validation import integer, positive, positive_int, probability, real

OptimizerFactory = Callable[..., torch.optim.Optimizer]  # (param_groups, lr=, betas=, eps=) -> optimizer


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int  # optimizer steps
    batch_size: int  # windows per micro-batch
    block_size: int  # tokens per window (at most the model's block_size)
    lr: float  # peak learning rate, reached at the end of warmup
    min_lr: float = 0.0  # learning rate at the end of the cosine decay
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps up to lr
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    weight_decay: float = 0.1  # applied to weights with >= 2 dims only (see param_groups)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global gradient norm; None or 0 disables clipping
    eval_interval: int = 100  # evaluate every this many steps (and after the last) when val_data is given
    eval_batches: int = 20  # batches averaged by evaluate()
    seed: int = 0  # seeds the training batches; evaluation uses seed + 1
    device: str = "cpu"
    autocast_bf16: bool | None = None  # bf16 autocast for forward passes; None: on when device is CUDA
    checkpoint_path: str | None = None  # where fit() saves checkpoints; None: never
    checkpoint_interval: int | None = None  # save every this many steps; None: only after the last
    progress: bool = True  # tqdm progress bar with the loss and tokens/s

    def __post_init__(self):
        counts = [
            "max_steps",
            "batch_size",
            "block_size",
            "grad_accum_steps",
            "eval_interval",
            "eval_batches",
        ]
        if self.checkpoint_interval is not None:
            counts.append("checkpoint_interval")
        for name in counts:
            positive_int(f"TrainConfig.{name}", getattr(self, name))
        integer(
            "TrainConfig.warmup_steps",
            self.warmup_steps,
            low=0,
            high=self.max_steps - 1,
            hint=f"warmup must end before max_steps = {self.max_steps}",
        )
        positive("TrainConfig.lr", self.lr)
        real("TrainConfig.min_lr", self.min_lr, low=0.0, high=self.lr, hint="the decay ends at min_lr <= lr")
        real("TrainConfig.weight_decay", self.weight_decay, low=0.0)
        positive("TrainConfig.eps", self.eps)
        if len(self.betas) != 2:  # no shared validator for a pair
            raise ValueError(f"TrainConfig.betas must be two numbers (beta1, beta2), got {self.betas!r}")
        for i, beta in enumerate(self.betas):
            probability(f"TrainConfig.betas[{i}]", beta, open_high=True)
        if self.grad_clip is not None:
            real("TrainConfig.grad_clip", self.grad_clip, low=0.0, hint="0 or None disables clipping")
        # a checkpoint stores the config as plain values: a torch.device or a Path becomes a str
        object.__setattr__(self, "device", str(self.device))
        if self.checkpoint_path is not None:
            object.__setattr__(self, "checkpoint_path", os.fspath(self.checkpoint_path))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer groups, GPT-2 / nanoGPT style: weight decay on every parameter with
    >= 2 dims (linear weights and embeddings), none on biases and LayerNorm gains.

    A tied tensor (the token embedding and the LM head) appears once; parameters
    that do not require gradients are left out.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() yields a tied tensor once
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


class Trainer:
    """Trains ``model`` (token ids (B, T) -> logits (B, T, V)) on a 1-D token stream.

    ``history`` maps "loss", "lr", "grad_norm" (before clipping) and "tokens_per_s"
    to one float per step, and "val_step", "val_loss" to the evaluations made.
    Training batches come from ``torch.Generator().manual_seed(config.seed)``,
    one ``get_batch`` call per micro-batch, in order. The optimizer, the schedule,
    the clipping and the batches can each be replaced by a function of the same
    contract (see the module's docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Tensor,
        val_data: Tensor | None = None,
        *,
        config: TrainConfig,
        optimizer_factory: OptimizerFactory = torch.optim.AdamW,
        lr_at: Callable[..., float] = lr_at,
        clip_grad_norm: Callable[..., Tensor] = nn.utils.clip_grad_norm_,
        get_batch: Callable[..., tuple[Tensor, Tensor]] = random_windows,
    ):
        check_token_stream(train_data, config.block_size, "train_data")
        if val_data is not None:
            check_token_stream(val_data, config.block_size, "val_data")
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"config.device is {config.device!r} but CUDA is not available")
        self.config = config
        self.model = model.to(self.device)
        self.train_data, self.val_data = train_data, val_data
        self.lr_at, self.clip_grad_norm, self.get_batch = lr_at, clip_grad_norm, get_batch
        self.optimizer = optimizer_factory(
            param_groups(model, config.weight_decay), lr=config.lr, betas=config.betas, eps=config.eps
        )
        bf16 = self.device.type == "cuda" if config.autocast_bf16 is None else config.autocast_bf16
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)
        self.generator = torch.Generator().manual_seed(config.seed)  # training batches
        self.step = 0  # optimizer steps taken
        self.history: dict[str, list[float]] = {
            k: [] for k in ("loss", "lr", "grad_norm", "tokens_per_s", "val_step", "val_loss")
        }

    def _batch(self, data: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x, y = self.get_batch(data, self.config.batch_size, self.config.block_size, generator)
        return x.to(self.device), y.to(self.device)  # each (B, T)

    def _step(self) -> float:
        """One optimizer step over grad_accum_steps micro-batches; returns their mean loss."""
        c = self.config
        lr = self.lr_at(self.step, c.max_steps, c.lr, c.min_lr, c.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        self.model.zero_grad(set_to_none=True)  # nothing left over from before this step adds in
        loss_sum = torch.zeros((), device=self.device)
        for _ in range(c.grad_accum_steps):
            x, y = self._batch(self.train_data, self.generator)
            with self.autocast:
                loss = lm_loss(self.model(x), y)
            (loss / c.grad_accum_steps).backward()  # gradients add up to those of the mean loss
            loss_sum += loss.detach()
        # with clipping off, max_norm = inf only measures the norm (the gradients are scaled by 1)
        grad_norm = self.clip_grad_norm(self.model.parameters(), c.grad_clip or math.inf)
        self.optimizer.step()
        loss_value = loss_sum.item() / c.grad_accum_steps  # .item() waits for the device
        tokens = c.grad_accum_steps * c.batch_size * c.block_size
        self.history["loss"].append(loss_value)
        self.history["lr"].append(lr)
        self.history["grad_norm"].append(float(grad_norm))
        self.history["tokens_per_s"].append(tokens / (time.perf_counter() - t0))
        self.step += 1
        return loss_value

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over eval_batches validation batches; the same batches every call."""
        if self.val_data is None:
            raise ValueError("evaluate() needs val_data: pass it to the Trainer")
        generator = torch.Generator().manual_seed(self.config.seed + 1)
        was_training = self.model.training
        self.model.eval()
        losses = []
        for _ in range(self.config.eval_batches):
            x, y = self._batch(self.val_data, generator)
            with self.autocast:
                losses.append(lm_loss(self.model(x), y).item())
        self.model.train(was_training)
        return sum(losses) / len(losses)

    def fit(self, steps: int | None = None) -> dict[str, list[float]]:
        """Train for ``steps`` more steps (default: up to max_steps); return the history so far.

        After each step it evaluates every eval_interval steps and after the
        last (if val_data was given), then saves a checkpoint every
        checkpoint_interval steps and after the last (if checkpoint_path is set).
        """
        c = self.config
        remaining = c.max_steps - self.step
        steps = remaining if steps is None else steps
        if not isinstance(steps, int) or not 0 <= steps <= remaining:
            raise ValueError(f"steps must be an int in [0, {remaining}] (steps left), got {steps!r}")
        self.model.train()
        bar = tqdm(total=c.max_steps, initial=self.step, disable=not c.progress, desc="training")
        for _ in range(steps):
            loss = self._step()
            bar.update()
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{self.history['tokens_per_s'][-1]:.0f}")
            last = self.step == c.max_steps
            if self.val_data is not None and (last or self.step % c.eval_interval == 0):
                self.history["val_step"].append(self.step)
                self.history["val_loss"].append(self.evaluate())
            every = c.checkpoint_interval
            if c.checkpoint_path is not None and (last or (every and self.step % every == 0)):
                self.save_checkpoint(c.checkpoint_path)
        bar.close()
        return self.history

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue exactly where this one is."""
        rng = {"batches": self.generator.get_state(), "cpu": torch.get_rng_state()}  # cpu: dropout
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "rng": rng,
            "history": self.history,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.generator.set_state(state["rng"]["batches"])
        torch.set_rng_state(state["rng"]["cpu"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.history = {k: list(v) for k, v in state["history"].items()}

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write ``state_dict()`` with torch.save; a crash mid-write leaves the old file intact."""
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        model: nn.Module,
        train_data: Tensor,
        val_data: Tensor | None = None,
        *,
        optimizer_factory: OptimizerFactory = torch.optim.AdamW,
        **overrides,
    ) -> "Trainer":
        """A Trainer restored from the checkpoint at ``path``, ready to ``fit()`` the remaining steps.

        ``model`` must have the checkpointed architecture (its weights are
        replaced); the data and optimizer_factory must be those of the original
        run for an exact continuation. ``overrides`` replace config fields that
        do not change the run's results, such as ``progress`` or ``checkpoint_path``.
        """
        state = torch.load(path, map_location="cpu", weights_only=True)
        config = replace(TrainConfig(**state["config"]), **overrides)
        trainer = cls(model, train_data, val_data, config=config, optimizer_factory=optimizer_factory)
        trainer.load_state_dict(state)
        return trainer


def train(
    model: nn.Module,
    data: Tensor,
    config: TrainConfig,
    steps: int,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    optimizer_cls: OptimizerFactory = torch.optim.AdamW,
    lr_at: Callable[..., float] = lr_at,
    clip_grad_norm: Callable[..., Tensor] = nn.utils.clip_grad_norm_,
    get_batch: Callable[..., tuple[Tensor, Tensor]] = random_windows,
) -> list[float]:
    """Train ``model`` on ``data`` until ``steps`` optimizer steps are taken in total; return
    the losses (each the mean over the micro-batches of its step) of the steps this call took.

    The loop is the Trainer's, with the optimizer built as ``optimizer_cls(param_groups(model,
    config.weight_decay), lr=, betas=, eps=)``, the learning rate of step s
    ``lr_at(s, config.max_steps, config.lr, config.min_lr, config.warmup_steps)`` and the
    batches ``get_batch(data, config.batch_size, config.block_size, generator)`` from
    ``torch.Generator().manual_seed(config.seed)``. If a file exists at ``checkpoint_path``
    the run first continues from it (weights, optimizer state, step count, batch generator);
    after the last step it saves its checkpoint there. ``checkpoint_path=None`` neither reads
    nor writes a file. ``steps`` is at most ``config.max_steps`` and at least the steps the
    checkpoint has taken.
    """
    trainer = Trainer(
        model,
        data,
        config=config,
        optimizer_factory=optimizer_cls,
        lr_at=lr_at,
        clip_grad_norm=clip_grad_norm,
        get_batch=get_batch,
    )
    if checkpoint_path is not None and os.path.exists(checkpoint_path):
        trainer.load_state_dict(torch.load(checkpoint_path, map_location="cpu", weights_only=True))
    start = trainer.step
    integer("steps", steps, low=start, high=config.max_steps, hint=f"the checkpoint has taken {start} steps")
    trainer.fit(steps - start)
    if checkpoint_path is not None:
        trainer.save_checkpoint(checkpoint_path)
    return trainer.history["loss"][start:]
