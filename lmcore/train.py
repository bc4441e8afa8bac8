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

Data parallelism. Under ``torchrun`` (``torchrun --nproc_per_node=N -m lmcore.train``, see
``main``) every process, or *rank*, holds a whole replica of the model and of the optimizer
state. ``config.batch_size`` stays the *global* number of windows per micro-batch: every rank
draws the same global batch from the same seeded generator and trains on its own contiguous
slice of batch_size // world_size rows. The model runs inside ``DistributedDataParallel``,
which averages the gradients across the ranks in the backward pass of the last micro-batch of
each step (``no_sync()`` skips the others); since each rank's loss is a mean over equally
many tokens, the average is the gradient of the whole batch, and every rank takes the step one
process would take. Logged and validation losses are averaged across the ranks, rank 0 alone
writes checkpoints (which one process can resume, and the other way round) and shows the
progress bar. Without an initialized process group nothing of this runs. Dropout masks come
from each process's own CPU generator, so a run with dropout follows the 1-process run only
statistically.
"""

import argparse
import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from lmcore.batching import check_token_stream, random_windows
from lmcore.crawl import CrawlConfig, make_crawl
from lmcore.losses import lm_loss
from lmcore.model import GPT, GPTConfig
from lmcore.pipeline import Document, default_identifier, run_pipeline
from lmcore.schedule import lr_at
from lmcore.validation import integer, positive, positive_int, probability, real

OptimizerFactory = Callable[..., torch.optim.Optimizer]  # (param_groups, lr=, betas=, eps=) -> optimizer


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int  # optimizer steps
    batch_size: int  # windows per micro-batch, all ranks together (each trains on batch_size // world_size)
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


def rank_and_world_size() -> tuple[int, int]:
    """(rank, world_size) of this process in torch.distributed's process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


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

    Under torchrun (an initialized torch.distributed process group) each rank
    builds its own Trainer with the same arguments and trains on its slice of
    every batch (see the module's docstring); ``history`` is then the same on
    every rank, except "tokens_per_s" (the global tokens over this rank's time),
    and ``evaluate``, ``fit`` and ``save_checkpoint`` must be called on every rank.
    ``model`` stays the plain module; its DDP wrapper is ``replica``.
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
        self.rank, self.world_size = rank_and_world_size()
        if config.batch_size % self.world_size:
            raise ValueError(
                f"config.batch_size = {config.batch_size} must be divisible by the world size "
                f"{self.world_size}: it is the global batch, and each of the {self.world_size} ranks "
                f"trains on an equal slice of it; make batch_size a multiple of {self.world_size} "
                "or change the number of processes (torchrun --nproc_per_node)"
            )
        if self.world_size > 1 and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # one GPU per rank
        self.config = config
        self.model = model.to(self.device)
        # under torchrun, training forward passes go through DDP, whose backward all-reduces the
        # gradients; it starts by copying rank 0's weights to every rank
        self.replica = self.model
        if self.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.replica = DistributedDataParallel(self.model, device_ids=device_ids)
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
        """This rank's rows of the next global batch: x, y each (B / world_size, T)."""
        x, y = self.get_batch(data, self.config.batch_size, self.config.block_size, generator)  # (B, T)
        b = self.config.batch_size // self.world_size  # every rank draws all B rows, keeps b of them
        rows = slice(self.rank * b, (self.rank + 1) * b)  # this rank's contiguous slice
        return x[rows].to(self.device), y[rows].to(self.device)

    def _mean_over_ranks(self, value: float) -> float:
        """The mean of ``value`` over the ranks (an all-reduce); ``value`` itself in one process."""
        if self.world_size == 1:
            return value
        total = torch.tensor(value, dtype=torch.float64, device=self.device)  # gloo: CPU, NCCL: CUDA
        dist.all_reduce(total)  # sum over the ranks, the same result on every rank
        return total.item() / self.world_size

    def _gradient_sync(self, now: bool):
        """Context of a micro-batch: DDP all-reduces the gradients in its backward only when ``now``."""
        if self.world_size == 1 or now:
            return contextlib.nullcontext()
        return self.replica.no_sync()  # the gradients add up locally until the synced micro-batch

    def _step(self) -> float:
        """One optimizer step over grad_accum_steps micro-batches; returns their mean loss."""
        c = self.config
        lr = self.lr_at(self.step, c.max_steps, c.lr, c.min_lr, c.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        self.model.zero_grad(set_to_none=True)  # nothing left over from before this step adds in
        loss_sum = torch.zeros((), device=self.device)
        for i in range(c.grad_accum_steps):
            x, y = self._batch(self.train_data, self.generator)  # (B / world_size, T)
            with self._gradient_sync(now=i == c.grad_accum_steps - 1):
                with self.autocast:
                    loss = lm_loss(self.replica(x), y)
                (loss / c.grad_accum_steps).backward()  # gradients add up to those of the mean loss
            loss_sum += loss.detach()
        # the gradients are now averaged over the ranks: every rank measures (and clips) the same norm
        # with clipping off, max_norm = inf only measures the norm (the gradients are scaled by 1)
        grad_norm = self.clip_grad_norm(self.model.parameters(), c.grad_clip or math.inf)
        self.optimizer.step()
        loss_value = loss_sum.item() / c.grad_accum_steps  # .item() waits for the device
        loss_value = self._mean_over_ranks(loss_value)  # the loss of the whole batch
        tokens = c.grad_accum_steps * c.batch_size * c.block_size  # all ranks together
        self.history["loss"].append(loss_value)
        self.history["lr"].append(lr)
        self.history["grad_norm"].append(float(grad_norm))
        self.history["tokens_per_s"].append(tokens / (time.perf_counter() - t0))
        self.step += 1
        return loss_value

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over eval_batches validation batches; the same batches every call.

        Under torchrun each rank evaluates its slice of every batch and the result is
        the mean over the ranks, the number one process computes on the whole batches.
        """
        if self.val_data is None:
            raise ValueError("evaluate() needs val_data: pass it to the Trainer")
        generator = torch.Generator().manual_seed(self.config.seed + 1)
        was_training = self.model.training
        self.model.eval()
        losses = []
        for _ in range(self.config.eval_batches):
            x, y = self._batch(self.val_data, generator)  # (B / world_size, T)
            with self.autocast:
                losses.append(lm_loss(self.model(x), y).item())  # the plain model: no gradients to sync
        self.model.train(was_training)
        return self._mean_over_ranks(sum(losses) / len(losses))

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
        show = c.progress and self.rank == 0
        bar = tqdm(total=c.max_steps, initial=self.step, disable=not show, desc="training")
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
            "model": self.model.state_dict(),  # the plain module's names, without DDP's "module."
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
        """Write ``state_dict()`` with torch.save; a crash mid-write leaves the old file intact.

        Under torchrun rank 0 alone writes (the ranks hold the same weights, optimizer
        state and batch generator) and the others wait until the file is complete.
        """
        if self.rank == 0:
            tmp = f"{os.fspath(path)}.tmp"
            torch.save(self.state_dict(), tmp)
            os.replace(tmp, path)
        if self.world_size > 1:
            dist.barrier()  # no rank goes on, and none reads the file, before it is written

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


# --------------------------------------------------------------------------- chapter 10's run, as a command

SMALL_GPT = GPTConfig(block_size=64, vocab_size=256, n_layer=2, n_head=4, n_embd=64)  # chapter 10's model
SMALL_RUN = TrainConfig(  # ... and its run
    max_steps=600,
    batch_size=16,
    block_size=64,
    lr=3e-3,
    min_lr=3e-4,
    warmup_steps=60,
    grad_clip=1.0,
    eval_interval=50,
    eval_batches=8,
    progress=False,
)


def byte_tokens(documents: Sequence[Document], train_fraction: float = 0.9) -> tuple[Tensor, Tensor]:
    """Chapter 10's token stream: the texts joined by blank lines, one token per UTF-8 byte (ids
    0..255), split into train (the first train_fraction) and validation: (N_train,), (N_val,)."""
    text = "\n\n".join(d.text for d in documents)
    data = torch.tensor(list(text.encode("utf-8")), dtype=torch.long)  # (N,)
    n_train = int(train_fraction * len(data))
    return data[:n_train], data[n_train:]


def crawl_corpus(n_pages: int = 300, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Chapter 10's corpus as (train, val) byte tokens: a synthetic crawl of n_pages pages,
    cleaned by lmcore.pipeline. Generated here, nothing downloaded (a few seconds)."""
    pages = make_crawl(CrawlConfig(n_pages=n_pages, seed=seed))
    documents, _ = run_pipeline(pages, identifier=default_identifier())
    return byte_tokens(documents)


def main(argv: Sequence[str] | None = None) -> Trainer:
    """Train chapter 10's small GPT (SMALL_GPT, SMALL_RUN) on its corpus, in one process or several:

        python -m lmcore.train --steps 200
        torchrun --nproc_per_node=2 -m lmcore.train --steps 200    # the same run on 2 processes

    torchrun starts the processes with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT
    set; each joins the process group (gloo on CPU, NCCL on CUDA) and builds the same Trainer,
    which then runs data-parallel. Rank 0 prints the final losses. Returns this rank's trainer.
    """
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.train",
        description="Train chapter 10's small GPT; under torchrun, data-parallel over the processes.",
    )
    parser.add_argument("--steps", type=int, default=SMALL_RUN.max_steps, help="optimizer steps")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=SMALL_RUN.batch_size,
        help="windows per micro-batch, all processes together (a multiple of their number)",
    )
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    parser.add_argument("--lr", type=float, default=SMALL_RUN.lr, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=None, help="warmup steps (default: a tenth of --steps)")
    parser.add_argument("--seed", type=int, default=SMALL_RUN.seed, help="seeds the weights and the batches")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="save the run here after the last step; if the file exists, resume it (with its own settings)",
    )
    parser.add_argument("--checkpoint-interval", type=int, help="also save every this many steps")
    parser.add_argument(
        "--data",
        default=None,
        help="a torch.save'd dict {'train': ids, 'val': ids} to train on instead of chapter 10's corpus",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # set by torchrun
    if distributed:
        cuda = torch.device(args.device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl" if cuda else "gloo")
    try:
        if args.data is None:
            train_data, val_data = crawl_corpus()
        else:
            tokens = torch.load(args.data, weights_only=True)
            train_data, val_data = tokens["train"], tokens.get("val")
        torch.manual_seed(args.seed)
        model = GPT(SMALL_GPT)
        progress = not args.no_progress
        if args.checkpoint is not None and os.path.exists(args.checkpoint):
            trainer = Trainer.resume(
                args.checkpoint, model, train_data, val_data, progress=progress, device=args.device
            )
        else:
            config = replace(
                SMALL_RUN,
                max_steps=args.steps,
                batch_size=args.batch_size,
                grad_accum_steps=args.grad_accum,
                lr=args.lr,
                min_lr=min(SMALL_RUN.min_lr, args.lr),
                warmup_steps=args.steps // 10 if args.warmup is None else args.warmup,
                seed=args.seed,
                device=args.device,
                checkpoint_path=args.checkpoint,
                checkpoint_interval=args.checkpoint_interval,
                progress=progress,
            )
            trainer = Trainer(model, train_data, val_data, config=config)
        t0 = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - t0
        if trainer.rank == 0:
            h = trainer.history
            val = f", val loss {h['val_loss'][-1]:.4f}" if h["val_loss"] else ""
            processes = f"{trainer.world_size} process" + ("es" if trainer.world_size > 1 else "")
            print(f"step {trainer.step}: train loss {h['loss'][-1]:.4f}{val} ({processes}, {seconds:.1f} s)")
    finally:
        if distributed:
            dist.destroy_process_group()
    return trainer


if __name__ == "__main__":
    main()
