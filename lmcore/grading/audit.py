"""The trusted half of grading: what a notebook's source shows, and the verdict on its probes.

A submission is run once, in a sandboxed kernel (lmcore.course.sandbox), by
lmcore.grading.execute. Where a graded test cell stood, the kernel runs the part's *probe*
(lmcore.grading.kernel_probe) and sends back plain outputs; this module, imported by the
grader before any student code runs, judges them against the reference. Its own evidence:

* **source findings** (``static_audit``), read from the notebook in the grader's process:
  - *delegation*: a part's solution cell imports from lmcore, or names a fused library op
    or lmcore reference that the part's rules ban (as an attribute, an import or a string);
  - *copies*: a function or class whose syntax tree, with every name and string replaced by
    a placeholder, equals one of lmcore's reference functions (renaming hides nothing);
    near-copies are reported to the instructor as copy suspects, without penalty;
  - *tampering*: code built or read at run time (exec, eval, compile, __import__,
    importlib, inspect, ctypes), IPython's hooks (get_ipython), the profiler and the module
    table (sys.setprofile, sys.modules), function internals (__globals__, __code__), or
    assignments into lmcore's modules. Such a notebook cannot be checked for delegation, so
    every part scores 0, with the line that did it.
* **run findings**: the probe of a thorough check also records which banned operators and
  reference functions the component called. The student could forge that record, which
  only hides what the source findings look for.

A part with any delegation, copy or tampering finding scores 0 in all its test cells.

    python -m lmcore.grading.audit path/to/A5.ipynb A5     # runs it sandboxed, prints JSON
"""

import ast
import copy
import difflib
import importlib
import inspect
import json
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import lmcore
from lmcore.grading.registry import PARTS, TESTS
from lmcore.grading.report import Report

# the reference code students could copy: every top-level module of lmcore (subpackages are
# tooling, widgets, oracles and grading)
REFERENCE_MODULES = tuple(
    importlib.import_module(f"lmcore.{m.name}") for m in pkgutil.iter_modules(lmcore.__path__) if not m.ispkg
)
MIN_COPY_NODES = 60  # smaller functions are too short to call a copy (a correct one-liner is the one-liner)
SUSPECT_RATIO = 0.9  # normalized similarity at which a near-copy is reported to the instructor
RUNTIME_CODE = {"exec", "eval", "compile", "__import__", "breakpoint"}
TAMPER_MODULES = {"importlib", "inspect", "ctypes", "gc", "builtins", "runpy", "marshal"}
TAMPER_ATTRS = {
    "__globals__", "__builtins__", "__code__", "__closure__", "__subclasses__", "__import__",
    "setprofile", "settrace", "modules", "_getframe", "meta_path", "addaudithook", "FunctionType", "CodeType",
}  # fmt: skip
TAMPER_ROOTS = {"sys", "IPython", "builtins"}  # assigning into these changes the grader's world


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def _editable(cell) -> bool:
    """Cells whose source is the student's: solution cells and cells the student added."""
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "code" and (bool(meta.get("solution")) or not meta)


def _parse(source: str) -> ast.Module | None:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


# ----------------------------------------------------------------------------- copies


class _Normalize(ast.NodeTransformer):
    """Every identifier becomes v0, v1, ... in order of first use; strings and docstrings go."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _definition(self, node):
        node.name = self._name(node.name)
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            node.body = body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node):
        node.arg, node.annotation = self._name(node.arg), None
        return node

    def visit_Attribute(self, node):
        node.attr = self._name(node.attr)
        return self.generic_visit(node)

    def visit_keyword(self, node):
        node.arg = node.arg and self._name(node.arg)
        return self.generic_visit(node)

    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node


def _shape(node: ast.AST, in_place: bool = False) -> tuple[str, int]:
    """(normalized dump, node count) of a function or class; ``in_place`` normalizes the node
    itself (a tree parsed for this alone) instead of a copy, which costs as much as the rest."""
    tree = _Normalize().visit(node if in_place else copy.deepcopy(node))
    return ast.dump(tree, annotate_fields=False), sum(1 for _ in ast.walk(tree))


def _definitions(tree: ast.Module):
    """Top-level functions and classes: a class is compared whole, since a correct method
    (a constructor that declares the layers the contract names) may well equal the reference's."""
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]


def _reference_shapes() -> dict[str, tuple[str, int]]:
    shapes = {}
    for module in REFERENCE_MODULES:
        tree = ast.parse(inspect.getsource(module))
        for node in _definitions(tree):
            name = f"{module.__name__}.{node.name}"  # before normalizing renames the node
            dump, size = _shape(node, in_place=True)
            if size >= MIN_COPY_NODES:
                shapes[name] = (dump, size)
    return shapes


REFERENCE_SHAPES = _reference_shapes()  # computed at import, before any student code runs


def copy_findings(tree: ast.AST) -> tuple[list[str], list[str]]:
    """(exact copies of lmcore's references, near-copies) among the definitions in tree."""
    copies, suspects = [], []
    for node in _definitions(tree):
        dump, size = _shape(node)
        if size < MIN_COPY_NODES:
            continue
        for name, (ref_dump, ref_size) in REFERENCE_SHAPES.items():
            if dump == ref_dump:
                copies.append(f"line {node.lineno}: {node.name} is lmcore's {name} with other names")
                break
            if 0.8 < size / ref_size < 1.25:
                matcher = difflib.SequenceMatcher(None, dump.split(), ref_dump.split(), autojunk=False)
                if matcher.quick_ratio() >= SUSPECT_RATIO and matcher.ratio() >= SUSPECT_RATIO:
                    suspects.append(f"{node.name} is {matcher.ratio():.0%} like lmcore's {name}")
                    break
    return copies, suspects


