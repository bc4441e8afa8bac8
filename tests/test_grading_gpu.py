"""The grading checks on CUDA: fp32 (TF32 off) and bf16 autocast against the fp32 reference.
Skipped without a GPU."""

import pytest
import torch

from lmcore.grading.registry import ASSIGNMENTS
from lmcore.tolerances import set_deterministic_cuda
from tests.parts import check_in, make_notebook, solution_namespace, variant_params, variants
from tests.submissions import namespace

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.fixture(autouse=True)
def no_tf32():
    set_deterministic_cuda()


@pytest.mark.parametrize("assignment_id, part_id, name", variant_params("reference"))
def test_solution_passes_on_cuda(assignment_id, part_id, name):
    part = ASSIGNMENTS[assignment_id].part(part_id)
    report = check_in(part, solution_namespace(assignment_id), thorough=True).raise_if_failed()
    if assignment_id == "A5":  # every A5 part also runs inside the GPT on CUDA, fp32 and bf16
        assert any("cuda" in p.name for p in report.properties)
        assert any("bfloat16" in p.name for p in report.properties)


# an untied head loads the same weights into both tensors: its logits are right, and only
# the weight-tying property and the gradients (checked in fp32) catch it
A5_MUTANTS = [p for p in variant_params("mutant") if p.values[0] == "A5" and p.values[2] != "untied"]


@pytest.mark.parametrize("assignment_id, part_id, mistake_id", A5_MUTANTS)
def test_a5_mutants_fail_on_cuda_in_bf16_too(assignment_id, part_id, mistake_id):
    part = ASSIGNMENTS[assignment_id].part(part_id)
    ns = namespace(make_notebook(assignment_id, variants(assignment_id).MUTANTS[part_id][mistake_id]))
    report = check_in(part, ns, thorough=True)
    bf16 = [p for p in report.properties if "bfloat16" in p.name and "logits" in p.name]
    assert bf16 and not all(p.passed for p in bf16), f"{mistake_id} passes in bf16:\n{report}"
