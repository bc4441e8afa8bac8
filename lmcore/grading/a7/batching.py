"""A7, part 4: ``get_batch(data, batch_size, block_size, generator) -> (x, y)``.

Contract (``lmcore.batching.random_windows``): ``batch_size`` windows of ``block_size + 1``
consecutive tokens of the 1-D stream ``data``, their starts drawn by one
``torch.randint(len(data) - block_size, (batch_size,), generator=generator)`` call and nothing
else; x is each window's first block_size tokens and y its last block_size, both int64 of shape
(batch_size, block_size) on data's device; data shorter than block_size + 1 tokens raises
ValueError. Checked exactly against random_windows over a run of batches from one generator,
with readable properties (contiguous windows, shifted targets, every start drawn, uniform
starts, the generator and not the global seed) that say what went wrong; hidden: int32 data,
a stream with room for a single window, CUDA data.
"""

import torch

from lmcore import batching as ref
from lmcore.grading.common import attempt, available_devices
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules

# uniform starts: every count of the drawn starts must lie within this factor of its
# expectation (6 standard deviations at the sizes used below)
START_COUNT_BOUND = 0.5


def cases(thorough: bool = False) -> dict:
    setups = [dict(n=40, batch_size=50, block_size=8, batches=64, dtype=torch.int64, device="cpu")]
    too_short = [dict(n=8, block_size=8)]  # one token short of a window
    if thorough:
        setups += [
            dict(n=21, batch_size=40, block_size=16, batches=40, dtype=torch.int32, device="cpu"),
            dict(
                n=9, batch_size=3, block_size=8, batches=2, dtype=torch.int64, device="cpu"
            ),  # one window fits
        ]
        setups += [
            dict(n=40, batch_size=8, block_size=8, batches=4, dtype=torch.int64, device=d)
            for d in available_devices()
            if d != "cpu"
        ]
        too_short += [dict(n=3, block_size=8), dict(n=1, block_size=1)]
    for i, s in enumerate(setups):
        g = torch.Generator().manual_seed(7 + i)
        # distinct tokens, so a window's start is readable from its first token
        s["data"] = torch.randperm(s["n"], generator=g).to(s["dtype"]).to(s["device"])
        s["seed"] = 11 + i
    for s in too_short:
        s["data"] = torch.arange(s["n"])
    return dict(setups=setups, too_short=too_short)


def _draw(get_batch, s: dict) -> dict:
    torch.manual_seed(0)  # a loop that draws from the global generator draws the same each run
    generator = torch.Generator().manual_seed(s["seed"])
    batches = [get_batch(s["data"], s["batch_size"], s["block_size"], generator) for _ in range(s["batches"])]
    torch.manual_seed(12345)  # the global seed must not matter
    x_again, y_again = get_batch(
        s["data"], s["batch_size"], s["block_size"], torch.Generator().manual_seed(s["seed"])
    )
    first = batches[0][0]
    return dict(
        x=[x.cpu() for x, _ in batches],
        y=[y.cpu() for _, y in batches],
        x_again=x_again.cpu(),
        y_again=y_again.cpu(),
        dtype=str(first.dtype),
        device=first.device.type,
    )


def probe(get_batch, case: dict) -> dict:
    """Untrusted: a run of batches from one seeded generator per setup, then the short streams."""
    setups = []
    for s in case["setups"]:
        result, error = attempt(_draw, get_batch, s)
        setups.append({**(result or {}), "error": error})
    too_short = []
    for s in case["too_short"]:
        _, error = attempt(get_batch, s["data"], 2, s["block_size"], torch.Generator().manual_seed(0))
        too_short.append(dict(error=error))
    return dict(setups=setups, too_short=too_short)


def _judge_windows(report: Report, label: str, s: dict, got: dict) -> None:
    """The readable properties: what the windows are, whichever way they differ from the reference."""
    n, T = s["n"], s["block_size"]
    x, y = torch.cat(got["x"]), torch.cat(got["y"])  # (batches * B, T)
    data = s["data"].long().cpu()
    position = torch.full((n,), -1, dtype=torch.long)
    position[data] = torch.arange(n)
    starts = position[x[:, 0].long().clamp(0, n - 1)]  # (rows,)
    valid = bool(((x >= 0) & (x < n)).all()) and bool((starts + T < n).all())
    windows = data[(starts[:, None] + torch.arange(T + 1)).clamp(max=n - 1)]  # (rows, T + 1)
    x_ok = valid and torch.equal(x.long(), windows[:, :-1])
    report.add(
        f"{label} every row of x is a contiguous window data[s : s + block_size]",
        x_ok,
        "rows of x are not consecutive tokens of data, or the window runs past the end",
    )
    report.add(
        f"{label} y is x shifted by one: y = data[s + 1 : s + block_size + 1]",
        x_ok and torch.equal(y.long(), windows[:, 1:]),
        "the target of position t is the token at t + 1",
    )
    if not x_ok:
        return
    n_starts = n - T
    counts = torch.bincount(starts, minlength=n).float()
    never = [int(i) for i in (counts[:n_starts] == 0).nonzero().flatten()]
    report.add(
        f"{label} every valid start 0 .. {n_starts - 1} is drawn (len(data) - block_size starts)",
        not never,
        f"starts never drawn: {never[:8]}",
    )
    expected = len(starts) / n_starts
    off = (counts[:n_starts] - expected).abs().max().item() / expected
    if len(starts) >= 20 * n_starts:  # enough draws to judge uniformity
        report.add(
            f"{label} starts are uniform (each start's count within {START_COUNT_BOUND:.0%} of expected)",
            off <= START_COUNT_BOUND,
            f"a start's count is {off:.0%} away from the expected {expected:.0f}",
        )


