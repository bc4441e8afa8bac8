"""The grading checks on CUDA: fp32 (TF32 off) and bf16 autocast against the fp32 reference.
Skipped without a GPU."""

import pytest
import torch

from lmcore.grading import check_attention, check_block, check_gpt, check_self_attention
from lmcore.tolerances import set_deterministic_cuda
from tests import a5_variants as variants

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
CHECKS = {
    "attention": (check_attention, "scaled_dot_product_attention"),
    "self_attention": (check_self_attention, "CausalSelfAttention"),
    "block": (check_block, "Block"),
    "gpt": (check_gpt, "GPT"),
}


@pytest.fixture(autouse=True)
def no_tf32():
    set_deterministic_cuda()


@pytest.mark.parametrize("part", variants.PARTS)
def test_solution_passes_on_cuda(part):
    ns = variants.namespace(variants.solution_notebook())
    check, name = CHECKS[part]
    report = check(ns[name], thorough=True).raise_if_failed()
    assert any("cuda" in p.name for p in report.properties)
    assert any("bfloat16" in p.name for p in report.properties)


# an untied head loads the same weights into both tensors: its logits are right, and only
# the weight-tying property and the gradients (checked in fp32) catch it
@pytest.mark.parametrize("mutant", sorted(set(variants.MUTANTS) - {"untied_head"}))
def test_mutants_fail_on_cuda_in_bf16_too(mutant):
    edits, broken, _ = variants.MUTANTS[mutant]
    ns = variants.namespace(variants.edited(edits))
    for part in broken:
        check, name = CHECKS[part]
        report = check(ns[name], thorough=True)
        bf16 = [p for p in report.properties if "bfloat16" in p.name and "logits" in p.name]
        assert bf16 and not all(p.passed for p in bf16), f"{mutant} passes in bf16:\n{report}"
