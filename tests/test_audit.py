"""The grader judges each test cell outside the student's kernel; forging there gains nothing.
(run outside nbgrader here, with lmcore.grading.audit.audit_details)"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from lmcore.grading.audit import audit_details, audit_notebook
from tests.submissions import FORGING_CELL, Submissions
from tests.variants import a5 as variants

A5 = Submissions("A5")


def write(nb, tmp_path, name="A5.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_solution_passes_every_test_cell(tmp_path):
    verdict = audit_notebook(write(A5.solution(), tmp_path), "A5")
    assert len(verdict) == 8 and all(verdict.values()), verdict


def test_a_mutant_that_replaces_its_check_fails_every_part(tmp_path):
    """Test cells are not run in the kernel, so replacing the check there gains nothing; the
    assignment into lmcore is tampering, which costs every part."""
    nb = A5.edited(variants.MUTANTS["self_attention"]["heads_merged_wrong"])
    nb.cells.insert(2, new_code_cell("a5.self_attention.check = lambda *a, **k: None"))
    verdict = audit_notebook(write(nb, tmp_path), "A5")
    assert not any(verdict.values()), verdict


def test_hooking_ipython_is_tampering_and_costs_every_part(tmp_path):
    nb = A5.solution()
    nb.cells.insert(2, new_code_cell(FORGING_CELL))
    details = audit_details(write(nb, tmp_path), "A5")
    assert not any(v["passed"] for v in details.values())
    assert "get_ipython" in details["test_gpt"]["why"]


def test_delegation_fails_the_whole_part(tmp_path):
    details = audit_details(write(A5.edited(variants.DELEGATING["attention"]["torch_sdpa"]), tmp_path), "A5")
    failed = {cell for cell, v in details.items() if not v["passed"]}
    assert failed == {"test_attention", "test_attention_hidden"}
    assert "scaled_dot_product_attention" in details["test_attention"]["why"]


def test_notebook_without_the_components_fails_everything(tmp_path):
    nb = A5.solution()
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    verdict = audit_notebook(write(nb, tmp_path), "A5")
    assert not any(verdict.values())


def test_a_cell_that_kills_the_kernel_costs_only_that_cell(tmp_path):
    nb = A5.solution()
    nb.cells.insert(2, new_code_cell("import os\nos._exit(3)"))
    details = audit_details(write(nb, tmp_path), "A5")
    assert all(v["passed"] for v in details.values()), details


def test_unknown_assignment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown assignment"):
        audit_notebook(write(A5.solution(), tmp_path), "A99")
