"""The reference Trainer data-parallel: 2 CPU processes (gloo) follow the 1-process run on the same
global batch step by step (losses, gradient norms, validation losses, weights), with and without
gradient accumulation; rank 0 alone writes checkpoints and shows progress; checkpoints move
between 1 and 2 processes; and the command line runs under torchrun."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lmcore.model import GPT, GPTConfig
from lmcore.tolerances import FP32_TRAINING
from lmcore.train import SMALL_GPT, TrainConfig, Trainer, main
from tests.shared import once_per_session

pytestmark = pytest.mark.slow  # starts 5 processes: 15 to 45 s on 2 cores

WORLD = 2
TINY = GPTConfig(block_size=16, vocab_size=37, n_layer=2, n_head=4, n_embd=32)
TRAIN = torch.randint(0, TINY.vocab_size, (2000,), generator=torch.Generator().manual_seed(0))
VAL = torch.randint(0, TINY.vocab_size, (300,), generator=torch.Generator().manual_seed(1))
# the runs compared with one process; "clipped" clips in every step (norms are about 1)
RUNS = {
    "plain": dict(max_steps=4),
    "accumulation": dict(max_steps=5, grad_accum_steps=2, eval_interval=2, eval_batches=3),
    "clipped": dict(max_steps=3, batch_size=8, grad_clip=0.05, eval_interval=1, eval_batches=2),
}
# a 2-process run that checkpoints at step 3 and "crashes" after step 4, and its 1-process twin
CRASH = dict(max_steps=6, grad_accum_steps=2, eval_interval=2, eval_batches=2, checkpoint_interval=3)


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(TINY)


def config(**overrides) -> TrainConfig:
    base = dict(max_steps=4, batch_size=4, block_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=1, progress=False)
    return TrainConfig(**{**base, **overrides})


def result(trainer: Trainer) -> dict:
    return {"history": trainer.history, "model": trainer.model.state_dict()}  # as in a checkpoint


def _worker(rank: int, out: str) -> None:
    """One of the 2 processes: every scenario, its results saved to out/rank{rank}.pt."""
    out = Path(out)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=timedelta(seconds=60))
    try:
        results = {}
        for name, overrides in RUNS.items():
            # other weights on rank 1: DistributedDataParallel starts from rank 0's
            trainer = Trainer(tiny_gpt(seed=rank), TRAIN, VAL, config=config(**overrides))
            trainer.fit()
            results[name] = result(trainer)

        # rank 0 alone writes, and shows the bar: each rank is given a path and stderr of its own
        sys.stderr = open(out / f"stderr{rank}.txt", "w")  # noqa: SIM115 (closed with the process)
        c = config(**CRASH, checkpoint_path=out / f"crash{rank}.pt", progress=True)
        Trainer(tiny_gpt(), TRAIN, VAL, config=c).fit(4)
        sys.stderr.flush()

        # a 1-process checkpoint, resumed on 2 processes into other weights
        resumed = Trainer.resume(out / "one.pt", tiny_gpt(seed=99), TRAIN, VAL, checkpoint_path=None)
        resumed.fit()
        results["resumed"] = result(resumed)

        try:
            Trainer(tiny_gpt(), TRAIN, config=config(batch_size=5))
        except ValueError as e:
            results["error"] = str(e)
        torch.save(results, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(out: Path) -> dict:
    """Spawn the 2 workers (gloo on 127.0.0.1, one thread each) and wait at most 3 minutes."""
    t0 = time.perf_counter()
    first = Trainer(tiny_gpt(), TRAIN, VAL, config=config(**CRASH, checkpoint_path=out / "one.pt"))
    first.fit(3)  # the 1-process checkpoint the workers resume
    env = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    with pytest.MonkeyPatch.context() as mp_env:
        for k, v in env.items():
            mp_env.setenv(k, v)
        context = mp.start_processes(
            _worker, args=(str(out),), nprocs=WORLD, join=False, start_method="spawn"
        )
        deadline = time.monotonic() + 180
        try:
            while not context.join(timeout=1):  # raises if a worker failed, with its traceback
                assert time.monotonic() < deadline, "the 2 processes did not finish in 3 minutes"
        finally:
            for p in context.processes:
                if p.is_alive():
                    p.kill()
    return {"seconds": time.perf_counter() - t0}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    run = once_per_session(tmp_path_factory, "ddp", run_two_processes)
    out = tmp_path_factory.getbasetemp()
    out = (out.parent if os.environ.get("PYTEST_XDIST_WORKER") else out) / "ddp"
    print(f"2 processes: {run['seconds']:.1f} s")
    return out, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def assert_same_run(actual: dict, expected: Trainer) -> None:
    """``actual`` (a result or a checkpoint) has step by step the same losses, norms and
    validation losses as ``expected``, and the same final weights."""
    h, e = actual["history"], expected.history
    for key in ("loss", "grad_norm", "val_loss"):
        assert len(h[key]) == len(e[key]), key
        close = FP32_TRAINING.close(torch.tensor(h[key]), torch.tensor(e[key]))
        assert close.all(), f"{key}: {h[key]} vs one process {e[key]}"
    assert h["lr"] == e["lr"] and h["val_step"] == e["val_step"]
    for name, w in expected.model.state_dict().items():
        assert FP32_TRAINING.close(actual["model"][name], w).all(), name


@pytest.mark.parametrize("run", list(RUNS))
def test_train_ddp_two_processes_follow_one_process(ranks, run):
    """Each rank trains on half of every global batch: the averaged gradients, the all-reduced
    losses and the evaluation are those of one process on the whole batch, on both ranks."""
    _, results = ranks
    one = Trainer(tiny_gpt(), TRAIN, VAL, config=config(**RUNS[run]))
    one.fit()
    if run == "clipped":
        assert min(one.history["grad_norm"]) > 0.05 * 10  # clipping acts in every step
    for rank, r in enumerate(results):
        assert r[run]["history"]["loss"] == results[0][run]["history"]["loss"], rank  # all-reduced: equal
        assert_same_run(r[run], one)


def test_train_ddp_rank_0_alone_writes_the_checkpoint_and_shows_progress(ranks):
    out, _ = ranks
    assert (out / "crash0.pt").exists() and not (out / "crash1.pt").exists()
    assert not list(out.glob("*.tmp"))
    state = torch.load(out / "crash0.pt", weights_only=True)
    assert state["step"] == 3 and set(state["model"]) == set(tiny_gpt().state_dict())  # no "module."
    bar0, bar1 = ((out / f"stderr{r}.txt").read_text() for r in range(WORLD))
    assert "training" in bar0 and "4/6" in bar0 and "loss=" in bar0
    assert bar1 == ""


def test_train_ddp_checkpoints_move_between_one_and_two_processes(ranks):
    """A 2-process checkpoint resumed in 1 process, and a 1-process one resumed on 2, each continue
    as the uninterrupted 1-process run."""
    out, results = ranks
    uninterrupted = Trainer(tiny_gpt(), TRAIN, VAL, config=config(**CRASH))
    uninterrupted.fit()
    resumed = Trainer.resume(
        out / "crash0.pt", tiny_gpt(seed=99), TRAIN, VAL, checkpoint_path=None, progress=False
    )
    assert resumed.step == 3
    resumed.fit()
    assert_same_run(result(resumed), uninterrupted)
    for r in results:
        assert_same_run(r["resumed"], uninterrupted)


def test_train_ddp_batch_not_divisible_by_the_world_size_is_explained(ranks):
    _, results = ranks
    for r in results:
        assert "config.batch_size = 5 must be divisible by the world size 2" in r["error"]
        assert "make batch_size a multiple of 2 or change the number of processes" in r["error"]


def test_train_ddp_command_line_under_torchrun_matches_one_process(tmp_path):
    """torchrun --nproc_per_node=2 -m lmcore.train trains chapter 10's model as one process does."""
    data = torch.randint(0, SMALL_GPT.vocab_size, (3000,), generator=torch.Generator().manual_seed(2))
    torch.save({"train": data[:2500], "val": data[2500:]}, tmp_path / "data.pt")
    args = ["--steps", "3", "--batch-size", "4", "--grad-accum", "2", "--data", str(tmp_path / "data.pt")]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}"]
    command = [
        *torchrun,
        "-m",
        "lmcore.train",
        *args,
        "--checkpoint",
        str(tmp_path / "two.pt"),
        "--no-progress",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("step 3: train loss") == 1 and "(2 processes" in done.stdout  # rank 0 prints
    two = torch.load(tmp_path / "two.pt", weights_only=True)

    one = main([*args, "--no-progress"])  # in this process: no process group
    assert one.world_size == 1 and not dist.is_initialized()
    assert TrainConfig(**two["config"]) == replace(one.config, checkpoint_path=str(tmp_path / "two.pt"))
    assert_same_run(two, one)
