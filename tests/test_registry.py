"""Every solution notebook, the book and the variants agree with the grading registry."""

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from lmcore.grading.registry import ASSIGNMENTS
from tests.submissions import ROOT, grade_id

IDS = sorted(ASSIGNMENTS)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def canonical_test(assignment_id: str, part, thorough: bool) -> str:
    """The code of a part's test cell, comments aside: exactly one check call."""
    args = ", ".join(part.names) + (", thorough=True" if thorough else "")
    call = f"{assignment_id.lower()}.{part.id}.check({args}).raise_if_failed()"
    return f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS" if thorough else call


def _code(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() and not line.startswith("# "))


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_notebook_follows_the_registry(assignment_id):
    """Solution cells in the registry's order, each followed by its visible and hidden test
    cells with the registry's points and canonical code; the setup imports the package."""
    assignment = ASSIGNMENTS[assignment_id]
    nb = nbformat.read(ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    graded = [(grade_id(c), c) for c in nb.cells if _meta(c).get("solution") or _meta(c).get("grade")]
    expected = [cell for part in assignment.parts for cell in (part.id, *part.tests)]
    assert [g for g, _ in graded] == expected
    cells = dict(graded)
    for part in assignment.parts:
        for cell_id, thorough in part.tests.items():
            cell = cells[cell_id]
            assert _meta(cell)["points"] == part.points[thorough], cell_id
            assert _code(cell.source) == canonical_test(assignment_id, part, thorough), cell_id
        tree = ast.parse(cells[part.id].source)
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        defined |= {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        assert set(part.names) <= defined, f"{part.id} must define {part.names}"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert f"from lmcore.grading import {assignment_id.lower()}" in setup.source.splitlines()


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_has_every_test_cell(assignment_id):
    nb = nbformat.read(ROOT / "assignments" / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    tests = [grade_id(c) for c in nb.cells if _meta(c).get("grade")]
    assert tests == list(ASSIGNMENTS[assignment_id].tests)


@pytest.mark.parametrize("assignment_id", IDS)
def test_each_part_is_a_module_of_its_package_and_has_variants(assignment_id):
    package = importlib.import_module(f"lmcore.grading.{assignment_id.lower()}")
    variants = importlib.import_module(f"tests.variants.{assignment_id.lower()}")
    for part in ASSIGNMENTS[assignment_id].parts:
        assert getattr(package, part.id).PART is part, f"lmcore/grading/{assignment_id.lower()}/{part.id}.py"
        assert variants.ALTERNATIVES.get(part.id), f"{part.id} needs an alternative in tests/variants"
        assert set(variants.MUTANTS.get(part.id, {})) <= {m.id for m in part.mistakes}
        if part.rules:
            assert variants.DELEGATING.get(part.id), f"{part.id} needs a delegating variant"
        assert all(
            obj is not None and not obj.__module__.startswith("lmcore.grading") for obj in part.reference
        )


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return {Path(c["file"]).name for p in toc["parts"] for c in p["chapters"]}


@pytest.mark.parametrize("assignment_id", IDS)
def test_chapters_and_sections_exist(assignment_id):
    assignment = ASSIGNMENTS[assignment_id]
    assert assignment.chapter in _toc_files()
    for part in assignment.parts:
        chapter, number = part.section.split("#")
        text = (ROOT / "book" / f"{chapter}.md").read_text()
        assert re.search(rf"^##+ {re.escape(number)} ", text, flags=re.M), (
            f"{part.id}: no section {part.section}"
        )


def test_the_front_page_marks_exactly_the_graded_assignments_available():
    rows = [line for line in (ROOT / "book" / "intro.md").read_text().splitlines() if line.startswith("| ")]
    available = set()
    for row in rows:
        for assignment_id in re.findall(r"\*\*(A\d+)\*\*", row):
            if "bdg-success" in row:
                available.add(assignment_id)
    assert available == set(ASSIGNMENTS)