def judge(case: dict, out: dict) -> Report:
    report = Report("get_batch")
    for s, got in zip(case["setups"], out["setups"], strict=True):
        B, T = s["batch_size"], s["block_size"]
        label = f"[len(data)={s['n']}, batch_size={B}, block_size={T}, data {s['dtype']} on {s['device']}]"
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            continue
        shapes = {tuple(t.shape) for t in got["x"] + got["y"]}
        report.add(
            f"{label} x and y are int64 of shape (batch_size, block_size) on data's device",
            shapes == {(B, T)} and got["dtype"] == "torch.int64" and got["device"] == s["device"],
            f"got shapes {sorted(shapes)}, {got['dtype']} on {got['device']}; index data on its own "
            "device and convert with .long()",
        )
        if shapes != {(B, T)}:
            continue
        want = _draw(ref.random_windows, s)
        same = all(
            torch.equal(a.long(), b) for a, b in zip(got["x"] + got["y"], want["x"] + want["y"], strict=True)
        )
        report.add(
            f"{label} the {s['batches']} batches drawn from one seeded generator are exactly random_windows'",
            same,
            "draw the starts with one torch.randint(len(data) - block_size, (batch_size,), "
            "generator=generator) per batch, and nothing else from the generator",
        )
        _judge_windows(report, label, s, got)
        report.add(
            f"{label} the windows come from `generator` (same seed, same batch, whatever the global seed)",
            torch.equal(got["x_again"], got["x"][0]) and torch.equal(got["y_again"], got["y"][0]),
            "pass generator=generator to torch.randint",
        )
    for s, got in zip(case["too_short"], out["too_short"], strict=True):
        error = got["error"]
        report.add(
            f"[len(data)={s['n']}, block_size={s['block_size']}] data shorter than block_size + 1 tokens "
            "raises ValueError",
            (error or "").startswith("ValueError"),
            (error or "it returned a batch")
            + "\ncheck len(data) >= block_size + 1 first: no window of inputs and targets fits",
        )
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """Batches with one classic mistake; the others as the contract asks."""

    def get_batch(data, batch_size, block_size, generator):
        if len(data) < block_size + 1 and mistake != "short_data_not_rejected":
            raise ValueError("data is shorter than block_size + 1 tokens")
        high = len(data) - block_size + {"last_start_never_drawn": -1, "window_overflows": 1}.get(mistake, 0)
        g = None if mistake == "global_rng" else generator
        starts = torch.randint(high, (batch_size,), generator=g)
        windows = data[(starts[:, None] + torch.arange(block_size + 1)).to(data.device)]
        windows = windows if mistake == "not_int64" else windows.long()
        return windows[:, :-1], windows[:, :-1] if mistake == "targets_not_shifted" else windows[:, 1:]

    return get_batch


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, _wrong(mistake))


MISTAKES = (
    _mistake(
        "targets_not_shifted",
        "y equals x: the targets must be the NEXT tokens, data[s + 1 : s + 1 + block_size]",
    ),
    _mistake(
        "last_start_never_drawn",
        "the last valid start, len(data) - block_size - 1, is never drawn: its window ends exactly "
        "at the last token; torch.randint(high, ...) excludes high, so high = len(data) - block_size",
    ),
    _mistake(
        "window_overflows",
        "a start can be len(data) - block_size, whose window of block_size + 1 tokens runs past the end "
        "of data; torch.randint(high, ...) excludes high, so high = len(data) - block_size",
    ),
    _mistake(
        "global_rng",
        "the starts come from torch's global generator, not from `generator`: pass generator=generator",
    ),
    _mistake("not_int64", "x and y keep data's dtype; convert them to int64 with .long()"),
    _mistake(
        "short_data_not_rejected",
        "data shorter than block_size + 1 tokens is not rejected with a ValueError that says so",
    ),
)


PART = Part(
    id="batching",
    names=("get_batch",),
    reference=(ref.random_windows,),
    section="ch10_pretraining#10.6",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.random_windows,), names=("random_windows",)),
)
check = PART.check
