"""Autoregressive generation with or without the KV cache.

Without the cache every step runs the model on the whole sequence so far
(cost grows with its length); with it, the prompt is run once (prefill) and
each later step feeds one token. Both paths choose identical tokens.
"""

import torch
from torch import Tensor

from lmcore.kv_cache import KVCache
from lmcore.sampling import next_token
from lmcore.validation import check_token_ids


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
) -> Tensor:
    """Extend prompts idx (B, T) by up to max_new_tokens tokens -> (B, T + n).

    temperature == 0 is greedy decoding. Rows that produced ``stop_token``
    are padded with it; generation ends early once every row has stopped.
    ``kv_cache`` lets a caller supply its own cache (it is reset first).
    """
    check_token_ids(idx, model.config.vocab_size, model.config.block_size)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    block_size = model.config.block_size
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
    if use_cache:
        cache = kv_cache if kv_cache is not None else KVCache.for_model(model, idx.size(0))
        cache.reset()
    done = torch.zeros(idx.size(0), 1, dtype=torch.bool, device=idx.device)
    out, step_input = idx, idx
    for _ in range(max_new_tokens):
        logits = model(step_input, kv_cache=cache) if use_cache else model(out)
        tok = next_token(
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
