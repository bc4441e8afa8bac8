"""The reference model and trainer on CUDA: fp32 (TF32 off) against the CPU, bf16 autocast
against fp32 at a tolerance scaled to the logit range. Skipped without a GPU."""

from dataclasses import replace

import pytest
import torch

from lmcore.generation import generate
from lmcore.model import GPT, GPTConfig
from lmcore.tolerances import for_output, set_deterministic_cuda
from lmcore.train import TrainConfig, Trainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
DEVICE = "cuda"
CONFIG = GPTConfig(block_size=64, vocab_size=101, n_layer=3, n_head=4, n_embd=64)


@pytest.fixture(autouse=True)
def no_tf32():
    set_deterministic_cuda()


def cpu_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIG).eval()


def tokens(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_cuda_fp32_logits_match_the_cpu():
    model, idx = cpu_gpt(), tokens(4, CONFIG.block_size)
    expected = model(idx)
    actual = model.to(DEVICE)(idx.to(DEVICE)).cpu()
    assert for_output("model", torch.float32).close(actual, expected).all()


@torch.no_grad()
def test_bf16_autocast_logits_are_close_to_fp32():
    model, idx = cpu_gpt().to(DEVICE), tokens(4, CONFIG.block_size).to(DEVICE)
    expected = model(idx)
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        actual = model(idx)
    assert actual.dtype == torch.bfloat16  # autocast really ran the head in bf16
    tol = for_output("model", torch.bfloat16, expected)
    assert tol.close(actual.float(), expected).all()


@pytest.mark.parametrize("prompt_len", [1, 7])
def test_cached_generation_on_cuda_chooses_the_same_tokens(prompt_len):
    model, prompt = cpu_gpt().to(DEVICE), tokens(3, prompt_len).to(DEVICE)
    cached = generate(model, prompt, 16, temperature=0, use_cache=True)
    assert cached.device.type == "cuda"
    assert torch.equal(cached, generate(model, prompt, 16, temperature=0, use_cache=False))


def test_trainer_on_cuda_uses_bf16_and_learns():
    model = cpu_gpt()
    data = torch.arange(10).repeat(100)  # a certain next token: the loss must fall
    config = TrainConfig(
        max_steps=30,
        batch_size=8,
        block_size=16,
        lr=1e-2,
        min_lr=1e-3,
        warmup_steps=3,
        device=DEVICE,
        progress=False,
    )
    trainer = Trainer(model, data, config=config)
    dtypes = set()
    model.transformer.h[0].mlp.c_fc.register_forward_hook(lambda m, i, out: dtypes.add(out.dtype))
    first = trainer.fit(1)["loss"][0]

    reference = cpu_gpt()  # the same first batch in fp32 on the CPU
    cpu_first = Trainer(reference, data, config=replace(config, device="cpu"))
    cpu_loss = torch.tensor(cpu_first.fit(1)["loss"][0])
    assert dtypes == {torch.bfloat16}  # autocast_bf16=None means on for CUDA
    assert for_output("model", torch.bfloat16, cpu_loss).close(torch.tensor(first), cpu_loss)

    history = trainer.fit()
    assert next(model.parameters()).device.type == "cuda"
    assert all(torch.isfinite(torch.tensor(history["loss"])))
    assert history["loss"][0] > 3.0 and history["loss"][-1] < 0.5
