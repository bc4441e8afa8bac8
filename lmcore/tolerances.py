"""The tolerance policy, written down once and used by every test and check.

A tolerance is a pair (atol, rtol): ``|actual - expected| <= atol + rtol * |expected|``
elementwise, as in ``torch.allclose``. Numbers here are chosen so that every
correct implementation we know of passes and every mutant in tests/ fails;
loosening one until a bug passes is a defect.
"""

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def close(self, actual: Tensor, expected: Tensor) -> Tensor:
        """Elementwise bool: where actual is within tolerance of expected (NaN never is)."""
        actual, expected = actual.double(), expected.double()
        return (actual - expected).abs() <= self.atol + self.rtol * expected.abs()

    def __str__(self) -> str:
        return f"atol={self.atol:g}, rtol={self.rtol:g}"


# fp32 on CPU, or CUDA with TF32 off: one operation (attention, a block) ...
FP32_OP = Tolerance(atol=1e-5, rtol=1e-5)
# ... a whole model's logits or parameter gradients (errors add up over layers) ...
FP32_MODEL = Tolerance(atol=1e-4, rtol=1e-4)
# ... and a short training run: losses and final weights after a few optimizer steps.
FP32_TRAINING = Tolerance(atol=1e-4, rtol=1e-3)


def scaled_to_range(tol: Tolerance, reference: Tensor) -> Tolerance:
    """``tol`` with its atol multiplied by the reference's largest magnitude (when above 1).

    For a result that is a sum of large terms that cancel, such as LayerNorm's input gradient
    (1/sigma) * (g - mean(g) - xhat * mean(g * xhat)) at a tiny sigma, fp32 rounding is
    relative to the terms, not to the small entries they leave: a correct implementation can
    differ by 1e-4 at an entry near 0 of a gradient whose entries reach 100.
    """
    scale = max(1.0, float(reference.detach().abs().max())) if reference.numel() else 1.0
    return Tolerance(atol=tol.atol * scale, rtol=tol.rtol)


# bf16 keeps 8 significant bits (relative spacing 2**-8 ~ 0.4%); with autocast the
# matmuls round to bf16 and errors grow with depth. We compare against an fp32
# reference with an absolute tolerance scaled to the largest reference logit.
BF16_RELATIVE_TO_RANGE = 3e-2


def for_output(kind: str, dtype: torch.dtype, reference: Tensor | None = None) -> Tolerance:
    """Tolerance for comparing an output of ``kind`` ('op', 'model', 'training') computed in
    ``dtype`` against an fp32 reference. bf16/fp16 need the reference to scale to its range."""
    if dtype == torch.float32:
        return {"op": FP32_OP, "model": FP32_MODEL, "training": FP32_TRAINING}[kind]
    if dtype in (torch.bfloat16, torch.float16):
        if reference is None:
            raise ValueError(f"a {dtype} tolerance is relative to the reference's range: pass it")
        scale = float(reference.detach().abs().max())
        return Tolerance(atol=BF16_RELATIVE_TO_RANGE * scale, rtol=0.0)
    raise ValueError(f"no tolerance policy for dtype {dtype}")


def set_deterministic_cuda() -> None:
    """fp32 on CUDA compares at fp32 tolerances only with TF32 matmuls switched off."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
