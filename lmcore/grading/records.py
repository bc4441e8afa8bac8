"""The grading records: a ``Part`` a student writes, the ``Mistake``s it is known for, and the
``Assignment`` that orders its parts. Every assignment is a package of these records
(``lmcore.grading.a1`` ... ), found by ``lmcore.grading.registry``.

A part is checked in three steps, kept apart so the verdict is computed in a process the
student's code never touched (``lmcore.grading.execute``):

    cases   (trusted)    build inputs: tensors, configs, reference weights;
    probe   (untrusted)  run the student's component on them, return plain data;
    judge   (trusted)    compute the reference on the same inputs and compare -> Report.

``Part.check`` runs the three in one process, as a notebook's test cell does::

    >>> from lmcore.grading import a5
    >>> a5.attention.check(scaled_dot_product_attention)                # quick, visible
    >>> a5.attention.check(scaled_dot_product_attention, thorough=True)  # hidden: more cases,
    ...                                                                  # CUDA, no delegation

A thorough check also traces the run (``lmcore.grading.tracer``) and fails the property "does
its own work" on any call the part's ``Rules`` ban. When the report fails, the part's known
mistakes are run on the same cases, in the trusted process, and each one whose outputs the
student's outputs match is named in the report with its diagnosis.
"""

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules, trace
from lmcore.tolerances import FP32_MODEL

OWN_WORK = "does its own work (no fused library kernel, banned library or lmcore reference for this part)"


@dataclass(frozen=True)
class Mistake:
    """A classic wrong implementation. ``implementation`` has the component's signature; for a
    part of several names it is a dict {name: implementation} of those it replaces."""

    id: str
    diagnosis: str  # what the student reads: what is wrong and how to fix it
    implementation: Any


