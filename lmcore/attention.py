"""Scaled dot-product attention written out as math.

This is the reference that students reimplement. The reference GPT itself
calls the fused ``torch.nn.functional.scaled_dot_product_attention``; tests
check that both agree.
"""

import math

import torch
from torch import Tensor


def causal_mask(t_q: int, t_k: int, device: torch.device | str | None = None) -> Tensor:
    """Boolean mask of shape (t_q, t_k); True where a query may look at a key.

    Queries are the *last* ``t_q`` positions of a sequence of length ``t_k``
    (this is what a KV cache produces), so query i sits at position
    ``t_k - t_q + i`` and may attend to keys at positions <= that.
    """
    if t_q > t_k:
        raise ValueError(f"causal attention needs t_q <= t_k, got t_q={t_q} and t_k={t_k}")
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def attention_weights(q: Tensor, k: Tensor, causal: bool = True) -> Tensor:
    """softmax(q k^T / sqrt(d_k)) with an optional causal mask.

    q: (..., T_q, d_k), k: (..., T_k, d_k) -> weights (..., T_q, T_k); each row sums to 1.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
    if causal:
        mask = causal_mask(q.size(-2), k.size(-2), device=q.device)
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = True) -> Tensor:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.

    q: (B, H, T_q, d_k), k: (B, H, T_k, d_k), v: (B, H, T_k, d_v) -> (B, H, T_q, d_v).
    """
    return attention_weights(q, k, causal) @ v
