"""A preallocated key/value cache for autoregressive decoding.

Keys and values of every layer live in two tensors of shape
(n_layer, B, n_head, max_len, head_dim) allocated once. A forward pass with
the cache writes the new positions of each layer and reads all positions so
far; after the last layer the model calls ``advance`` once.
"""

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from lmcore.model import GPTConfig


class KVCache:
    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        head_dim: int,
        max_len: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        shape = (n_layer, batch_size, n_head, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0  # positions already stored

    @classmethod
    def for_model(cls, model, batch_size: int, max_len: int | None = None) -> "KVCache":
        """A cache matching ``model``'s config, device and dtype (max_len defaults to block_size)."""
        c = model.config
        max_len = c.block_size if max_len is None else max_len
        if not 1 <= max_len <= c.block_size:
            raise ValueError(f"max_len must be in [1, block_size={c.block_size}], got {max_len}")
        p = next(model.parameters())
        return cls(c.n_layer, batch_size, c.n_head, c.head_dim, max_len, p.device, p.dtype)

    def layer(self, i: int) -> "LayerKVCache":
        return LayerKVCache(self, i)

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v (B, H, T, hd) at the next T positions; return all (B, H, length + T, hd)."""
        expected = self.k.shape[1:3] + self.k.shape[4:]
        if k.shape != v.shape or (k.shape[:2] + k.shape[3:]) != expected:
            raise ValueError(
                f"k and v must have shape (B, H, T, hd) = ({expected[0]}, {expected[1]}, T, "
                f"{expected[2]}), got k {tuple(k.shape)} and v {tuple(v.shape)}"
            )
        end = self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache is full: {end} positions needed, max_len = {self.max_len}")
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, t: int) -> None:
        """Mark t more positions as stored (called once per forward, after every layer wrote)."""
        self.length += t

    def reset(self) -> None:
        """Forget everything stored so the cache can serve a new prompt."""
        self.length = 0

    def nbytes(self) -> int:
        """Memory held: 2 (k and v) x L x B x H x max_len x hd x bytes per element."""
        return self.k.nbytes + self.v.nbytes


class LayerKVCache:
    """One layer's view of a ``KVCache``; what an attention module receives."""

    def __init__(self, cache: KVCache, layer: int):
        self.cache, self.index = cache, layer

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self.cache.update(self.index, k, v)


def kv_cache_bytes(config: "GPTConfig", batch_size: int, seq_len: int, bytes_per_element: int) -> int:
    """Bytes of a KV cache: 2 x n_layer x batch x n_head x seq_len x head_dim x bytes per element."""
    for name, value in (
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("bytes_per_element", bytes_per_element),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return 2 * config.n_layer * batch_size * config.n_head * seq_len * config.head_dim * bytes_per_element
