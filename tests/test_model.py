"""The reference GPT: attention agrees with the fused kernel and PyTorch's, inputs are
validated with helpful messages, parameters are counted right (generation and the KV cache:
tests/test_generation.py)."""

import pytest
import torch
import torch.nn.functional as F

from lmcore.attention import scaled_dot_product_attention
from lmcore.kv_cache import KVCache
from lmcore.model import GPT, GPTConfig, count_parameters, fused_attention
from lmcore.tolerances import FP32_MODEL, FP32_OP

TINY = GPTConfig(block_size=32, vocab_size=53, n_layer=2, n_head=4, n_embd=32)


def tiny_gpt(seed: int = 0, **kwargs) -> GPT:
    torch.manual_seed(seed)
    return GPT(TINY, **kwargs).eval()


def tokens(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def qkv(t_q: int, t_k: int, seed: int = 0):
    """q for the last t_q of t_k positions, k and v for all of them: (B=2, H=3, T, d=8)."""
    g = torch.Generator().manual_seed(seed)
    q_all, k, v = (torch.randn(2, 3, t_k, 8, generator=g) for _ in range(3))
    return q_all, q_all[..., t_k - t_q :, :], k, v


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("t_q, t_k", [(7, 7), (1, 7), (3, 7), (1, 1)])
def test_explicit_fused_and_torch_attention_agree(t_q, t_k):
    q_all, q, k, v = qkv(t_q, t_k)
    # oracle: every query of the full sequence under PyTorch's causal kernel, then the last t_q
    # rows; the queries of a KV-cache step are exactly those positions
    expected = F.scaled_dot_product_attention(q_all, k, v, is_causal=True)[..., t_k - t_q :, :]
    for attention in (scaled_dot_product_attention, fused_attention):
        assert FP32_OP.close(attention(q, k, v, causal=True), expected).all(), attention.__name__


@pytest.mark.parametrize("t_q", [1, 4, 6])
def test_non_causal_attention_agrees_with_torch(t_q):
    _, q, k, v = qkv(t_q, 6)
    expected = F.scaled_dot_product_attention(q, k, v)
    for attention in (scaled_dot_product_attention, fused_attention):
        assert FP32_OP.close(attention(q, k, v, causal=False), expected).all()


def test_causal_attention_ignores_the_future():
    _, q, k, v = qkv(5, 5)
    k2, v2 = k.clone(), v.clone()
    k2[..., 3:, :] += 1.0
    v2[..., 3:, :] -= 1.0
    y, y2 = scaled_dot_product_attention(q, k, v), scaled_dot_product_attention(q, k2, v2)
    assert torch.equal(y[..., :3, :], y2[..., :3, :])
    assert not torch.allclose(y[..., 3:, :], y2[..., 3:, :])


def test_more_queries_than_keys_is_an_error():
    q, k, v = torch.zeros(1, 1, 4, 8), torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8)
    with pytest.raises(ValueError, match="t_q <= t_k"):
        scaled_dot_product_attention(q, k, v)


def test_gpt_with_explicit_attention_equals_the_default():
    fused = tiny_gpt()
    explicit = GPT(TINY, attention=scaled_dot_product_attention).eval()
    explicit.load_state_dict(fused.state_dict())
    idx = tokens(3, TINY.block_size)
    with torch.no_grad():
        assert FP32_MODEL.close(explicit(idx), fused(idx)).all()


def test_forward_shape_and_causality():
    model, idx = tiny_gpt(), tokens(2, 10)
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % TINY.vocab_size
    with torch.no_grad():
        logits, logits_changed = model(idx), model(changed)
    assert logits.shape == (2, 10, TINY.vocab_size)
    assert torch.equal(logits[:, :6], logits_changed[:, :6])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "idx, message",
    [
        ([[1, 2]], "must be a torch.Tensor"),
        (torch.ones(1, 3), "must be torch.long"),
        (torch.ones(4, dtype=torch.long), r"unsqueeze\(0\)"),
        (torch.ones(1, 0, dtype=torch.long), "at least one position"),
        (torch.tensor([[1, 53]]), r"token id 53 is out of range: ids must lie in \[0, 53\)"),
        (torch.tensor([[-1, 2]]), "token id -1 is out of range"),
        (torch.ones(1, 33, dtype=torch.long), "length 33 exceeds the context of block_size = 32"),
    ],
)
def test_bad_token_ids_are_explained(idx, message):
    with pytest.raises(ValueError, match=message):
        tiny_gpt()(idx)


def test_too_long_after_the_cached_positions():
    model = tiny_gpt()
    cache = KVCache.for_model(model, batch_size=1)
    model(tokens(1, 30), kv_cache=cache)
    with pytest.raises(ValueError, match="length 3 after 30 cached positions exceeds"):
        model(tokens(1, 3), kv_cache=cache)


def test_config_errors():
    with pytest.raises(ValueError, match="must be divisible by n_head"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="GPTConfig.n_layer must be >= 1"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match="GPT-2 size must be one of"):
        GPTConfig.gpt2("gpt3")


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "size, expected",
    [
        ("gpt2", 124_439_808),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
    ],
)
def test_gpt2_parameter_counts(size, expected):
    config = GPTConfig.gpt2(size)
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = GPT(config)
    assert count_parameters(config) == model.num_parameters() == expected


@pytest.mark.parametrize(
    "config", [TINY, GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=1, n_embd=4)]
)
def test_count_parameters_matches_a_built_model(config):
    model = GPT(config)
    assert count_parameters(config) == model.num_parameters()
    assert (
        model.num_parameters(non_embedding=True)
        == model.num_parameters() - (config.vocab_size + config.block_size) * config.n_embd
    )


def test_lm_head_is_tied_to_the_token_embedding():
    model = tiny_gpt()
    assert model.lm_head.weight is model.transformer.wte.weight
    state = model.state_dict()
    assert state["lm_head.weight"].data_ptr() == state["transformer.wte.weight"].data_ptr()
    # the shared matrix gets gradient from both uses: as embedding and as output layer
    idx = tokens(2, 6)
    model(idx).logsumexp(-1).sum().backward()
    grad = model.transformer.wte.weight.grad
    unused = torch.ones(TINY.vocab_size, dtype=torch.bool)
    unused[idx.flatten()] = False
    assert grad[unused].abs().sum() > 0  # tokens never input still get output-layer gradient
