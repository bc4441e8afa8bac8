"""What a check returns: named properties that hold, fail or could not be checked, and the
known mistakes the student's outputs match.

``str(report)`` lists what went wrong first: the named mistakes, then the failed
properties with their details, then those skipped because their inputs could not be
computed, then those that hold. ``Report.raise_if_failed()`` turns a failed report into
one AssertionError whose message is the whole report, so a test cell that fails tells the
student what is wrong and where, not just that two arrays differ.

    >>> r = Report("top_k_filter")
    >>> r.add("keeps k tokens", False, "row 0 keeps 3")
    False
    >>> r.skip("kept logits unchanged", "the call above raised")
    >>> r.diagnose("keeps_k_minus_1", "keeps k - 1 tokens: the k-th largest is dropped")
    >>> print(r)  # doctest: +NORMALIZE_WHITESPACE
    top_k_filter: 1 of 2 properties fail, 1 not checked
      diagnosis [keeps_k_minus_1]: keeps k - 1 tokens: the k-th largest is dropped
      [FAIL] keeps k tokens
             row 0 keeps 3
      [not checked] kept logits unchanged
             the call above raised
"""

from dataclasses import dataclass, field

from torch import Tensor

from lmcore.tolerances import Tolerance


@dataclass
class Property:
    name: str
    passed: bool | None  # None: not checked, because what it compares could not be computed
    detail: str = ""


@dataclass
class Report:
    component: str
    properties: list[Property] = field(default_factory=list)
    diagnoses: dict[str, str] = field(default_factory=dict)  # mistake id -> what the student reads

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.properties.append(Property(name, bool(passed), detail))
        return bool(passed)

    def skip(self, name: str, why: str) -> None:
        """A property that could not be checked (its inputs raised); it never counts as holding."""
        self.properties.append(Property(name, None, why))

    def diagnose(self, mistake_id: str, text: str) -> None:
        self.diagnoses.setdefault(mistake_id, text)

    @property
    def mistakes(self) -> list[str]:
        """Ids of the known mistakes the outputs match."""
        return list(self.diagnoses)

    @property
    def passed(self) -> bool:
        return bool(self.properties) and all(p.passed is True for p in self.properties)

    def failed(self) -> list[Property]:
        return [p for p in self.properties if p.passed is False]

    def skipped(self) -> list[Property]:
        return [p for p in self.properties if p.passed is None]

    def __str__(self) -> str:
        failed, skipped = self.failed(), self.skipped()
        n = len(self.properties)
        if not failed and not skipped:
            head = f"{self.component}: {n}/{n} properties hold" if n else f"{self.component}: nothing checked"
        else:
            head = f"{self.component}: {len(failed)} of {n} properties fail"
            head += f", {len(skipped)} not checked" if skipped else ""
        lines = [head]
        lines += [f"  diagnosis [{key}]: {text}" for key, text in self.diagnoses.items()]
        for mark, group in (("FAIL", failed), ("not checked", skipped)):
            for p in group:
                lines.append(f"  [{mark}] {p.name}")
                lines.extend("         " + line for line in p.detail.splitlines())
        lines += [f"  [ok] {p.name}" for p in self.properties if p.passed is True]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):  # IPython shows the table, not the dataclass
        printer.text(str(self))

    def add_causal(
        self,
        name: str,
        after: Tensor,
        before: Tensor,
        cut: int,
        position_dim: int,
        tol,
        dims: tuple[str, ...],
    ) -> bool:
        """Outputs at positions 0..cut must not change when only later inputs changed."""
        keep = [slice(None)] * after.dim()
        keep[position_dim] = slice(0, cut + 1)
        m = describe_mismatch(
            after[tuple(keep)], before[tuple(keep)], tol, dims, ("after the change", "before")
        )
        return self.add(name, m is None, "" if m is None else "future positions leak into earlier ones\n" + m)

    def raise_if_failed(self) -> "Report":
        if not self.passed:
            raise AssertionError("\n" + str(self))
        return self


def describe_mismatch(
    actual: Tensor,
    expected: Tensor,
    tol: Tolerance,
    dims: tuple[str, ...] = (),
    labels: tuple[str, str] = ("yours", "reference"),
) -> str | None:
    """None when actual matches expected within tol; otherwise where and how they differ.

    ``dims`` names the axes (e.g. ("batch", "head", "position", "feature")) so the
    message can say "at batch 0, head 1, position 3".
    """
    if tuple(actual.shape) != tuple(expected.shape):
        return f"shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    actual, expected = actual.detach().cpu().double(), expected.detach().cpu().double()
    close = tol.close(actual, expected)
    if bool(close.all()):
        return None
    n_nan = int(actual.isnan().sum())
    diff = (actual - expected).abs().nan_to_num(nan=float("inf"))
    flat = int(diff.argmax())
    index = []
    for size in reversed(actual.shape):
        index.append(flat % size)
        flat //= size
    index = tuple(reversed(index))
    names = list(dims) + [f"dim {i}" for i in range(len(dims), actual.dim())]
    where = ", ".join(f"{n} {i}" for n, i in zip(names, index, strict=False))
    n_bad = int((~close).sum())
    lines = [
        f"largest difference {float(diff[index]):.3g} at {where or 'the only entry'}: "
        f"{labels[0]} {float(actual[index]):.6g}, {labels[1]} {float(expected[index]):.6g}",
        f"{n_bad} of {close.numel()} entries ({100 * n_bad / close.numel():.0f}%) are outside "
        f"{tol}" + (f"; {n_nan} are NaN" if n_nan else ""),
    ]
    if "position" in dims and actual.dim() > dims.index("position"):
        axis = dims.index("position")
        bad_positions = (~close).movedim(axis, 0).flatten(1).any(dim=1).nonzero().flatten()
        shown = ", ".join(str(int(p)) for p in bad_positions[:8])
        more = " ..." if len(bad_positions) > 8 else ""
        lines.append(f"positions that differ: {shown}{more}")
    return "\n".join(lines)
