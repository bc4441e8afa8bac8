"""The audit re-grades a notebook outside the student's kernel; forging there gains nothing."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from lmcore.grading.audit import audit_details, audit_notebook
from tests import a5_variants as variants


def write(nb, tmp_path, name="A5.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_solution_passes_every_test_cell(tmp_path):
    verdict = audit_notebook(write(variants.solution_notebook(), tmp_path), "A5")
    assert len(verdict) == 8 and all(verdict.values()), verdict


def test_forged_mutant_fails_exactly_its_part(tmp_path):
    edits, broken, _ = variants.MUTANTS["heads_merged_wrong"]
    nb = variants.edited(edits)
    nb.cells.insert(2, new_code_cell(variants.FORGING_CELL))
    # the forger also replaces the check it is graded by, inside its own kernel
    nb.cells.insert(
        3, new_code_cell("import lmcore.grading\nlmcore.grading.check_self_attention = lambda *a, **k: None")
    )
    verdict = audit_notebook(write(nb, tmp_path), "A5")
    assert {cell for cell, ok in verdict.items() if not ok} == {
        "test_self_attention",
        "test_self_attention_hidden",
    }


def test_delegation_fails_only_the_hidden_cell(tmp_path):
    details = audit_details(write(variants.edited(variants.DELEGATING), tmp_path), "A5")
    failed = {cell for cell, v in details.items() if not v["passed"]}
    assert failed == {"test_attention_hidden"}
    assert "scaled_dot_product_attention" in details["test_attention_hidden"]["why"]


def test_notebook_without_the_components_fails_everything(tmp_path):
    nb = variants.solution_notebook()
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    verdict = audit_notebook(write(nb, tmp_path), "A5")
    assert not any(verdict.values())


def test_a_notebook_that_exits_is_reported_not_crashed(tmp_path):
    nb = variants.solution_notebook()
    nb.cells.insert(2, new_code_cell("import os\nos._exit(3)"))
    details = audit_details(write(nb, tmp_path), "A5")
    assert not any(v["passed"] for v in details.values())
    assert "exit 3" in details["test_gpt"]["why"]


def test_unknown_assignment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown assignment"):
        audit_notebook(write(variants.solution_notebook(), tmp_path), "A99")
