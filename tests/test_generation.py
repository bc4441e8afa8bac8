"""Generation and the KV cache: the cached loop chooses the same tokens as the uncached one,
the samplers keep the tokens their contract names, wrong settings are explained; and A6's
checks on the classic failures their records must name."""

import pytest
import torch

from lmcore.generation import generate
from lmcore.kv_cache import KVCache
from lmcore.model import GPT, GPTConfig
from lmcore.sampling import apply_temperature, next_token, top_k_filter, top_p_filter

TINY = GPTConfig(block_size=32, vocab_size=53, n_layer=2, n_head=4, n_embd=32)


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(TINY).eval()


def tokens(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("prompt_len", [1, 4, 9])
@pytest.mark.parametrize(
    "sampling",
    [dict(temperature=0), dict(temperature=0.8, top_k=5), dict(top_p=0.9), dict(top_k=10, top_p=0.8)],
    ids=["greedy", "top_k", "top_p", "top_k_top_p"],
)
def test_cached_generation_chooses_the_same_tokens(prompt_len, sampling):
    model, prompt = tiny_gpt(), tokens(3, prompt_len)
    seed = None if sampling.get("temperature") == 0 else 7
    cached = generate(model, prompt, 12, seed=seed, use_cache=True, **sampling)
    uncached = generate(model, prompt, 12, seed=seed, use_cache=False, **sampling)
    assert cached.shape == (3, prompt_len + 12)
    assert torch.equal(cached[:, :prompt_len], prompt)
    assert torch.equal(cached, uncached)


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    model, prompt = tiny_gpt(), tokens(2, 3)
    a, b = (generate(model, prompt, 20, top_k=20, seed=3) for _ in range(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, generate(model, prompt, 20, top_k=20, seed=4))


def test_a_supplied_cache_is_reset_and_reused():
    model, prompt = tiny_gpt(), tokens(2, 5)
    cache = KVCache.for_model(model, batch_size=2)
    first = generate(model, prompt, 6, temperature=0, kv_cache=cache)
    assert cache.length == 5 + 5  # the last token chosen is never fed back
    assert torch.equal(generate(model, prompt, 6, temperature=0, kv_cache=cache), first)


def test_generation_restores_training_mode():
    model = tiny_gpt().train()
    generate(model, tokens(1, 2), 2)
    assert model.training


def test_stop_token_pads_stopped_rows_and_leaves_the_others_alone():
    model, prompt = tiny_gpt(), tokens(3, 4, seed=5)
    full = generate(model, prompt, 10, temperature=0)
    stop = int(full[0, 4])  # row 0 stops at its first new token
    out = generate(model, prompt, 10, temperature=0, stop_token=stop)
    for row, expected in zip(out, full, strict=True):
        new = expected[4:]
        hits = (new == stop).nonzero()
        first = int(hits[0]) if len(hits) else len(new)
        assert torch.equal(row[: 4 + first + 1], expected[: 4 + first + 1])  # unchanged up to its stop
        assert (row[4 + first :] == stop).all()  # then only the stop token
    assert (out[0, 4:] == stop).all()


def test_generation_ends_early_once_every_row_stopped():
    model = tiny_gpt()
    prompt = tokens(1, 4).repeat(3, 1)  # identical rows stop together
    stop = int(generate(model, prompt[:1], 1, temperature=0)[0, -1])
    out = generate(model, prompt, 10, temperature=0, stop_token=stop)
    assert out.shape == (3, 5) and (out[:, -1] == stop).all()


def test_zero_new_tokens_returns_the_prompt():
    prompt = tokens(2, 3)
    assert torch.equal(generate(tiny_gpt(), prompt, 0), prompt)


# --------------------------------------------------------------------------- errors


def test_kv_cache_overflow_is_an_error():
    model = tiny_gpt()
    cache = KVCache.for_model(model, batch_size=1, max_len=8)
    model(tokens(1, 6), kv_cache=cache)
    with pytest.raises(ValueError, match="KV cache is full: 9 positions needed, max_len = 8"):
        model(tokens(1, 3), kv_cache=cache)


def test_kv_cache_size_errors():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"max_len must be in \[1, 32\], got 33; the model's context is 32"):
        KVCache.for_model(model, batch_size=1, max_len=33)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        KVCache(2, 0, 4, 8, 16)
    cache = KVCache.for_model(model, batch_size=2)
    with pytest.raises(ValueError, match=r"k and v must have shape \(B, H, T, hd\) = \(2, 4, T, 8\)"):
        cache.update(0, torch.zeros(2, 4, 1, 6), torch.zeros(2, 4, 1, 6))


def test_kv_cache_for_another_batch_says_so():
    model = tiny_gpt()
    cache = KVCache.for_model(model, batch_size=1)
    with pytest.raises(ValueError, match=r"this cache holds batch size 1, got k and v for batch size 3"):
        model(tokens(3, 2), kv_cache=cache)
    with pytest.raises(ValueError, match="batch_size=3"):
        generate(model, tokens(3, 2), 2, kv_cache=cache)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_kv_cache_allocates_the_dtype_and_device_asked_for(dtype):
    cache = KVCache(2, 1, 4, 8, 16, device="meta", dtype=dtype)  # meta: shapes and dtypes, no data
    k, v = cache.update(
        0,
        torch.zeros(1, 4, 3, 8, device="meta", dtype=dtype),
        torch.zeros(1, 4, 3, 8, device="meta", dtype=dtype),
    )
    assert (k.dtype, k.device.type, v.shape) == (dtype, "meta", (1, 4, 3, 8))


def test_kv_cache_memory():
    cache = KVCache(n_layer=2, batch_size=3, n_head=4, head_dim=8, max_len=16)
    assert cache.nbytes() == 2 * 2 * 3 * 4 * 16 * 8 * 4  # k and v, fp32


def test_generation_beyond_the_context_is_an_error():
    with pytest.raises(ValueError, match=r"prompt length 30 \+ max_new_tokens 3 exceeds"):
        generate(tiny_gpt(), tokens(1, 30), 3)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate(tiny_gpt(), tokens(1, 3), -1)


BAD_SAMPLING = [
    # greedy decoding ignores top_k and top_p, but a wrong one is still a mistake
    (dict(temperature=0, top_k=0), ValueError, "top_k must be >= 1, got 0"),
    (dict(temperature=0, top_p=1.5), ValueError, r"top_p must be in \(0, 1\], got 1.5"),
    (dict(temperature=float("nan")), ValueError, "temperature must be >= 0, got nan"),
    (dict(temperature=-1.0), ValueError, r"temperature must be >= 0, got -1.0; 0 is greedy decoding"),
    (dict(top_k=2.0), TypeError, r"top_k must be an int, got 2.0 \(float\)"),
]


@pytest.mark.parametrize("settings, error, message", BAD_SAMPLING)
def test_bad_sampling_settings_are_explained(settings, error, message):
    with pytest.raises(error, match=message):
        next_token(torch.zeros(1, 5), **settings)
    with pytest.raises(error, match=message):
        generate(tiny_gpt(), tokens(1, 3), 0, **settings)  # even when nothing is sampled


@pytest.mark.parametrize(
    "settings, error, message",
    [
        (dict(max_new_tokens=2.0), TypeError, r"max_new_tokens must be an int, got 2.0 \(float\)"),
        (dict(stop_token=53), ValueError, r"stop_token must be in \[0, 52\], got 53; it is a token id"),
        (dict(stop_token=-1), ValueError, r"stop_token must be in \[0, 52\]"),
    ],
)
def test_bad_generation_arguments_are_explained(settings, error, message):
    with pytest.raises(error, match=message):
        generate(tiny_gpt(), tokens(1, 3), **{"max_new_tokens": 2, **settings})


def test_apply_temperature_points_to_greedy_decoding():
    with pytest.raises(
        ValueError, match="temperature must be > 0, got 0.0; temperature 0 is greedy decoding"
    ):
        apply_temperature(torch.zeros(1, 3), 0)


# --------------------------------------------------------------------------- samplers


def test_top_k_keeps_ties_with_the_kth():
    logits = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0, -1.0]])
    assert (top_k_filter(logits, 2) > float("-inf")).tolist() == [[False, True, True, False, True, False]]


