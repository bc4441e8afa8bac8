"""What a check returns: named properties that passed or failed, with a diagnosis.

``Report.raise_if_failed()`` turns a failed report into one AssertionError whose
message is the whole report, so a test cell that fails tells the student what
is wrong and where, not just that two arrays differ.
"""

from dataclasses import dataclass, field

from torch import Tensor

from lmcore.tolerances import Tolerance


@dataclass
class Property:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Report:
    component: str
    properties: list[Property] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.properties.append(Property(name, bool(passed), detail))
        return bool(passed)

    @property
    def passed(self) -> bool:
        return bool(self.properties) and all(p.passed for p in self.properties)

    def failed(self) -> list[Property]:
        return [p for p in self.properties if not p.passed]

    def __str__(self) -> str:
        n_ok = sum(p.passed for p in self.properties)
        lines = [f"{self.component}: {n_ok}/{len(self.properties)} properties hold"]
        for p in self.properties:
            lines.append(f"  [{'ok' if p.passed else 'FAIL'}] {p.name}")
            if p.detail and not p.passed:
                lines.extend("         " + line for line in p.detail.splitlines())
        for d in self.diagnosis:
            lines.append(f"  diagnosis: {d}")
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
