"""Turning next-token logits into a choice: temperature, top-k, top-p, sampling.

Each filter takes logits (B, V) and returns a new tensor of logits (B, V) in which removed
tokens are -inf and kept ones are unchanged, so filters compose and ``softmax`` of the
result is the distribution actually sampled from.
"""

import torch
from torch import Tensor

from lmcore.validation import integer, positive, probability, real


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Divide logits by T > 0: T < 1 sharpens the distribution, T > 1 flattens it."""
    temperature = positive(
        "temperature", temperature, hint="temperature 0 is greedy decoding, which next_token does by argmax"
    )
    return logits / temperature


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row; ties at the k-th value are all kept."""
    k = min(integer("top_k", k, low=1), logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of most likely tokens whose probability mass reaches p (nucleus).
    A token is kept when the mass of the tokens more likely than it is below p, so the most
    likely token is always kept and p = 1 keeps every token."""
    p = probability("top_p", p, open_low=True)
    if p == 1.0:
        # exact: a float running sum can reach 1 before the last token and drop the tail
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
    remove_sorted = mass_before >= p  # the set already reached p without this token
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def check_settings(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise on sampling settings ``next_token`` cannot use, greedy (temperature 0) included."""
    real("temperature", temperature, low=0.0, hint="0 is greedy decoding (the argmax), > 0 samples")
    if top_k is not None:
        integer("top_k", top_k, low=1, hint="None keeps every token")
    if top_p is not None:
        probability("top_p", top_p, open_low=True, hint="None keeps every token")


def next_token(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Choose one token per row of logits (B, V) -> (B, 1). temperature == 0 is greedy
    (top_k and top_p are then checked but change nothing); otherwise the logits are divided
    by the temperature, filtered by top-k then top-p, and one token is drawn per row."""
    check_settings(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = apply_temperature(logits.float(), temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)
