"""The one place a submission runs: nbgrader's Execute, sandboxed, with the test cells judged
outside the student's kernel.

``GradingExecute`` replaces nbgrader's Execute in nbgrader_config.py. For each notebook:

1. (trusted, before the kernel starts) the source findings of lmcore.grading.audit, and the
   cases of every graded test cell, written where the kernel can read them;
2. a kernel in the sandbox of lmcore.course.sandbox, started through ``SandboxedKernelManager``;
3. the cells in order. An ordinary cell runs as usual, with its own timeout. A graded test
   cell of an assignment in lmcore's registry is *not* sent to the kernel: the kernel runs the
   part's probe there instead (lmcore.grading.kernel_probe), and the grader judges the outputs
   and writes the report into the cell, with an error when the part fails, so nbgrader's own
   SaveAutoGrades scores exactly that verdict and the feedback shows why. There is one run,
   so a submission cannot behave one way for nbgrader and another for an audit;
4. a kernel that dies (os._exit, a crash, the memory limit) or that ignores the interrupt
   after a timeout is replaced by a fresh one in a fresh sandbox, and the cells that ran before
   are run again, quietly, without the one that killed it: a crash or a loop costs the cell
   where it happened (and the parts it defines), not the parts after it;
5. a part with delegation, copy or tampering findings scores 0 in all its test cells;
6. each cell keeps at most ``output_limit`` characters of output (then a visible note).

Test cells of assignments lmcore does not know fail with a message, unless the course sets
``unaudited = "kernel"`` (its test cells then run in the kernel and can be forged there).

A summary (verdicts, findings, restarts) is written as JSON to the path in the environment
variable LMCORE_GRADING_SUMMARY when it is set (lmcore.course.classroom reads it for the table).
"""

import base64
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import torch
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell, new_output
from nbgrader.preprocessors import Execute
from traitlets import Enum, Instance, Integer, List, Unicode, default

import lmcore
from lmcore.course import sandbox
from lmcore.grading import audit
from lmcore.grading.kernel_probe import MIME
from lmcore.grading.registry import PARTS, TESTS

REPO = Path(lmcore.__file__).resolve().parents[1]
SUMMARY_ENV = "LMCORE_GRADING_SUMMARY"
PROBE_LIMIT = 256 * sandbox.MiB  # bytes of one probe's outputs, base64
MESSAGE_LIMIT = PROBE_LIMIT + sandbox.MiB  # bytes of any one message from the kernel


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client that refuses any message larger than MESSAGE_LIMIT: the kernel is the
    student's, and one huge message would otherwise be held in the grader's memory."""

    def _create_connected_socket(self, channel, identity=None):
        # a default of the context, so it is set before the socket connects
        self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)
        return super()._create_connected_socket(channel, identity)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs inside lmcore.course.sandbox."""

    spec_path = Unicode("", help="the sandbox's KernelSpec (JSON); set by GradingExecute")

    @default("client_factory")
    def _bounded_client(self):
        return BoundedKernelClient

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        return sandbox.kernel_command(command, self.spec_path) if self.spec_path else command


def _error(ename: str, text: str) -> nbformat.NotebookNode:
    return new_output(
        "error", ename=ename, evalue=text.splitlines()[0] if text else "", traceback=text.splitlines()
    )


def _stream(text: str) -> nbformat.NotebookNode:
    return new_output("stream", name="stdout", text=text if text.endswith("\n") else text + "\n")


def _timed_out(cell) -> bool:
    return any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))


def _size(msg: dict) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    return sum(len(str(v)) for v in content.get("data", {}).values()) + len(str(content.get("traceback", "")))


