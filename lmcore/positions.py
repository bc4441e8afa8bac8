"""Sinusoidal position encodings (chapter 7) and the rotation that shifts them by an offset.

>>> pe = sinusoidal_positions(8, 4)             # (8, 4): sin, cos of two frequencies
>>> R = position_shift(4, 3)
>>> torch.allclose(R @ pe[2], pe[5], atol=1e-6)  # the same R for every position
True
"""

import torch
from torch import Tensor


def sinusoidal_positions(n_positions: int, dim: int, base: float = 10000.0) -> Tensor:
    """Sinusoidal position encodings, shape (n_positions, dim), dim even.

    PE[p, 2i] = sin(p * w_i) and PE[p, 2i + 1] = cos(p * w_i) with w_i = base^(-2i / dim).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal encodings pair a sine with a cosine: dim must be even, got {dim}")
    positions = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (P, 1)
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim / 2,)
    angles = positions * freqs  # (P, dim / 2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # sin, cos interleaved


def position_shift(dim: int, offset: int, base: float = 10000.0) -> Tensor:
    """The (dim, dim) matrix R with PE[p + offset] = R @ PE[p] for every position p.

    Each (sin, cos) pair turns by the angle offset * w_i: a block-diagonal rotation
    that does not depend on p, which is why relative offsets are easy to read off.
    """
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    c, s = torch.cos(offset * freqs), torch.sin(offset * freqs)
    shift = torch.zeros(dim, dim, dtype=torch.float64)
    # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
    shift[0::2, 0::2] = torch.diag(c)
    shift[0::2, 1::2] = torch.diag(s)
    shift[1::2, 0::2] = torch.diag(-s)
    shift[1::2, 1::2] = torch.diag(c)
    return shift.float()