def test_top_p_keeps_the_token_that_crosses_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert (top_p_filter(logits, 0.6) > float("-inf")).tolist() == [[True, True, False, False]]


def test_top_p_one_keeps_every_token():
    small = torch.tensor([[10.0, 0.0, -10.0]])
    assert torch.equal(top_p_filter(small, 1.0), small)
    # over GPT-2's vocabulary a float32 running sum reaches 1.0 long before the last token
    gpt2 = torch.randn(4, 50_257, generator=torch.Generator().manual_seed(0)) * 3
    assert int((top_p_filter(gpt2, 1.0) == float("-inf")).sum()) == 0


# --------------------------------------------------------------------------- A6's checks


def test_a6_sampling_p_one_over_a_large_vocabulary_is_a_named_mistake():
    from lmcore.grading import a6

    def drops_at_one(logits, p):  # the running sum of the sorted probabilities in float32
        if not 0 < p <= 1:
            raise ValueError(f"p must be in (0, 1], got {p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        remove = probs.cumsum(dim=-1) - probs >= p
        return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))

    report = a6.sampling.check(apply_temperature, top_k_filter, drops_at_one, thorough=True)
    failed = [p.name for p in report.failed()]
    assert (
        "top_p_filter(logits (2, 50257), p=1.0) keeps the smallest most-likely set with mass >= p" in failed
    )
    assert "top_p_rounds_at_one" in report.mistakes


def test_a6_top_k_that_drops_ties_is_not_called_k_minus_1():
    from lmcore.grading import a6

    def exactly_k(logits, k):
        top = torch.topk(logits, min(k, logits.size(-1)), dim=-1).indices
        return torch.full_like(logits, float("-inf")).scatter(-1, top, logits.gather(-1, top))

    report = a6.sampling.check(apply_temperature, exactly_k, top_p_filter)
    assert report.mistakes == ["top_k_drops_ties"], str(report)


def test_a6_a_call_that_raises_leaves_its_comparisons_not_checked():
    from lmcore.grading import a6

    def broken(logits, p):
        raise NotImplementedError("top-p")

    report = a6.sampling.check(apply_temperature, top_k_filter, broken)
    label = "top_p_filter(logits (3, 4), p=0.4)"
    assert [p.passed for p in report.properties if p.name.startswith(label)] == [False, None, None]
    assert "NotImplementedError: top-p" in report.failed()[0].detail
    assert all(p.passed is not True for p in report.properties if p.name.startswith("top_p_filter"))


def test_a6_generate_every_setting_changes_the_tokens():
    """The generate check's model has peaked logits: each setting draws other tokens."""
    from lmcore.grading.a6._common import GEN, peaked_state, reference_model

    model = reference_model(GEN, peaked_state(GEN, 7))
    prompt = tokens(3, 5) % GEN.vocab_size
    settings = [{}, dict(temperature=0), dict(temperature=0.6), dict(temperature=1.5), dict(top_k=3)]
    settings += [dict(top_p=0.6), dict(temperature=0.6, top_k=4, top_p=0.7)]
    outputs = [generate(model, prompt, 10, seed=1, **s) for s in settings]
    for i in range(len(outputs)):
        for j in range(i):
            assert not torch.equal(outputs[i], outputs[j]), (settings[i], settings[j])
