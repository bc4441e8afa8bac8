"""Language-model batches: random windows of a long token stream.

A corpus is one 1-D tensor of token ids. A training example is a window of
``block_size + 1`` consecutive tokens starting at a random position: its first
``block_size`` tokens are the input and its last ``block_size`` the targets,
so every position predicts the token that follows it.
"""

import torch
from torch import Tensor

from lmcore.validation import integer, positive_int, tensor


def check_token_stream(data: Tensor, block_size: int, name: str = "data") -> None:
    """``data`` must be a 1-D integer tensor holding at least one window of block_size + 1 tokens."""
    positive_int("block_size", block_size)
    tensor(name, data, dim=1, shape_hint="(N,) of token ids: concatenate documents with torch.cat")
    if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:  # any integer dtype
        raise ValueError(f"{name} must hold integer token ids, got dtype {data.dtype}")
    integer(
        f"len({name})",
        data.numel(),
        low=block_size + 1,
        hint=f"a window of block_size + 1 = {block_size + 1} tokens (inputs, shifted targets) must fit",
    )


def random_windows(
    data: Tensor, batch_size: int, block_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw batch_size windows at uniformly random starts of ``data`` (N,) -> x, y (B, block_size).

    ``y[b, t] == x[b, t + 1]`` for t < block_size - 1, and ``y[b, -1]`` is the
    token after the window. Both are int64 on ``data``'s device. The starts
    come from ``generator`` (a CPU ``torch.Generator``) in one
    ``torch.randint(len(data) - block_size, (batch_size,), generator=generator)``
    call and nothing else, so a seeded generator gives the same batches. Data
    shorter than block_size + 1 tokens raises ValueError.
    """
    check_token_stream(data, block_size)
    positive_int("batch_size", batch_size)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":  # no shared validator
        raise ValueError(f"generator must be a CPU torch.Generator, got {generator!r}")
    n_starts = data.numel() - block_size  # a window starting at s ends at s + block_size
    starts = torch.randint(n_starts, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size + 1)  # (T + 1,)
    windows = data[(starts[:, None] + offsets).to(data.device)].long()  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]
