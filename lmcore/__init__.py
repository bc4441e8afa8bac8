"""lmcore: the package the course builds, one component at a time.

Reference implementations live here (the GPT in ``model``, its KV cache,
generation and trainer); ``lmcore.grading`` runs a student's component in
place of the reference one and says what, if anything, is wrong.
"""

from lmcore.attention import scaled_dot_product_attention
from lmcore.model import GPT, Block, CausalSelfAttention, GPTConfig

__all__ = ["GPT", "Block", "CausalSelfAttention", "GPTConfig", "scaled_dot_product_attention"]
