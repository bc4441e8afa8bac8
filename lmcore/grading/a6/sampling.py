"""A6, part 1: ``apply_temperature``, ``top_k_filter``, ``top_p_filter``.

Contract (``lmcore.sampling``): each takes logits (B, V) and returns a new tensor (B, V)
(the input unchanged); the filters set removed tokens to -inf and keep the rest as they
are. Temperature divides the logits by T > 0; top-k keeps the k largest logits, every tie
with the k-th included; top-p keeps a token when the mass of the tokens more likely than it
is below p, so p = 1 keeps every token. T <= 0, k < 1 and p outside (0, 1] raise ValueError.
Checked exactly on crafted and random logits (ties, p = 1 over GPT-2's 50,257 tokens), and
statistically: draws from the filtered distribution match the expected frequencies.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from lmcore import sampling as ref
from lmcore.grading.a6._common import generator
from lmcore.grading.common import attempt, randn
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_OP

NAMES = ("apply_temperature", "top_k_filter", "top_p_filter")
N_SAMPLES = 20_000  # draws per distribution in the statistical checks
Z = 5.0  # each token's count must lie within Z binomial standard deviations of N p
INVALID = {"apply_temperature": (0.0, -1.0), "top_k_filter": (0, -2), "top_p_filter": (0.0, 1.5)}


def _probs(*rows: list[float], order_seed: int) -> Tensor:
    """Log-probabilities (B, V) of the given distributions, each row's tokens shuffled."""
    logits = torch.tensor(rows).log()
    perm = torch.randperm(logits.size(1), generator=generator(order_seed))
    return logits[:, perm] + 3.0  # a constant shift: the filters must not assume normalised logits


def cases(thorough: bool = False) -> dict:
    """Calls of the three samplers on logits (B, V): random, crafted, with ties, p = 1."""
    logits = randn(4, 10, seed=60) * 2
    peaked = randn(3, 10, seed=61)
    peaked[torch.arange(3), peaked.argmax(dim=-1)] += 1.0  # a clear argmax: T -> 0 picks it
    ties = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    nucleus = _probs([0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25], [0.9, 0.05, 0.03, 0.02], order_seed=62)
    calls = [dict(fn="apply_temperature", logits=peaked, arg=t) for t in (1.0, 0.5, 2.0, 0.1, 0.01)]
    calls += [dict(fn="top_k_filter", logits=logits, arg=k, draws=k == 3) for k in (1, 3, 10, 12)]
    calls += [dict(fn="top_k_filter", logits=ties, arg=k) for k in (2, 3)]
    calls += [dict(fn="top_p_filter", logits=nucleus, arg=p, draws=p == 0.6) for p in (0.4, 0.6, 0.85, 1.0)]
    calls += [dict(fn="top_p_filter", logits=logits, arg=p) for p in (0.3, 0.9)]
    if thorough:
        big = randn(8, 1000, seed=63) * 3
        gpt2 = randn(2, 50_257, seed=64) * 3  # GPT-2's vocabulary: float sums of its mass round
        calls += [dict(fn="apply_temperature", logits=big, arg=0.7)]
        calls += [dict(fn="top_k_filter", logits=big, arg=k) for k in (5, 50)]
        calls += [dict(fn="top_p_filter", logits=big, arg=p) for p in (0.1, 0.5, 0.95)]
        calls += [dict(fn="top_p_filter", logits=ties, arg=p) for p in (0.5, 0.99)]
        calls += [dict(fn="top_p_filter", logits=gpt2, arg=1.0)]
        calls += [dict(fn=n, logits=logits, arg=a, invalid=True) for n, bad in INVALID.items() for a in bad]
    return dict(calls=calls)


def probe(fns: dict, case: dict) -> dict:
    """Untrusted: every call of ``case`` on the student's samplers."""
    results = []
    for call in case["calls"]:
        logits = call["logits"].clone()
        out, err = attempt(fns[call["fn"]], logits, call["arg"])
        if err is None and not isinstance(out, Tensor):
            err = f"returned {type(out).__name__}, expected a Tensor"
        results.append(
            dict(
                out=out.detach().float().cpu() if err is None else None,
                error=err,
                mutated=not torch.equal(logits, call["logits"]),
            )
        )
    return dict(results=results)


# ------------------------------------------------------------------------- the judge