@dataclass(frozen=True)
class Part:
    id: str  # the grade_id of its solution cell; its test cells are test_<id>, test_<id>_hidden
    names: tuple[str, ...]  # what the solution cell defines, in the order check() takes them
    reference: tuple  # lmcore's objects for those names: their signatures and docstrings are the contract
    section: str  # where the book teaches it: "<chapter file>#<section number>", e.g. "ch07_attention#7.2"
    cases: Callable[[bool], Any]  # (thorough) -> case                       trusted
    probe: Callable[[Any, Any], dict]  # (implementation, case) -> outputs  untrusted
    judge: Callable[[Any, dict], Report]  # (case, outputs) -> Report         trusted
    points: tuple[int, int] = (4, 6)  # visible, hidden test cell
    mistakes: tuple[Mistake, ...] = ()
    rules: Rules = field(default_factory=Rules)
    # a short run of the component traced for delegation; None traces the thorough probe itself
    exercise: Callable[[Any], Callable[[], Any]] | None = None
    # output keys that vary from run to run (timings): not compared. The entries of a dict case
    # with these names (the timed runs' inputs) are left out of the case the known mistakes run
    # on, so naming the mistakes of a failed report repeats no timed run.
    ignore: tuple[str, ...] = ()
    # (case, student's outputs, a mistake's outputs) -> whether they show the same mistake; by
    # default ``same_outputs``. A part whose outputs are random draws compares what the draws
    # estimate instead (their frequencies), since a student may use the generator differently.
    agree: Callable[[Any, dict, dict], bool] | None = None

    def __post_init__(self):
        if len(self.reference) != len(self.names):
            raise ValueError(
                f"part {self.id}: one reference per name {self.names}, got {len(self.reference)}"
            )
        ids = [m.id for m in self.mistakes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"part {self.id}: two mistakes share an id in {ids}")

    @property
    def tests(self) -> dict[str, bool]:
        """Its test cells' grade_ids -> whether the cell is the thorough (hidden) one."""
        return {f"test_{self.id}": False, f"test_{self.id}_hidden": True}

    # ------------------------------------------------------------- the implementation

    def implementation(self, namespace: dict):
        """What ``probe`` receives, taken from a notebook's namespace: the component itself, or
        {name: component} for a part of several names. A name the notebook never defined is a
        stand-in that raises NameError, so every step that needs it fails alone."""

        def get(name):
            if name in namespace:
                return namespace[name]

            def missing(*args, **kwargs):
                raise NameError(f"the notebook does not define {name}")

            return missing

        if len(self.names) == 1:
            return get(self.names[0])
        return {name: get(name) for name in self.names}

    def _pack(self, components: tuple, by_name: dict):
        given = dict(zip(self.names, components, strict=False))
        unknown = set(by_name) - set(self.names)
        if len(components) > len(self.names) or unknown:
            raise TypeError(
                f"{self.id}.check takes {', '.join(self.names)}; got {len(components)} "
                f"positional arguments and {sorted(by_name)}"
            )
        given.update(by_name)
        missing = [n for n in self.names if n not in given]
        if missing:
            raise TypeError(
                f"{self.id}.check needs {', '.join(missing)} too (it checks {', '.join(self.names)})"
            )
        return given[self.names[0]] if len(self.names) == 1 else given

    def with_mistake(self, mistake: Mistake):
        """The implementation a mistake stands for: the mistake's names, the reference's for the rest."""
        if len(self.names) == 1:
            return mistake.implementation
        return {**dict(zip(self.names, self.reference, strict=True)), **mistake.implementation}

    # --------------------------------------------------------------------- the steps

    def outputs(self, implementation, case, thorough: bool) -> dict:
        """Untrusted: the probe's outputs, with the delegation record of a thorough check."""
        if not (thorough and self.rules):
            return self.probe(implementation, case)
        out = None
        try:
            if self.exercise is None:
                out, found = trace(lambda: self.probe(implementation, case), self.rules)
            else:
                out = self.probe(implementation, case)
                _, found = trace(self.exercise(implementation), self.rules)
            out["delegation"] = found
        except Exception as exc:  # the exercise itself raised: a failure, not a finding
            out = self.probe(implementation, case) if out is None else out
            out["delegation_error"] = f"{type(exc).__name__}: {exc}"
        return out

    def verdict(self, case, outputs: dict) -> Report:
        """Trusted: the judge's report on the outputs, the delegation property, and the known
        mistakes the outputs match."""
        report = self.judge(case, outputs)
        if "delegation" in outputs:
            found = outputs["delegation"]
            report.add(OWN_WORK, not found, "found: " + "; ".join(found) + "\nwrite this part yourself")
        elif outputs.get("delegation_error"):
            report.add(
                OWN_WORK, False, "running it to see what it calls raised " + outputs["delegation_error"]
            )
        # outputs that fail nothing but "does its own work" are the reference's, and outputs of
        # a stub still in place are no attempt: no known mistake can be told from either
        if any(p.name != OWN_WORK for p in report.failed()) and not unfinished(outputs):
            untimed = (
                {k: v for k, v in case.items() if k not in self.ignore} if isinstance(case, dict) else case
            )
            key = fingerprint(untimed)
            agree = self.agree or (lambda _, a, b: same_outputs(a, b, self.ignore))
            for mistake in self.mistakes:
                expected = self._mistake_outputs(mistake, untimed, key)
                if expected is not None and agree(case, outputs, expected):
                    report.diagnose(mistake.id, mistake.diagnosis)
        return report

    def _mistake_outputs(self, mistake: Mistake, case, key: str) -> dict | None:
        """The probe's outputs for a known mistake (None when it cannot run on these cases),
        remembered for the process: a mistake is trusted code, its outputs a function of the
        case, and a test suite names the mistakes of many failed reports on the same cases."""
        seen = _MISTAKE_OUTPUTS.get((id(mistake), key))
        if seen is None or seen[0] is not mistake:  # the same id may be a new object's
            try:
                outputs = self.probe(self.with_mistake(mistake), case)
            except Exception:  # a mistake that cannot run on these cases names nothing
                outputs = None
            if len(_MISTAKE_OUTPUTS) >= 2048:
                _MISTAKE_OUTPUTS.pop(next(iter(_MISTAKE_OUTPUTS)))  # the oldest
            seen = _MISTAKE_OUTPUTS[id(mistake), key] = (mistake, outputs)
        return seen[1]

    def check(self, *components, thorough: bool = False, **by_name) -> Report:
        """Check the component(s) on this part's cases; ``thorough`` is what hidden tests run."""
        implementation = self._pack(components, by_name)
        case = self.cases(thorough)
        return self.verdict(case, self.outputs(implementation, case, thorough))


