"""A preallocated key/value cache for autoregressive decoding.

Keys and values of every layer live in two tensors of shape
(n_layer, B, n_head, max_len, head_dim) allocated once. A forward pass with
the cache writes the new positions of each layer and reads all positions so
far; after the last layer the model calls ``advance`` once.
"""

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lmcore.validation import integer, positive_int, tensor

if TYPE_CHECKING:
    from lmcore.model import GPTConfig


class KVCache:
    """Keys and values of ``n_layer`` layers for ``batch_size`` sequences of up to ``max_len``
    positions, allocated once on ``device`` in ``dtype``; ``length`` positions are stored.
    ``update`` raises ValueError for keys of another shape and when more than ``max_len``
    positions would be stored."""

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
        sizes = dict(
            n_layer=n_layer, batch_size=batch_size, n_head=n_head, head_dim=head_dim, max_len=max_len
        )
        for name, value in sizes.items():
            positive_int(name, value)
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
        integer("max_len", max_len, low=1, high=c.block_size, hint=f"the model's context is {c.block_size}")
        p = next(model.parameters())
        return cls(c.n_layer, batch_size, c.n_head, c.head_dim, max_len, p.device, p.dtype)

    def layer(self, i: int) -> "LayerKVCache":
        return LayerKVCache(self, i)

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v (B, H, T, hd) at the next T positions; return all (B, H, length + T, hd)."""
        _, B, H, _, hd = self.k.shape
        for name, x in (("k", k), ("v", v)):
            tensor(name, x, dim=4, shape_hint="(B, n_head, T, head_dim)")
        if k.size(0) != B or v.size(0) != B:
            raise ValueError(
                f"this cache holds batch size {B}, got k and v for batch size {k.size(0)} and "
                f"{v.size(0)}; build the cache for the batch you generate (KVCache.for_model(model, "
                f"batch_size={k.size(0)}))"
            )
        if k.shape != v.shape or (k.size(1), k.size(3)) != (H, hd):
            raise ValueError(
                f"k and v must have shape (B, H, T, hd) = ({B}, {H}, T, {hd}), "
                f"got k {tuple(k.shape)} and v {tuple(v.shape)}"
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
        positive_int(name, value)
    return 2 * config.n_layer * batch_size * config.n_head * seq_len * config.head_dim * bytes_per_element