def _draw(logits: Tensor, seed: int) -> Tensor | None:
    """Counts (B, V) of N_SAMPLES draws per row from softmax(logits), with a fixed generator;
    None when softmax(logits) is no distribution (NaN, or every token removed)."""
    probs = torch.softmax(logits.double(), dim=-1).float()
    if not bool(probs.isfinite().all()):
        return None
    draws = torch.multinomial(probs, N_SAMPLES, replacement=True, generator=generator(seed))  # (B, N)
    return torch.zeros_like(probs).scatter_add_(1, draws, torch.ones_like(draws, dtype=probs.dtype))


def _frequencies_match(counts: Tensor | None, probs: Tensor) -> str | None:
    """None when every count is within Z binomial standard deviations of N p (plus one)."""
    if counts is None:
        return "softmax of your output is not a distribution (NaN, or every token removed)"
    expected = N_SAMPLES * probs
    bound = Z * (N_SAMPLES * probs * (1 - probs)).sqrt() + 1
    bad = ((counts - expected).abs() > bound).nonzero()
    if len(bad) == 0:
        return None
    b, v = (int(i) for i in bad[0])
    return (
        f"row {b}, token {v}: drawn {int(counts[b, v])} times in {N_SAMPLES}, expected "
        f"{float(expected[b, v]):.0f} +- {float(bound[b, v]):.0f}"
    )


def nucleus_size(x: Tensor, p: float) -> Tensor:
    """Per row of logits (B, V): how many tokens the nucleus of mass p holds (ties decide
    which, not how many); p = 1 holds every token that is not -inf."""
    if p >= 1.0:
        return (x > float("-inf")).sum(dim=-1)
    probs = torch.softmax(x.double(), dim=-1).sort(dim=-1, descending=True).values
    mass_before = probs.cumsum(dim=-1) - probs
    return (mass_before < p).sum(dim=-1)  # (B,)


def _temperature(check, call: dict, out: Tensor, seed: int) -> None:
    t, x = call["arg"], call["logits"]
    label = f"apply_temperature(logits {tuple(x.shape)}, {t})"

    def divides():
        m = describe_mismatch(out, ref.apply_temperature(x, t), FP32_OP, ("batch", "vocab"))
        return m is None, m or ""

    check(f"{label} divides the logits by the temperature", divides)
    if t == 1.0:

        def frequencies():
            m = _frequencies_match(_draw(out, seed), torch.softmax(x, dim=-1))
            return m is None, m or ""

        check(
            f"temperature 1: {N_SAMPLES} draws match softmax(logits) (each token within {Z:g} sd)",
            frequencies,
        )
    if t == 0.01:

        def greedy():
            counts = _draw(out, seed)
            counts = torch.zeros_like(x) if counts is None else counts
            hits = counts.gather(1, x.argmax(dim=-1, keepdim=True)).squeeze(1) / N_SAMPLES
            return bool((hits == 1).all()), f"share of draws that were the argmax, per row: {hits.tolist()}"

        check("temperature 0.01: every draw is the argmax (T -> 0 is greedy decoding)", greedy)


def _kept_as_is(check, label: str, x: Tensor, out: Tensor) -> None:
    def as_is():
        kept = out != float("-inf")
        same = torch.where(kept, FP32_OP.close(out, x), torch.ones_like(kept))
        ok = bool(same.all()) and not bool(out.isnan().any())
        return ok, "removed tokens must be float('-inf') and kept logits unchanged, so filters compose"

    check(f"{label}: each logit is kept as it is or set to -inf", as_is)


def _top_k(check, call: dict, out: Tensor, seed: int) -> None:
    k, x = call["arg"], call["logits"]
    label = f"top_k_filter(logits {tuple(x.shape)}, k={k})"
    _kept_as_is(check, label, x, out)
    want = ref.top_k_filter(x, k) != float("-inf")

    def exact():
        kept = out != float("-inf")
        bad = (kept != want).any(dim=-1).nonzero().flatten()
        if not len(bad):
            return True, ""
        b = int(bad[0])
        return False, (
            f"row {b}: you keep tokens {kept[b].nonzero().flatten().tolist()}, the {k} most likely "
            f"(ties at the k-th value all kept) are {want[b].nonzero().flatten().tolist()}"
        )

    check(f"{label} keeps exactly the k most likely tokens, ties with the k-th included", exact)
    if call.get("draws"):

        def inside():
            counts = _draw(out, seed)
            return counts is not None and bool(
                (counts[~want] == 0).all()
            ), "a token outside the top k was drawn"

        check(f"top-k: {N_SAMPLES} draws from your filtered distribution never leave the top {k}", inside)