@dataclass(frozen=True)
class Assignment:
    id: str  # "A5": its notebooks are solutions/A5/A5.ipynb and assignments/A5/A5.ipynb
    chapter: str  # the book chapter it follows, a file of book/ without .md
    parts: tuple[Part, ...]

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(f"{self.id} has no part {part_id!r}; its parts are {[p.id for p in self.parts]}")

    @property
    def tests(self) -> dict[str, tuple[str, bool]]:
        """Test cell grade_id -> (part id, thorough), in notebook order."""
        return {cell: (p.id, thorough) for p in self.parts for cell, thorough in p.tests.items()}


# ------------------------------------------------------------------ matching a mistake


def unfinished(outputs) -> bool:
    """Whether a probe's outputs show a stub still in place somewhere: an error text (as
    ``attempt`` records it, with the student's line) raised by the student's own ``raise
    NotImplementedError`` line, as the release has it, or a name the notebook does not define.
    A NotImplementedError from a library (torch's, say) is an attempt and does not count."""
    if isinstance(outputs, str):
        return (
            outputs.startswith("NotImplementedError") and "raise NotImplementedError" in outputs
        ) or outputs.startswith("NameError: the notebook does not define")
    if isinstance(outputs, dict):
        return any(unfinished(v) for v in outputs.values())
    if isinstance(outputs, list | tuple):
        return any(unfinished(v) for v in outputs)
    return False


_MISTAKE_OUTPUTS: dict[tuple[int, str], tuple[Mistake, dict | None]] = {}


def fingerprint(value) -> str:
    """A digest of a case: its structure, every tensor's dtype, shape and bytes, and the repr of
    anything else (numbers, strings, configs). Equal cases built twice have equal digests.

    >>> fingerprint({"x": torch.zeros(2), "n": 3}) == fingerprint({"n": 3, "x": torch.zeros(2)})
    True
    """
    digest = hashlib.sha256()

    def feed(v):
        if isinstance(v, Tensor):
            v = v.detach().cpu().contiguous()
            digest.update(f"tensor {v.dtype} {tuple(v.shape)}:".encode())
            digest.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(v, dict):
            digest.update(b"{")
            for k in sorted(v, key=repr):
                digest.update(repr(k).encode() + b":")
                feed(v[k])
            digest.update(b"}")
        elif isinstance(v, list | tuple):
            digest.update(f"{type(v).__name__}[".encode())
            for x in v:
                feed(x)
            digest.update(b"]")
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            digest.update(type(v).__name__.encode())
            feed(dataclasses.asdict(v))
        else:
            digest.update(f"{type(v).__name__} {v!r};".encode())

    feed(value)
    return digest.hexdigest()


DELEGATION_KEYS = ("delegation", "delegation_error")


def same_outputs(a, b, ignore: tuple[str, ...] = ()) -> bool:
    """Whether two probe outputs agree: tensors within fp32 model tolerance (NaN equals NaN),
    numbers likewise, containers entry by entry. Errors (keys ending in "error") agree when
    both are absent or both are the same kind of exception; the messages may differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - set(ignore) - set(DELEGATION_KEYS)
        return all(
            _error_kind(a.get(k)) == _error_kind(b.get(k))
            if str(k).endswith("error")
            else same_outputs(a.get(k), b.get(k), ignore)
            for k in keys
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_outputs(x, y, ignore) for x, y in zip(a, b, strict=True))
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape != b.shape:
            return False
        if a.is_floating_point() or b.is_floating_point():
            a, b = a.detach().cpu().double(), b.detach().cpu().double()
            both_nan = a.isnan() & b.isnan()
            finite = a.isfinite() & b.isfinite()  # an infinity agrees only with itself
            return bool(((FP32_MODEL.close(a, b) & finite) | both_nan | (a == b)).all())
        return torch.equal(a.cpu(), b.cpu())
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return a == b or abs(a - b) <= FP32_MODEL.atol + FP32_MODEL.rtol * abs(b)
    return a == b


def _error_kind(message) -> str | None:
    return None if not message else str(message).split(":", 1)[0]
