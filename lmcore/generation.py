"""Autoregressive generation with or without the KV cache.

Without the cache every step runs the model on the whole sequence so far
(cost grows with its length); with it, the prompt is run once (prefill) and
each later step feeds one token. Both paths choose identical tokens.
"""

from collections.abc import Callable

import torch
from torch import Tensor

from lmcore.kv_cache import KVCache
from lmcore.sampling import check_settings, next_token
from lmcore.validation import check_token_ids, integer, non_negative_int


@torch.no_grad()
def generate(
    model,
    idx: Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_token: int | None = None,
    use_cache: bool = True,
    kv_cache: KVCache | None = None,
    sample: Callable[..., Tensor] = next_token,
) -> Tensor:
    """Extend prompts idx (B, T) by up to max_new_tokens tokens -> (B, T + n), n <= max_new_tokens.

    Each step chooses one token per row with ``sample(logits (B, V), temperature=...,
    top_k=..., top_p=..., generator=...)`` (lmcore.sampling.next_token's signature;
    temperature == 0 is greedy decoding). ``seed`` seeds a generator on idx's device;
    None draws from torch's global generator. With ``use_cache`` the prompt is run once
    (prefill) and each step feeds the newest token alone, through ``kv_cache`` when given
    (it is reset first), else a new cache; without it the model sees the whole sequence at
    every step and no cache is touched. Rows that produced ``stop_token`` are padded with it
    (every row is still sampled each step); generation ends early once every row has
    stopped. Raises ValueError when T + max_new_tokens exceeds the model's block_size.
    """
    vocab_size, block_size = model.config.vocab_size, model.config.block_size
    check_token_ids(idx, vocab_size, block_size)
    max_new_tokens = non_negative_int("max_new_tokens", max_new_tokens)
    check_settings(temperature, top_k, top_p)
    if stop_token is not None:
        integer("stop_token", stop_token, low=0, high=vocab_size - 1, hint="it is a token id")
    if idx.size(1) + max_new_tokens > block_size:
        raise ValueError(
            f"prompt length {idx.size(1)} + max_new_tokens {max_new_tokens} exceeds the "
            f"model's context (block_size = {block_size})"
        )
    generator = None
    if seed is not None:
        generator = torch.Generator(device=idx.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    cache = None
    if use_cache:
        cache = kv_cache if kv_cache is not None else KVCache.for_model(model, idx.size(0))
        cache.reset()
    done = torch.zeros(idx.size(0), 1, dtype=torch.bool, device=idx.device)
    out, step_input = idx, idx
    for _ in range(max_new_tokens):
        logits = model(step_input, kv_cache=cache) if use_cache else model(out)
        tok = sample(
            logits[:, -1, :], temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
        )  # (B, 1)
        if stop_token is not None:
            tok = tok.masked_fill(done, stop_token)
            done = done | (tok == stop_token)
        out = torch.cat([out, tok], dim=1)
        step_input = tok
        if stop_token is not None and bool(done.all()):
            break
    model.train(was_training)
    return out