def _top_p(check, call: dict, out: Tensor, seed: int) -> None:
    p, x = call["arg"], call["logits"]
    label = f"top_p_filter(logits {tuple(x.shape)}, p={p})"
    _kept_as_is(check, label, x, out)
    probs = torch.softmax(x.double(), dim=-1)

    def smallest_set():
        kept = out != float("-inf")
        size = nucleus_size(x, p)
        problems = []
        for b in range(x.size(0)):
            n_got, n_want = int(kept[b].sum()), int(size[b])
            if n_got != n_want:
                problems.append(
                    f"row {b}: you keep {n_got} tokens (mass {float(probs[b][kept[b]].sum()):.3f}); the "
                    f"smallest set whose mass reaches p={p} has {n_want}"
                )
            elif 0 < n_got < x.size(1) and float(probs[b][kept[b]].min()) < float(probs[b][~kept[b]].max()):
                problems.append(f"row {b}: a less likely token is kept while a more likely one is removed")
        return not problems, "\n".join(problems[:3])

    check(f"{label} keeps the smallest most-likely set with mass >= p", smallest_set)
    if call.get("draws"):

        def frequencies():
            nucleus = probs.masked_fill(out == float("-inf"), 0)
            m = _frequencies_match(_draw(out, seed), (nucleus / nucleus.sum(dim=-1, keepdim=True)).float())
            return m is None, m or ""

        check(
            f"top-p: {N_SAMPLES} draws match the renormalised nucleus (each token within {Z:g} sd)",
            frequencies,
        )


JUDGES = {"apply_temperature": _temperature, "top_k_filter": _top_k, "top_p_filter": _top_p}
ARGUMENT = {"apply_temperature": "temperature", "top_k_filter": "k", "top_p_filter": "p"}


def judge(case: dict, out: dict) -> Report:
    report = Report("sampling: apply_temperature, top_k_filter, top_p_filter")
    for i, (call, res) in enumerate(zip(case["calls"], out["results"], strict=True)):
        fn, x = call["fn"], call["logits"]
        label = f"{fn}(logits {tuple(x.shape)}, {ARGUMENT[fn]}={call['arg']})"
        if call.get("invalid"):
            error = res["error"] or ""
            report.add(
                f"{label} raises ValueError",
                error.startswith("ValueError"),
                error or "it returned logits: raise a ValueError that says what the argument must be",
            )
            continue
        why = res["error"]
        if why is None and tuple(res["out"].shape) != tuple(x.shape):
            why = f"it returned shape {tuple(res['out'].shape)}, expected {tuple(x.shape)} (B, V)"
        report.add(f"{label} runs and returns logits of shape (B, V)", why is None, why or "")
        if why is None:
            report.add(
                f"{label} leaves its input unchanged (no in-place edits)",
                not res["mutated"],
                "the logits passed in were modified; return a new tensor (masked_fill, not masked_fill_)",
            )

        def check(name, compute, why=why):
            if why:
                report.skip(name, "not checked: the call above did not return logits (B, V)")
            else:
                report.add(name, *compute())

        JUDGES[fn](check, call, res["out"], seed=70 + i)
    return report


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str) -> dict:
    """The three samplers with one classic mistake (validation as the contract asks unless the
    mistake is its absence); a Mistake takes the one it changes."""

    def apply_temperature(logits, temperature):
        if temperature <= 0 and mistake != "temperature_not_checked":
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if mistake == "temperature_on_probabilities":
            return torch.softmax(logits, dim=-1) / temperature
        if mistake == "temperature_multiplies":
            return logits * temperature
        return logits / temperature

    def top_k_filter(logits, k):
        if k < 1 and mistake != "top_k_not_checked":
            raise ValueError(f"top_k must be >= 1, got {k}")
        if mistake == "top_k_drops_ties":  # exactly k indices: ties at the k-th value are cut
            keep = torch.zeros_like(logits, dtype=torch.bool)
            keep.scatter_(-1, torch.topk(logits, min(k, logits.size(-1)), dim=-1).indices, True)
            return logits.masked_fill(~keep, float("-inf"))
        n = min(k + (mistake == "top_k_keeps_k_plus_1"), logits.size(-1))
        kth = torch.topk(logits, n, dim=-1).values[..., -1:]
        remove = logits <= kth if mistake == "top_k_keeps_k_minus_1" else logits < kth
        if mistake == "top_k_in_place":
            return logits.masked_fill_(remove, float("-inf"))
        return logits.masked_fill(remove, float("-inf"))

    def top_p_filter(logits, p):
        if not 0 < p <= 1 and mistake != "top_p_not_checked":
            raise ValueError(f"top_p must be in (0, 1], got {p}")
        if p >= 1 and mistake != "top_p_rounds_at_one":
            return logits.clone()
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        cumulative = probs.cumsum(dim=-1)
        mass_before = {
            "top_p_one_too_many": F.pad(cumulative - probs, (1, 0))[..., :-1],  # mass before the previous
            "top_p_one_too_few": cumulative,  # the token that crosses p is dropped
        }.get(mistake, cumulative - probs)
        remove_sorted = mass_before >= p
        if mistake == "top_p_not_unsorted":  # the sorted mask applied in vocabulary order
            return logits.masked_fill(remove_sorted, float("-inf"))
        return logits.masked_fill(remove_sorted.scatter(-1, order, remove_sorted), float("-inf"))

    return dict(apply_temperature=apply_temperature, top_k_filter=top_k_filter, top_p_filter=top_p_filter)


