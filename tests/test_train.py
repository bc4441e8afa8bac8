"""The reference trainer: schedule, parameter groups, accumulation, clipping, checkpoints,
the hooks for a student's parts and ``train``, each checked against PyTorch or a computation
written out here; and what A7's checks say about a failure."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from lmcore.batching import random_windows
from lmcore.losses import lm_loss
from lmcore.model import GPT, GPTConfig
from lmcore.schedule import lr_at
from lmcore.tolerances import FP32_OP, FP32_TRAINING
from lmcore.train import TrainConfig, Trainer, param_groups, train

TINY = GPTConfig(block_size=16, vocab_size=37, n_layer=2, n_head=4, n_embd=32)


def tiny_gpt(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(replace(TINY, **overrides))


def corpus(n: int = 2000, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, (n,), generator=torch.Generator().manual_seed(seed))


def config(**overrides) -> TrainConfig:
    base = dict(max_steps=4, batch_size=4, block_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=1, progress=False)
    return TrainConfig(**{**base, **overrides})


def all_close(actual: dict, expected: dict, tol) -> bool:
    return all(tol.close(actual[k], v).all() for k, v in expected.items())


def lr_of(step: int, c: TrainConfig) -> float:
    return lr_at(step, c.max_steps, c.lr, c.min_lr, c.warmup_steps)


# --------------------------------------------------------------------------- batching


def test_windows_are_shifted_by_one_and_seeded():
    data = torch.arange(100, dtype=torch.int32) * 3
    x, y = random_windows(data, 5, 7, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 7) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(y - x, torch.full_like(x, 3))  # consecutive tokens of the stream
    x2, _ = random_windows(data, 5, 7, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_windows_reach_both_ends_of_the_stream():
    data = torch.arange(10)
    x, y = random_windows(data, 200, 4, torch.Generator().manual_seed(0))
    assert set(x[:, 0].tolist()) == set(range(6))  # starts 0 .. N - block_size - 1
    x, y = random_windows(torch.arange(5), 3, 4, torch.Generator().manual_seed(0))
    assert (x == torch.arange(4)).all() and (y == torch.arange(1, 5)).all()  # one window fits


@pytest.mark.parametrize(
    "args, error, message",
    [
        (
            ([1, 2, 3], 1, 2),
            TypeError,
            r"data must be a torch.Tensor of shape \(N,\) of token ids.*got \[1, 2, 3\]",
        ),
        ((torch.rand(100), 1, 2), ValueError, "integer token ids, got dtype torch.float32"),
        ((torch.ones(2, 50, dtype=torch.long), 1, 2), ValueError, r"1 dimensions .*got shape \(2, 50\)"),
        (
            (torch.arange(8), 1, 8),
            ValueError,
            r"len\(data\) must be >= 9, got 8; a window of block_size \+ 1",
        ),
        ((torch.arange(8), 0, 2), ValueError, "batch_size must be >= 1, got 0"),
        ((torch.arange(8), 1, 0), ValueError, "block_size must be >= 1, got 0"),
        ((torch.arange(8), 1, 2, "seed"), ValueError, "generator must be a CPU torch.Generator"),
    ],
)
def test_bad_batching_input_is_explained(args, error, message):
    data, batch_size, block_size, *generator = args
    with pytest.raises(error, match=message):
        random_windows(data, batch_size, block_size, generator[0] if generator else torch.Generator())


# --------------------------------------------------------------------------- schedule and groups


def test_lr_schedule_boundaries():
    def lr(step):
        return lr_at(step, max_steps=12, lr=1.0, min_lr=0.1, warmup_steps=2)

    assert lr(0) == 0.5 and lr(1) == 1.0  # linear warmup reaches lr at warmup_steps - 1
    assert lr(2) == 1.0  # the cosine starts at lr ...
    assert lr(7) == pytest.approx(0.55)  # ... is halfway down halfway ...
    assert lr(12) == pytest.approx(0.1)  # ... and ends at min_lr at max_steps
    decay = [lr(s) for s in range(2, 13)]
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert lr_at(0, 5, 0.3, 0.0, 0) == 0.3  # no warmup
    assert lr_at(3, 6, 0.3, 0.3, 0) == 0.3  # constant


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((-1, 12, 1.0, 0.1, 2), ValueError, r"step must be in \[0, 12\], got -1; the schedule covers steps"),
        ((13, 12, 1.0, 0.1, 2), ValueError, r"step must be in \[0, 12\], got 13"),
        ((2.0, 12, 1.0, 0.1, 2), TypeError, r"step must be an int, got 2.0"),
        ((0, 12, 1.0, 0.1, 12), ValueError, r"warmup_steps must be in \[0, 11\], got 12"),
        ((0, 12, 1.0, 2.0, 2), ValueError, r"min_lr must be in \[0, 1\], got 2.0"),
    ],
)
def test_lr_outside_the_schedule_is_an_error(args, error, message):
    with pytest.raises(error, match=message):
        lr_at(*args)


def test_param_groups_decay_matrices_only_and_count_the_tied_weight_once():
    model = tiny_gpt()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}  # a tied tensor is named once
    decayed = {names[id(p)] for p in decay["params"]}
    assert "transformer.wte.weight" in decayed and "transformer.wpe.weight" in decayed
    assert all(n.endswith("weight") and "ln" not in n for n in decayed)
    assert {names[id(p)] for p in no_decay["params"]} == {n for n in names.values() if n not in decayed}
    assert all(n.endswith("bias") or ".ln_" in n for n in (names[id(p)] for p in no_decay["params"]))
    params = decay["params"] + no_decay["params"]
    assert len({id(p) for p in params}) == len(params) == len(names)
    assert sum(p.numel() for p in params) == model.num_parameters()


def test_frozen_parameters_are_left_out():
    model = tiny_gpt()
    model.transformer.wpe.weight.requires_grad_(False)
    decay, _ = param_groups(model, 0.1)
    assert all(p is not model.transformer.wpe.weight for p in decay["params"])


# --------------------------------------------------------------------------- the loop


def test_history_records_every_step():
    trainer = Trainer(tiny_gpt(), corpus(), corpus(500, seed=1), config=config(max_steps=5, eval_interval=2))
    history = trainer.fit()
    assert trainer.step == 5 and len(history["loss"]) == len(history["grad_norm"]) == 5
    assert history["lr"] == [lr_of(s, trainer.config) for s in range(5)]
    assert all(t > 0 for t in history["tokens_per_s"])
    assert history["val_step"] == [2, 4, 5] and len(history["val_loss"]) == 3
    assert history["val_loss"][-1] == trainer.evaluate()  # the same batches every time


def test_gradients_left_on_the_model_do_not_leak_into_the_first_step():
    stale = tiny_gpt()
    lm_loss(stale(corpus(8)[None]), corpus(8, seed=3)[None]).backward()
    clean = Trainer(tiny_gpt(), corpus(), config=config())
    dirty = Trainer(stale, corpus(), config=config())
    assert clean.fit()["loss"] == dirty.fit()["loss"]


def test_loss_falls_on_a_repetitive_corpus():
    data = torch.arange(10).repeat(100)  # 0 1 2 ... 9 0 1 2 ...: the next token is certain
    c = config(max_steps=40, batch_size=8, block_size=12, lr=1e-2, min_lr=1e-3, warmup_steps=4)
    history = Trainer(tiny_gpt(), data, data, config=c).fit()
    assert history["loss"][0] > 3.0  # about ln(37) at the start
    assert history["loss"][-1] < 0.2 and history["val_loss"][-1] < 0.2


def test_evaluate_restores_training_mode_and_needs_val_data():
    trainer = Trainer(tiny_gpt(), corpus(), corpus(100), config=config())
    trainer.model.train()
    trainer.evaluate()
    assert trainer.model.training
    with pytest.raises(ValueError, match="evaluate\\(\\) needs val_data"):
        Trainer(tiny_gpt(), corpus(), config=config()).evaluate()


def test_progress_bar_shows_loss_and_tokens_per_second(capsys):
    Trainer(tiny_gpt(), corpus(), config=config(max_steps=2, progress=True)).fit()
    err = capsys.readouterr().err
    assert "loss=" in err and "tok_s=" in err and "2/2" in err


def test_fit_in_pieces_and_too_many_steps():
    trainer = Trainer(tiny_gpt(), corpus(), config=config(max_steps=4))
    trainer.fit(1)
    assert trainer.step == 1
    with pytest.raises(ValueError, match=r"steps must be an int in \[0, 3\] \(steps left\), got 4"):
        trainer.fit(4)
    trainer.fit()
    assert trainer.step == 4 and len(trainer.history["loss"]) == 4


def test_gradient_accumulation_equals_one_big_batch():
    """k micro-batches of B windows give the gradient of the mean loss over k * B windows."""
    data = corpus()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    big = random_windows(data, 8, 8, g1)[0]
    assert torch.equal(big, torch.cat([random_windows(data, 2, 8, g2)[0] for _ in range(4)]))  # same windows
    one = Trainer(tiny_gpt(), data, config=config(batch_size=8, max_steps=3))
    accumulated = Trainer(tiny_gpt(), data, config=config(batch_size=2, grad_accum_steps=4, max_steps=3))
    h1, h4 = one.fit(), accumulated.fit()
    assert FP32_TRAINING.close(torch.tensor(h4["loss"]), torch.tensor(h1["loss"])).all()
    assert FP32_TRAINING.close(torch.tensor(h4["grad_norm"]), torch.tensor(h1["grad_norm"])).all()
    assert all_close(accumulated.model.state_dict(), one.model.state_dict(), FP32_TRAINING)
    assert h4["tokens_per_s"][0] > 0 and one.history["lr"] == accumulated.history["lr"]


def sgd(groups, lr, betas, eps):
    """Plain SGD: the update is exactly -lr * (clipped) gradient."""
    return torch.optim.SGD(groups, lr=lr)


@pytest.mark.parametrize("grad_clip", [0.05, None, 0.0, 1e6])
def test_clipping_matches_clip_grad_norm(grad_clip):
    data = corpus()
    c = config(max_steps=1, warmup_steps=0, weight_decay=0.0, grad_clip=grad_clip, lr=0.5)
    trainer = Trainer(tiny_gpt(), data, config=c, optimizer_factory=sgd)
    trainer.fit()

    model = tiny_gpt()  # the same step written out, with PyTorch's clip_grad_norm_
    x, y = random_windows(data, c.batch_size, c.block_size, torch.Generator().manual_seed(c.seed))
    lm_loss(model(x), y).backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf)
    if grad_clip == 0.05:
        assert norm > 0.05 * 10  # clipping really happens here
    with torch.no_grad():
        for p in model.parameters():
            p -= c.lr * p.grad
    assert FP32_OP.close(torch.tensor(trainer.history["grad_norm"]), norm[None]).all()
    assert all_close(trainer.model.state_dict(), model.state_dict(), FP32_OP)


class HandwrittenAdamW(torch.optim.Optimizer):
    """AdamW as a student writes it: decoupled weight decay, bias-corrected moments."""

    def __init__(self, params, lr, betas, eps, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            (b1, b2), lr = group["betas"], group["lr"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["t"] += 1
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = state["m"] / (1 - b1 ** state["t"])
                v_hat = state["v"] / (1 - b2 ** state["t"])
                p.mul_(1 - lr * group["weight_decay"])
                p.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))


def test_a_custom_optimizer_runs_inside_the_trainer():
    data, c = corpus(), config(max_steps=5, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.3)
    received = {}

    def factory(groups, lr, betas, eps):
        received.update(lr=lr, betas=betas, eps=eps, decay=[g["weight_decay"] for g in groups])
        return HandwrittenAdamW(groups, lr, betas, eps)

    custom = Trainer(tiny_gpt(), data, config=c, optimizer_factory=factory)
    reference = Trainer(tiny_gpt(), data, config=c)
    assert isinstance(reference.optimizer, torch.optim.AdamW)
    assert received == dict(lr=c.lr, betas=(0.8, 0.9), eps=1e-6, decay=[0.3, 0.0])
    losses, expected = custom.fit()["loss"], reference.fit()["loss"]
    assert FP32_TRAINING.close(torch.tensor(losses), torch.tensor(expected)).all()
    assert all_close(custom.model.state_dict(), reference.model.state_dict(), FP32_TRAINING)
    assert custom.optimizer.param_groups[0]["lr"] == lr_of(4, c)  # the trainer sets each step's lr


# --------------------------------------------------------------------------- checkpoints


def test_a_resumed_run_equals_an_uninterrupted_one_bit_for_bit(tmp_path):
    """Dropout, accumulation and evaluation on: every random state the run reads is restored."""
    train, val = corpus(), corpus(300, seed=1)
    path = tmp_path / "ckpt.pt"
    c = config(max_steps=6, grad_accum_steps=2, warmup_steps=2, eval_interval=2, eval_batches=2)

    uninterrupted = Trainer(tiny_gpt(dropout=0.1), train, val, config=c)
    uninterrupted.fit()

    checkpointed = replace(c, checkpoint_path=path, checkpoint_interval=3)
    first = Trainer(tiny_gpt(dropout=0.1), train, val, config=checkpointed)
    first.fit(4)  # checkpoint at step 3; step 4 is lost with the "crash"
    torch.manual_seed(1234)  # the process that resumes has other random states ...
    other_model = tiny_gpt(seed=99, dropout=0.1)  # ... and other weights
    resumed = Trainer.resume(path, other_model, train, val)
    assert resumed.step == 3 and resumed.config.checkpoint_interval == 3
    resumed.fit()

    for key in ("loss", "lr", "grad_norm", "val_step", "val_loss"):
        assert resumed.history[key] == uninterrupted.history[key], key
    for name, w in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], w), name
    state, expected = resumed.optimizer.state_dict()["state"], uninterrupted.optimizer.state_dict()["state"]
    assert all(torch.equal(state[i]["exp_avg_sq"], expected[i]["exp_avg_sq"]) for i in expected)


def test_checkpoint_is_written_every_interval_and_at_the_end(tmp_path):
    path = tmp_path / "run.pt"
    trainer = Trainer(
        tiny_gpt(), corpus(), config=config(max_steps=5, checkpoint_path=path, checkpoint_interval=2)
    )
    trainer.fit(3)
    assert torch.load(path, weights_only=True)["step"] == 2
    trainer.fit()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 5 and len(state["history"]["loss"]) == 5
    assert state["config"]["checkpoint_path"] == str(path) and state["config"]["device"] == "cpu"
    assert not (tmp_path / "run.pt.tmp").exists()
    resumed = Trainer.resume(path, tiny_gpt(), corpus(), progress=True)
    assert resumed.config.progress and resumed.step == 5


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (dict(max_steps=0), ValueError, "TrainConfig.max_steps must be >= 1, got 0"),
        (dict(batch_size=2.0), TypeError, "TrainConfig.batch_size must be an int, got 2.0"),
        (dict(grad_accum_steps=0), ValueError, "TrainConfig.grad_accum_steps must be >= 1"),
        (dict(checkpoint_interval=0), ValueError, "TrainConfig.checkpoint_interval must be >= 1"),
        (
            dict(warmup_steps=4),
            ValueError,
            r"warmup_steps must be in \[0, 3\], got 4; warmup must end before",
        ),
        (dict(lr=0.0), ValueError, "TrainConfig.lr must be > 0"),
        (dict(min_lr=0.1), ValueError, r"min_lr must be in \[0, 0.01\], got 0.1"),
        (dict(weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
        (dict(betas=(0.9,)), ValueError, r"betas must be two numbers \(beta1, beta2\)"),
        (dict(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
        (dict(grad_clip=-1.0), ValueError, "grad_clip must be >= 0, got -1.0; 0 or None disables clipping"),
    ],
)
def test_bad_config_is_explained(overrides, error, message):
    with pytest.raises(error, match=message):
        config(**overrides)


def test_bad_data_is_explained():
    with pytest.raises(ValueError, match="train_data must hold integer token ids"):
        Trainer(tiny_gpt(), corpus().float(), config=config())
    with pytest.raises(ValueError, match=r"len\(val_data\) must be >= 9, got 5"):
        Trainer(tiny_gpt(), corpus(), torch.arange(5), config=config())
    trainer = Trainer(tiny_gpt(), torch.arange(100), config=config())  # ids up to 99, vocab 37
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 37\)"):
        trainer.fit()


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error raised without CUDA")
def test_cuda_without_cuda_is_explained():
    with pytest.raises(ValueError, match="CUDA is not available"):
        Trainer(tiny_gpt(), corpus(), config=config(device="cuda"))


# --------------------------------------------------------------------------- train, the one call


def test_train_resumed_from_its_checkpoint_equals_one_call(tmp_path):
    """train() stopped at step 3 and resumed into other weights gives the losses and weights of
    one uninterrupted call, and of the Trainer itself; without a path it writes no file."""
    data, c = corpus(), config(max_steps=6, warmup_steps=2)
    whole = tiny_gpt()
    losses = train(whole, data, c, 6)
    assert list(tmp_path.iterdir()) == []
    reference = Trainer(tiny_gpt(), data, config=c)
    assert losses == reference.fit()["loss"]

    path = tmp_path / "run.pt"
    first = train(tiny_gpt(), data, c, 3, checkpoint_path=path)
    resumed = tiny_gpt(seed=99)
    second = train(resumed, data, c, 6, checkpoint_path=path)
    assert first + second == losses and train(resumed, data, c, 6, checkpoint_path=path) == []
    assert all(torch.equal(resumed.state_dict()[k], v) for k, v in whole.state_dict().items())
    with pytest.raises(ValueError, match=r"steps must be in \[6, 6\], got 2; the checkpoint has taken 6"):
        train(tiny_gpt(), data, c, 2, checkpoint_path=path)


def test_the_trainer_runs_the_parts_it_is_given():
    calls = {"lr_at": 0, "clip": [], "batches": 0}

    def my_lr_at(step, max_steps, lr, min_lr, warmup_steps):
        calls["lr_at"] += 1
        return lr_at(step, max_steps, lr, min_lr, warmup_steps)

    def my_clip(parameters, max_norm):
        calls["clip"].append(max_norm)
        return nn.utils.clip_grad_norm_(parameters, max_norm)

    def my_batches(data, batch_size, block_size, generator):
        calls["batches"] += 1
        return random_windows(data, batch_size, block_size, generator)

    c = config(max_steps=3, grad_accum_steps=2, grad_clip=None)
    mine = train(tiny_gpt(), corpus(), c, 3, lr_at=my_lr_at, clip_grad_norm=my_clip, get_batch=my_batches)
    assert mine == train(tiny_gpt(), corpus(), c, 3)
    assert calls == {"lr_at": 3, "clip": [math.inf] * 3, "batches": 6}  # inf: the norm is measured only


# --------------------------------------------------------------------------- what A7's checks say


def test_a7_adamw_eps_inside_sqrt_names_the_step_and_the_size():
    """A bug invisible with N(0, 1) gradients shows where eps matters, with the step it starts at."""
    from lmcore.grading.a7 import adamw

    (mistake,) = [m for m in adamw.MISTAKES if m.id == "eps_inside_sqrt"]
    report = adamw.check(mistake.implementation)
    text = str(report)
    assert report.mistakes == ["eps_inside_sqrt"]
    assert "first differs after step 1, parameter 1 of shape (5,)" in text and "largest difference" in text


def test_a7_a_part_that_raises_is_reported_with_the_error():
    from lmcore.grading.a7 import schedule, training_loop

    def broken(step, max_steps, lr, min_lr, warmup_steps):
        raise NotImplementedError

    report = schedule.check(broken)
    assert not report.passed and "NotImplementedError" in str(report)
    report = training_loop.check(lambda *args, **kwargs: 1 / 0)
    assert not report.passed and "ZeroDivisionError" in str(report)
