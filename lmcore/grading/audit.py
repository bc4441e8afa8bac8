"""Re-grade a submitted notebook outside the student's kernel.

In the kernel nbgrader runs, the student's code runs first and could forge any
verdict (swallow exceptions, patch the checks, patch torch). So the audit:
  1. (trusted parent) reads the notebook and builds each part's inputs;
  2. (untrusted child process) executes the notebook's non-test code cells,
     then runs each part's *probe*: the student's component on those inputs;
     it returns plain tensors, loaded back with ``weights_only=True``;
  3. (trusted parent) *judges* the outputs against the reference, and reads the
     solution cells' source for delegation (banned kernels or lmcore references).
The child can still return whatever it likes, but matching the reference
outputs then means computing them, which is the assignment.

    python -m lmcore.grading.audit path/to/A5.ipynb A5     # prints a JSON verdict
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import torch

from lmcore.grading.delegation import RULES, dynamic_findings, static_findings
from lmcore.grading.parts import ASSIGNMENTS, PARTS


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def audit_notebook(path: str | Path, assignment_id: str, timeout: float = 1200) -> dict[str, bool]:
    """For each autograded test cell of the assignment, whether its part passes."""
    return {cell: verdict["passed"] for cell, verdict in audit_details(path, assignment_id, timeout).items()}


def audit_details(path: str | Path, assignment_id: str, timeout: float = 1200) -> dict[str, dict]:
    if assignment_id not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment_id!r}; audited: {sorted(ASSIGNMENTS)}")
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and not _is_test_cell(c)]
    solutions = {_nbgrader(c).get("grade_id"): c.source for c in nb.cells if _nbgrader(c).get("solution")}
    tasks = sorted(set(ASSIGNMENTS[assignment_id].values()))
    cases = {task: PARTS[task[0]].cases(task[1]) for task in tasks}
    outputs, error = _run_child(code, cases, path.parent, timeout)
    verdicts = {}
    for cell, task in ASSIGNMENTS[assignment_id].items():
        part, thorough = task
        if error:
            verdicts[cell] = {"passed": False, "why": error}
            continue
        report = PARTS[part].judge(cases[task], outputs["probes"][task])
        delegation = thorough and part in RULES
        findings = static_findings(part, solutions.get(part, "")) if delegation else []
        findings += outputs["delegation"].get(part, []) if delegation else []
        passed = report.passed and not findings
        why = "" if passed else (str(report) if not report.passed else "delegates: " + "; ".join(findings))
        verdicts[cell] = {"passed": passed, "why": why}
    return verdicts


def _run_child(code: list[str], cases: dict, cwd: Path, timeout: float):
    with tempfile.TemporaryDirectory() as tmp:
        request, result = Path(tmp) / "request.pt", Path(tmp) / "result.pt"
        torch.save({"code": code, "cases": cases}, request)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lmcore.grading.audit",
                    "--child",
                    str(request),
                    str(result),
                ],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return None, f"the notebook's code did not finish within {timeout:.0f} s"
        if not result.exists():
            return (
                None,
                f"the notebook's code stopped the audit (exit {proc.returncode}): {proc.stderr[-500:]}",
            )
        try:
            return torch.load(result, weights_only=True), None
        except Exception as exc:  # a child that wrote something other than plain tensors
            return None, f"the audit's result could not be read safely: {exc}"


def _child(request_path: str, result_path: str) -> None:
    """Untrusted side: run the notebook's code, then the probes. Writes plain data only."""
    request = torch.load(request_path, weights_only=False)  # written by the trusted parent
    namespace: dict = {"__name__": "__main__"}
    for source in request["code"]:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            exec(compile("\n".join(lines), "<notebook cell>", "exec"), namespace)
        except Exception as exc:  # a broken cell fails only the parts that need it
            print(f"cell raised {type(exc).__name__}: {exc}", file=sys.stderr)
    probes, delegation = {}, {}
    for (part, thorough), case in request["cases"].items():
        spec = PARTS[part]
        component = namespace.get(spec.component)
        if component is None:
            probes[(part, thorough)] = _missing(part, spec.component, case)
            continue
        probes[(part, thorough)] = spec.probe(component, case)
        if thorough and part in RULES:
            try:
                delegation[part] = dynamic_findings(part, component)
            except Exception as exc:
                delegation[part] = [f"running it raised {type(exc).__name__}: {exc}"]
    torch.save({"probes": probes, "delegation": delegation}, result_path)


def _missing(part: str, name: str, case: dict) -> dict:
    """Probe output for a component the notebook never defined: every step errs."""
    message = f"NameError: the notebook does not define {name}"

    def broken(*args, **kwargs):
        raise NameError(message)

    return PARTS[part].probe(broken, case)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(*argv[1:3])
        return 0
    if len(argv) != 2:
        print("usage: python -m lmcore.grading.audit NOTEBOOK ASSIGNMENT_ID", file=sys.stderr)
        return 2
    print(json.dumps(audit_details(argv[0], argv[1]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