def _mistake(mistake: str, name: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, {name: _wrong(mistake)[name]})


MISTAKES = (
    _mistake(
        "temperature_on_probabilities",
        "apply_temperature",
        "the temperature is applied to probabilities (after a softmax); divide the LOGITS by T and "
        "let softmax turn them into probabilities",
    ),
    _mistake(
        "temperature_multiplies", "apply_temperature", "the logits are multiplied by T; divide them by T"
    ),
    _mistake(
        "temperature_not_checked",
        "apply_temperature",
        "a temperature <= 0 is accepted: dividing by 0 gives inf and NaN; raise ValueError (greedy "
        "decoding is the sampler's argmax, not a division)",
    ),
    _mistake(
        "top_k_keeps_k_plus_1",
        "top_k_filter",
        "top-k keeps k + 1 tokens; the threshold is the k-th largest logit, torch.topk(logits, k)",
    ),
    _mistake(
        "top_k_keeps_k_minus_1",
        "top_k_filter",
        "top-k keeps k - 1 tokens: it removes logits <= the k-th largest; remove only those below it",
    ),
    _mistake(
        "top_k_drops_ties",
        "top_k_filter",
        "top-k keeps exactly k indices (torch.topk's), dropping tokens tied with the k-th largest; keep "
        "every logit >= the k-th largest value",
    ),
    _mistake(
        "top_k_in_place",
        "top_k_filter",
        "top-k edits the logits passed in (masked_fill_); return a new tensor with masked_fill",
    ),
    _mistake("top_k_not_checked", "top_k_filter", "k < 1 is accepted; raise ValueError for it"),
    _mistake(
        "top_p_one_too_many",
        "top_p_filter",
        "top-p keeps one token too many: a token is removed as soon as the mass BEFORE it reaches p",
    ),
    _mistake(
        "top_p_one_too_few",
        "top_p_filter",
        "top-p keeps one token too few: the token whose cumulative mass crosses p belongs to the "
        "nucleus (remove a token only when the mass before it reaches p)",
    ),
    _mistake(
        "top_p_not_unsorted",
        "top_p_filter",
        "top-p's mask is computed in sorted order but applied in vocabulary order; put it back with "
        "mask.scatter(-1, order, mask)",
    ),
    _mistake(
        "top_p_rounds_at_one",
        "top_p_filter",
        "p = 1 drops tokens: over a large vocabulary the float running sum reaches 1.0 before the last "
        "token; p = 1 keeps every token (return the logits unchanged)",
    ),
    _mistake("top_p_not_checked", "top_p_filter", "p outside (0, 1] is accepted; raise ValueError for it"),
)


PART = Part(
    id="sampling",
    names=NAMES,
    reference=(ref.apply_temperature, ref.top_k_filter, ref.top_p_filter),
    section="ch09_generation#9.3",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref,), libraries=("transformers",), names=(*NAMES, "next_token", "TopPLogitsWarper")),
)
check = PART.check
