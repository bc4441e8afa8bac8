"""What every check shares: seeded inputs, and running untrusted code so that its errors
become failed properties that point at the student's own line."""

import site
import sysconfig
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor


def randn(*shape: int, seed: int, device: str = "cpu") -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device)


def randint(high: int, *shape: int, seed: int, device: str = "cpu") -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=g).to(device)


# code that is not the student's: the standard library, installed packages, lmcore itself
_LIBRARY_DIRS = tuple(
    str(Path(d).resolve())
    for d in {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
        str(Path(__file__).resolve().parents[1]),
    }
)


def _is_students(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return False
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not path.startswith(_LIBRARY_DIRS)


def error_text(exc: BaseException) -> str:
    """The exception and the last line of the student's own code it passed through (a notebook
    cell), not the library frame where it was raised: what to look at."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if _is_students(f.filename)]
    where = ""
    if own:  # IPython keeps each cell's source, so the line itself can be shown
        last = own[-1]
        where = (
            f" (line {last.lineno}: {last.line.strip()})"
            if last.line
            else f" (line {last.lineno} of {last.filename})"
        )
    return f"{type(exc).__name__}: {exc}{where}"


def attempt(fn: Callable, *args, **kwargs):
    """Run untrusted code; return (result, None) or (None, error message)."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # the student's bug, reported as a failed property
        return None, error_text(exc)


def available_devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