class GradingExecute(Execute):
    unaudited = Enum(
        ["fail", "kernel"],
        "fail",
        help="test cells of assignments not in lmcore's registry: fail, or run in the kernel",
    ).tag(config=True)
    output_limit = Integer(100_000, help="characters of output kept per cell").tag(config=True)
    max_restarts = Integer(3, help="fresh kernels per notebook after a kernel died or hung").tag(config=True)
    hide = List(Unicode(), help="more directories the student's code must not see").tag(config=True)
    memory_bytes = Integer(sandbox.Limits.memory_bytes).tag(config=True)
    cpu_seconds = Integer(sandbox.Limits.cpu_seconds).tag(config=True)
    processes = Integer(sandbox.Limits.processes).tag(config=True)
    open_files = Integer(sandbox.Limits.open_files).tag(config=True)
    file_bytes = Integer(sandbox.Limits.file_bytes).tag(config=True)
    tmp_bytes = Integer(sandbox.Limits.tmp_bytes).tag(config=True)
    source_audit = Instance(audit.SourceAudit, allow_none=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self.shutdown_kernel = "immediate"  # a kernel is killed with its whole sandbox
        self.iopub_timeout = max(self.iopub_timeout, 10)

    # --------------------------------------------------------------------- the notebook

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        self._assignment = info.get("assignment", "")
        self._tests = TESTS.get(self._assignment, {})  # test cell -> (part, thorough)
        self._verdicts, self._replay, self._restarts, self._dead, self._probing = {}, [], 0, False, False
        self.source_audit = audit.static_audit(nb, self._assignment) if self._tests else audit.SourceAudit()
        self._dir = Path(tempfile.mkdtemp(prefix="lmcore-grade-"))
        try:
            self._prepare_sandbox(nb, resources)
            nb, resources = super().preprocess(nb, resources, km)
            self._zero_findings(nb)
            self._write_summary()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return nb, resources

    def _prepare_sandbox(self, nb, resources) -> None:
        requests = self._dir / "requests"
        requests.mkdir()
        self._dir.chmod(0o711)
        requests.chmod(0o755)
        self._cases, self._requests = {}, {}
        for task in sorted(set(self._tests.values())):
            part, thorough = task
            self._cases[task] = PARTS[part].cases(thorough)
            path = requests / f"{part}-{int(thorough)}.pt"
            torch.save(self._cases[task], path)
            path.chmod(0o644)
            self._requests[task] = str(path)
        submission = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        limits = sandbox.Limits(
            self.memory_bytes,
            self.cpu_seconds,
            self.processes,
            self.open_files,
            self.file_bytes,
            self.tmp_bytes,
        )
        keep = [
            sys.prefix,
            sys.base_prefix,
            str(Path(lmcore.__file__).parent),
            str(requests),
        ]  # and the submission, which the launcher copies from
        # the course (nbgrader runs in it), the repository, the home and temporary directories
        hide = [os.getcwd(), str(REPO), str(Path.home()), tempfile.gettempdir(), *self.hide]
        spec = sandbox.KernelSpec(hide, keep, str(submission), str(self._dir / "scratch"), limits)
        self._spec = sandbox.write_spec(spec, self._dir / "spec.json")

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.spec_path = str(self._spec)
        return km

    async def _async_cleanup_kernel(self):
        if self.km is not None:  # none after the last restart failed
            await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # --------------------------------------------------------------------------- cells

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if audit.is_test_cell(cell) and grade_id in self._tests:
            self._judge_cell(cell, index, *self._tests[grade_id])
        elif audit.is_test_cell(cell) and self.unaudited == "fail":
            cell.outputs = [
                _error(
                    "GradingError",
                    f"test cell {grade_id} is not in lmcore's registry for assignment {self._assignment!r}, "
                    "so it cannot be checked outside the student's kernel (lmcore.grading.registry)",
                )
            ]
        elif self._run(cell, index) and cell.source.strip() and not _timed_out(cell):
            self._replay.append(cell.source)  # re-run after a restart (a cell that timed out is not)
        return cell, resources

    def _run(self, cell, index, store_history=True) -> bool:
        """Execute one cell; on a dead or hung kernel, note it in the cell and start afresh.
        True when the kernel survived the cell."""
        if self._dead:
            cell.outputs = [_error("GradingError", "not run: " + self._dead)]
            return False
        self._cell_size, self._truncated = 0, False
        try:
            self.execute_cell(cell, index, store_history=store_history)
            survived, why = True, ""
        except DeadKernelError:
            survived, why = (
                False,
                "the kernel died while running this cell (it exited, crashed or ran out of memory)",
            )
        except CellTimeoutError:
            survived, why = (
                False,
                f"this cell did not finish within {self.timeout} s and the kernel stopped answering "
                f"(it ignored the interrupt, or sent a message over {MESSAGE_LIMIT >> 20} MiB)",
            )
        if self._truncated:
            cell.outputs.append(
                _stream(f"[the grader kept only the first {self.output_limit} characters of output]")
            )
        if not survived:
            cell.outputs.append(
                _error(
                    "KernelRestarted", why + "; the grader started a new kernel and re-ran the cells above"
                )
            )
            self._probing = False  # nothing the cells above print while they re-run is a probe's result
            self._restart(index)
        return survived

    def _restart(self, index) -> None:
        while True:
            self._cleanup_kernel()
            self._restarts += 1
            if self._restarts > self.max_restarts:
                self._dead = (
                    f"the kernel had to be restarted {self.max_restarts} times, so the rest was not run"
                )
                return
            self.km = self.create_kernel_manager()
            self.start_new_kernel(cwd=self.resources.get("metadata", {}).get("path"))
            self.start_new_kernel_client()
            current = self.nb.cells[index]
            replay, self._replay = self._replay, []
            for source in replay:
                survived = self._quietly(source, index)
                self.nb.cells[index] = current
                if not survived:  # it killed the kernel this time: drop it and begin again
                    self._replay += replay[replay.index(source) + 1 :]
                    break
                self._replay.append(source)
            else:
                return

    def _quietly(self, source: str, index: int) -> bool:
        cell = new_code_cell(source)
        self._cell_size, self._truncated = 0, False
        try:
            self.execute_cell(cell, index, store_history=True)
            return True
        except (DeadKernelError, CellTimeoutError):
            return False

    # ---------------------------------------------------------------------- probes

    def _judge_cell(self, cell, index, part: str, thorough: bool) -> None:
        task = (part, thorough)
        probe = new_code_cell(
            f'__import__("lmcore.grading.kernel_probe", fromlist=["run"]).run({part!r}, {thorough!r}, '
            f"{self._requests[task]!r})"
        )
        self._payload, self._probing = None, True
        try:
            survived = self._run(probe, index, store_history=False)
        finally:
            self._probing = False
            self.nb.cells[index] = cell
        if not survived:
            self._payload = None
        verdict = self._verdict(part, task, probe)
        self._verdicts[cell.metadata.nbgrader.grade_id] = verdict
        cell.outputs = [_stream(verdict.report)] + (
            [] if verdict.passed else [_error("AssertionError", verdict.report)]
        )
        cell.execution_count = None

    def _verdict(self, part, task, probe) -> audit.Verdict:
        if self._payload is None:
            errors = [f"{o.ename}: {o.evalue}" for o in probe.outputs if o.output_type == "error"]
            why = "; ".join(errors) or "the check sent back no result"
            return audit.Verdict(part, False, f"{part}: the check could not run: {why}")
        try:
            outputs = torch.load(io.BytesIO(base64.b64decode(self._payload)), weights_only=True)
        except Exception as exc:  # anything but plain tensors and Python values
            return audit.Verdict(part, False, f"{part}: the check's result could not be read safely: {exc}")
        return audit.judge_outputs(part, self._cases[task], outputs)

    def output(self, outs, msg, display_id, cell_index):
        data = msg.get("content", {}).get("data", {})
        if MIME in data:  # a probe's result, only ever taken while the grader runs a probe
            payload = data[MIME]
            if self._probing and isinstance(payload, str) and len(payload) <= PROBE_LIMIT:
                self._payload = payload
            return None
        self._cell_size += _size(msg)
        if self._cell_size > self.output_limit:
            self._truncated = True
            return None
        return super().output(outs, msg, display_id, cell_index)

    # ----------------------------------------------------------------------- verdicts

    def _zero_findings(self, nb) -> None:
        """A part that delegates, copies or tampers scores 0 in every test cell it has."""
        found = {part: self.source_audit.findings(part) for part, _ in self._tests.values()}
        for verdict in self._verdicts.values():
            found[verdict.part] += [f"when run, it called {d}" for d in verdict.delegation]
        for cell in nb.cells:
            verdict = self._verdicts.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
            if verdict is None or not found[verdict.part]:
                continue
            verdict.passed = False
            verdict.report = (
                f"{verdict.part}: scores 0 in all its test cells, because its code does not do its own "
                "work or changes the grader:\n  "
                + "\n  ".join(dict.fromkeys(found[verdict.part]))
                + "\nwrite the part yourself, with tensor operations and your own functions "
                "(see the assignment's rules)"
            )
            cell.outputs = [_error("AssertionError", verdict.report)]

    def _write_summary(self) -> None:
        summary = {
            "cells": {
                c: {"part": v.part, "passed": v.passed, "why": "" if v.passed else v.report}
                for c, v in self._verdicts.items()
            },
            "findings": {p: f for p, f in self.source_audit.parts.items() if f},
            "everything": self.source_audit.everything,
            "suspects": self.source_audit.suspects,
            "restarts": self._restarts,
        }
        self.summary = summary
        if os.environ.get(SUMMARY_ENV):
            Path(os.environ[SUMMARY_ENV]).write_text(json.dumps(summary))


def run_notebook(path: Path, assignment_id: str, timeout: int = 300, **traits):
    """Execute and judge a notebook as autograding does, outside nbgrader (no gradebook):
    (the executed notebook, the summary)."""
    nb = nbformat.read(path, as_version=4)
    executor = GradingExecute(timeout=timeout, **traits)
    resources = {"nbgrader": {"assignment": assignment_id}, "metadata": {"path": str(Path(path).parent)}}
    nb, _ = executor.preprocess(nb, resources)
    return nb, executor.summary
