"""Input checks shared by the reference code: wrong input fails loudly and says what to fix."""

import torch
from torch import Tensor


def check_token_ids(idx: Tensor, vocab_size: int, block_size: int, start: int = 0) -> None:
    """Token ids must be an integer tensor (B, T) with 0 <= id < vocab_size and start + T <= block_size."""
    if not isinstance(idx, Tensor):
        raise ValueError(f"token ids must be a torch.Tensor of shape (B, T), got {type(idx).__name__}")
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"token ids must be torch.long (int64) or int32, got {idx.dtype}; convert with idx.long()"
        )
    if idx.dim() != 2:
        raise ValueError(
            f"token ids must have shape (B, T), got {tuple(idx.shape)}; "
            "add a batch dimension with idx.unsqueeze(0)"
        )
    if idx.size(0) == 0:
        raise ValueError("token ids must hold at least one sequence, got B = 0")
    if idx.size(1) == 0:
        raise ValueError("token ids must hold at least one position, got T = 0")
    if start + idx.size(1) > block_size:
        where = f" after {start} cached positions" if start else ""
        raise ValueError(
            f"sequence of length {idx.size(1)}{where} exceeds the context of "
            f"block_size = {block_size} positions"
        )
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"token id {bad} is out of range: ids must lie in [0, {vocab_size})")
