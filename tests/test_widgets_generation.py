"""lmcore.widgets.generation: the sampling explorer and the KV-cache calculator, without a display."""

import pytest
import torch

from lmcore.kv_cache import KVCache, kv_cache_bytes
from lmcore.model import GPTConfig
from lmcore.widgets.generation import (
    DTYPE_BYTES,
    TOY_VOCAB,
    KVCacheCalculator,
    SamplingExplorer,
    entropy_bits,
    human_bytes,
    toy_logits,
    transformed_probs,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_defaults_leave_the_distribution_unchanged():
    explorer = SamplingExplorer()
    assert explorer.settings() == {"temperature": 1.0, "top_k": None, "top_p": None}
    assert torch.allclose(explorer.before, explorer.after)
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
    assert f"{len(TOY_VOCAB)} of {len(TOY_VOCAB)} tokens" in explorer.caption.value


def test_top_k_slider_keeps_k_tokens():
    explorer = SamplingExplorer()
    explorer.top_k.value = 3
    assert int((explorer.after > 0).sum()) == 3
    assert explorer.after.sum().item() == pytest.approx(1.0)
    assert "3 of" in explorer.caption.value


def test_top_p_slider_keeps_the_nucleus():
    explorer = SamplingExplorer()
    explorer.top_p.value = 0.5
    kept = explorer.after > 0
    before_sorted = explorer.before.sort(descending=True).values
    n = int(kept.sum())
    assert before_sorted[:n].sum() >= 0.5 > before_sorted[: n - 1].sum()


def test_temperature_slider_sharpens_and_flattens():
    explorer = SamplingExplorer()
    base = entropy_bits(explorer.after)
    explorer.temperature.value = 0.3
    assert entropy_bits(explorer.after) < base
    first_png = explorer.image.value
    explorer.temperature.value = 5.0
    assert entropy_bits(explorer.after) > base
    assert explorer.image.value != first_png


def test_transforms_match_the_sampler_order():
    logits = toy_logits()
    probs = transformed_probs(logits, temperature=0.5, top_k=4, top_p=0.9)
    assert probs.shape == (1, len(TOY_VOCAB))
    assert int((probs > 0).sum()) <= 4
    assert probs.sum().item() == pytest.approx(1.0)


def test_kv_cache_bytes_match_a_real_cache():
    config = GPTConfig(block_size=32, vocab_size=50, n_layer=3, n_head=4, n_embd=32)
    cache = KVCache(config.n_layer, 2, config.n_head, config.head_dim, 20, dtype=torch.float16)
    assert kv_cache_bytes(config, 2, 20, 2) == cache.nbytes()
    with pytest.raises(ValueError, match="seq_len"):
        kv_cache_bytes(config, 1, 0, 2)


def test_calculator_reacts_to_every_control():
    calc = KVCacheCalculator()
    # GPT-2 small, one sequence of 1024 tokens in fp32: 2 * 12 * 768 * 1024 * 4 bytes
    assert calc.nbytes == 2 * 12 * 768 * 1024 * 4
    assert "72.00 MiB" in calc.result.value
    seen = {calc.nbytes}
    calc.dtype.value = "bfloat16"
    assert calc.nbytes == 2 * 12 * 768 * 1024 * DTYPE_BYTES["bfloat16"]
    calc.batch.value = 8
    calc.seq_len.value = 512
    calc.size.value = "gpt2-xl"
    assert calc.nbytes == 2 * 48 * 8 * 1600 * 512 * 2
    seen.add(calc.nbytes)
    assert len(seen) == 2 and "GiB" in calc.result.value


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.50 KiB"
    assert human_bytes(3 * 1024**3) == "3.00 GiB"