# ------------------------------------------------------------------------- the source


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _lmcore_names(tree: ast.AST) -> set[str]:
    """Names a cell binds by importing from lmcore."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmcore"):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("lmcore")}
    return names


def tampering_findings(tree: ast.AST, lmcore_names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Name) and node.id in RUNTIME_CODE | {"get_ipython"}:
            found.append(f"line {line}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in TAMPER_ATTRS:
            found.append(f"line {line}: .{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {line}: import {m}" for m in modules if m.split(".")[0] in TAMPER_MODULES]
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                root = _root(target) if isinstance(target, ast.Attribute | ast.Subscript) else None
                if root in lmcore_names | TAMPER_ROOTS:
                    found.append(f"line {line}: changes {ast.unparse(target)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
        ):
            if node.args and _root(node.args[0]) in lmcore_names | TAMPER_ROOTS:
                found.append(f"line {line}: {node.func.id} on {ast.unparse(node.args[0])}")
    return found


def _banned_names(part: str, tree: ast.AST) -> list[str]:
    names = set(PARTS[part].rules.names)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"line {line}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            found.append(f"line {line}: the string {node.value!r}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmcore"):
            found += [f"line {line}: from {node.module} import {a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [
                f"line {line}: from {node.module} import {a.name}" for a in node.names if a.name in names
            ]
        elif isinstance(node, ast.Import):
            found += [f"line {line}: import {a.name}" for a in node.names if a.name.startswith("lmcore")]
    return found


@dataclass
class SourceAudit:
    """What the notebook's source shows. parts: part -> findings that cost it every point;
    everything: findings that cost every part; suspects: for the instructor only."""

    parts: dict[str, list[str]] = field(default_factory=dict)
    everything: list[str] = field(default_factory=list)
    suspects: list[str] = field(default_factory=list)

    def findings(self, part: str) -> list[str]:
        return self.everything + self.parts.get(part, [])


def static_audit(nb: nbformat.NotebookNode, assignment_id: str) -> SourceAudit:
    audit = SourceAudit()
    part_names = sorted({part for part, _ in TESTS.get(assignment_id, {}).values()})
    # each code cell parsed once; a syntax error fails the part that needs the cell, when it runs
    trees = {i: _parse(c.source) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"}
    lmcore_names = {"lmcore"}.union(*(_lmcore_names(t) for t in trees.values() if t))
    for index, tree in trees.items():
        cell = nb.cells[index]
        if tree is None or not _editable(cell):
            continue
        part = _nbgrader(cell).get("grade_id")
        where = f"cell {part or index}"
        audit.everything += [f"{where}, {f}" for f in tampering_findings(tree, lmcore_names)]
        copies, suspects = copy_findings(tree)
        audit.suspects += suspects
        target = audit.parts.setdefault(part, []) if part in part_names else audit.everything
        target += [f"{where}, {f}" for f in copies]
        if part in part_names and _nbgrader(cell).get("solution"):
            target += _banned_names(part, tree)
    return audit


# ------------------------------------------------------------------------- the probes


@dataclass
class Verdict:
    part: str
    passed: bool
    report: str  # what the student reads in the test cell's output
    delegation: list[str] = field(default_factory=list)  # from the run; the source's come apart


def judge_outputs(part: str, case, outputs) -> Verdict:
    """Trusted: the judge's verdict on what the probe sent back."""
    if not isinstance(outputs, dict):
        return Verdict(part, False, f"{part}: the probe sent back {type(outputs).__name__}, not its outputs")
    if "probe_error" in outputs:
        why = outputs["probe_error"]
        return Verdict(part, False, f"{part}: checking it stopped with {why}")
    try:
        report = PARTS[part].verdict(case, outputs)
    except Exception as exc:  # outputs of the wrong shape or type
        report = Report(part)
        report.add("its outputs can be checked", False, f"{type(exc).__name__}: {exc}")
    delegation = outputs.get("delegation") or []
    if not isinstance(delegation, list) or not all(isinstance(d, str) for d in delegation):
        delegation = ["the run's record of what it called was not a list of names"]
    return Verdict(part, report.passed, str(report), delegation)


# ------------------------------------------------------------------------- standalone


def audit_details(path: str | Path, assignment_id: str, timeout: int = 300) -> dict[str, dict]:
    """Run a notebook as the grader does (sandboxed, probes, judges) outside nbgrader; for
    each graded test cell, {"passed": bool, "why": str}."""
    from lmcore.grading.execute import run_notebook

    if assignment_id not in TESTS:
        raise ValueError(f"unknown assignment {assignment_id!r}; graded: {sorted(TESTS)}")
    _, summary = run_notebook(Path(path), assignment_id, timeout=timeout)
    return {cell: {"passed": v["passed"], "why": v["why"]} for cell, v in summary["cells"].items()}


def audit_notebook(path: str | Path, assignment_id: str, timeout: int = 300) -> dict[str, bool]:
    """For each graded test cell of the assignment, whether its part passes."""
    return {cell: v["passed"] for cell, v in audit_details(path, assignment_id, timeout).items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m lmcore.grading.audit NOTEBOOK ASSIGNMENT_ID", file=sys.stderr)
        return 2
    print(json.dumps(audit_details(argv[0], argv[1]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
