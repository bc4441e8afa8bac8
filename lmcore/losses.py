"""Losses of language models: the next-token cross-entropy (chapter 8); later chapters add more."""

import torch.nn.functional as F
from torch import Tensor


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy: logits (B, T, V), targets (B, T) -> scalar."""
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"targets must have shape (B, T) = {tuple(logits.shape[:2])} to match the logits, "
            f"got {tuple(targets.shape)}"
        )
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
