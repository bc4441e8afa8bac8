"""Input checks shared by the reference code: wrong input fails loudly and says what to fix.

Each validator returns the value it accepted (so ``n = positive_int("n", n)`` reads as an
assignment) and raises ValueError, or TypeError for a value of the wrong type, with a message
that names the argument, what it must be, and what it got::

    >>> positive_int("max_new_tokens", 2.0)
    TypeError: max_new_tokens must be an int, got 2.0 (float)
    >>> probability("top_p", 0.0, open_low=True)
    ValueError: top_p must be in (0, 1], got 0.0

bool is not an int here (True is not a count), and NaN is never in a range.
"""

import math
import numbers

import torch
from torch import Tensor


def _type_error(name: str, what: str, value) -> TypeError:
    return TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")


def integer(name: str, value, *, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """An int (not a bool, not a float that happens to be whole) with low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(name, "an int", value)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = {(False, True): f">= {low}", (True, False): f"<= {high}"}.get(
            (low is None, high is None), f"in [{low}, {high}]"
        )
        raise ValueError(f"{name} must be {bounds}, got {value}" + (f"; {hint}" if hint else ""))
    return value


def positive_int(name: str, value, hint: str = "") -> int:
    return integer(name, value, low=1, hint=hint)


def non_negative_int(name: str, value, hint: str = "") -> int:
    return integer(name, value, low=0, hint=hint)


def real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    hint: str = "",
) -> float:
    """A finite real number (int or float, not bool) in the interval the bounds give."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, "a number", value)
    value = float(value)
    below = low is not None and (value <= low if open_low else value < low)
    above = high is not None and (value >= high if open_high else value > high)
    if not math.isfinite(value) or below or above:
        if low is not None and high is not None:
            where = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        elif low is not None:
            where = f"{'>' if open_low else '>='} {low:g}"
        elif high is not None:
            where = f"{'<' if open_high else '<='} {high:g}"
        else:
            where = "finite"
        raise ValueError(f"{name} must be {where}, got {value}" + (f"; {hint}" if hint else ""))
    return value


def positive(name: str, value, hint: str = "") -> float:
    return real(name, value, low=0.0, open_low=True, hint=hint)


def probability(
    name: str, value, *, open_low: bool = False, open_high: bool = False, hint: str = ""
) -> float:
    return real(name, value, low=0.0, high=1.0, open_low=open_low, open_high=open_high, hint=hint)


def one_of(name: str, value, choices) -> object:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def tensor(
    name: str, value, *, dim: int | None = None, dtypes: tuple | None = None, shape_hint: str = ""
) -> Tensor:
    """A torch.Tensor with ``dim`` dimensions and one of ``dtypes``."""
    if not isinstance(value, Tensor):
        raise _type_error(name, f"a torch.Tensor{' of shape ' + shape_hint if shape_hint else ''}", value)
    if dim is not None and value.dim() != dim:
        raise ValueError(
            f"{name} must have {dim} dimensions{' ' + shape_hint if shape_hint else ''}, "
            f"got shape {tuple(value.shape)}"
        )
    if dtypes is not None and value.dtype not in dtypes:
        raise ValueError(f"{name} must have dtype {' or '.join(map(str, dtypes))}, got {value.dtype}")
    return value


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
