"""Checks of assignment A6 (generation): samplers, the KV cache, the cached generation loop.

Each part runs with lmcore's versions of the other two, so a bug in one costs only its own
points: the student's KVCache serves lmcore's ``generate`` inside lmcore's GPT; the
student's ``generate`` receives lmcore's cache object and lmcore's ``next_token`` sampler.
Thorough (hidden) cases add sizes, a timed speedup of the cached loop, and a delegation
check (the part may not hand its work to lmcore's reference); the delegation finding is
a property of the report, so the out-of-kernel audit enforces it too.
"""

import inspect
import math
import time

import torch
from torch import Tensor

from lmcore import generation as ref_generation
from lmcore import kv_cache as ref_kv_cache
from lmcore import sampling as ref_sampling
from lmcore.grading.common import attempt, randint, randn
from lmcore.grading.delegation import trace
from lmcore.grading.part import Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.model import GPT, GPTConfig
from lmcore.tolerances import FP32_MODEL, FP32_OP

GEN = GPTConfig(block_size=32, vocab_size=37, n_layer=2, n_head=4, n_embd=32)
SPEED = GPTConfig(block_size=256, vocab_size=64, n_layer=2, n_head=4, n_embd=128)
SAMPLERS = ("apply_temperature", "top_k_filter", "top_p_filter")
N_SAMPLES = 20_000  # draws per distribution in the statistical checks
Z = 5.0  # each token's count must lie within Z binomial standard deviations of N p
MIN_SPEEDUP = 1.5
BHTD = ("batch", "head", "position", "feature")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _delegation(run, banned: tuple) -> list[str]:
    """Names of lmcore reference functions that ``run()`` called (empty when none). Decorated
    references (``torch.no_grad``) are matched by their own code, not the shared wrapper's."""
    _, calls = trace(run)
    codes = {inspect.unwrap(f).__code__: f"lmcore's {f.__module__}.{f.__qualname__}" for f in banned}
    return sorted({codes[c] for c in calls if c in codes})


def _add_delegation(report: Report, out: dict) -> None:
    if "delegation" in out:
        found = out["delegation"]
        report.add(
            "does its own work (does not call lmcore's reference for this part)",
            not found,
            "found: " + "; ".join(found) + "\nwrite it yourself with tensor operations",
        )


# ----------------------------------------------------------------------------- sampling


def _probs(*rows: list[float], order_seed: int) -> Tensor:
    """Log-probabilities (B, V) of the given distributions, each row's tokens shuffled."""
    logits = torch.tensor(rows).log()
    perm = torch.randperm(logits.size(1), generator=_generator(order_seed))
    return logits[:, perm] + 3.0  # a constant shift: the filters must not assume normalised logits


def sampling_cases(thorough: bool = False) -> dict:
    """Calls of the three samplers: random and crafted logits (B, V), incl. ties and p = 1."""
    logits = randn(4, 10, seed=60) * 2  # (B, V)
    peaked = randn(3, 10, seed=61)
    peaked[torch.arange(3), peaked.argmax(dim=-1)] += 1.0  # a clear argmax: T -> 0 picks it
    ties = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    nucleus = _probs([0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25], [0.9, 0.05, 0.03, 0.02], order_seed=62)
    calls = [dict(fn="apply_temperature", logits=peaked, arg=t) for t in (1.0, 0.5, 2.0, 0.1, 0.01)]
    calls += [dict(fn="top_k_filter", logits=logits, arg=k) for k in (1, 3, 10, 12)]
    calls += [dict(fn="top_k_filter", logits=ties, arg=k) for k in (2, 3)]
    calls += [dict(fn="top_p_filter", logits=nucleus, arg=p) for p in (0.4, 0.6, 0.85, 1.0)]
    calls += [dict(fn="top_p_filter", logits=logits, arg=p) for p in (0.3, 0.9)]
    if thorough:
        big = randn(8, 1000, seed=63) * 3
        calls += [dict(fn="apply_temperature", logits=big, arg=0.7)]
        calls += [dict(fn="top_k_filter", logits=big, arg=k) for k in (5, 50)]
        calls += [dict(fn="top_p_filter", logits=big, arg=p) for p in (0.1, 0.5, 0.95)]
        calls += [dict(fn="top_p_filter", logits=ties, arg=p) for p in (0.5, 0.99)]
    return dict(calls=calls, thorough=thorough)


def _samplers(component) -> dict:
    """``check_sampling`` passes {name: function}; the audit passes top_p_filter alone, whose
    siblings live in the same notebook namespace (its globals)."""
    if isinstance(component, dict):
        return component
    scope = getattr(component, "__globals__", {})
    return {name: scope.get(name, component) for name in SAMPLERS}


def probe_sampling(component, case: dict) -> dict:
    fns = _samplers(component)
    results = []
    for call in case["calls"]:
        logits = call["logits"].clone()
        out, err = attempt(fns[call["fn"]], logits, call["arg"])
        ok = isinstance(out, Tensor)
        results.append(
            dict(
                out=out.detach().float().cpu() if ok else None,
                error=err or (None if ok else f"returned {type(out).__name__}, expected a Tensor"),
                mutated=not torch.equal(logits, call["logits"]),
            )
        )
    out = {"results": results}
    if case["thorough"]:
        x = randn(2, 10, seed=64)
        banned = (
            ref_sampling.apply_temperature,
            ref_sampling.top_k_filter,
            ref_sampling.top_p_filter,
            ref_sampling.next_token,
        )
        runs = [
            lambda fn=fns[n], a=a: attempt(fn, x, a) for n, a in zip(SAMPLERS, (0.5, 3, 0.5), strict=True)
        ]
        out["delegation"] = _delegation(lambda: [r() for r in runs], banned)
    return out


def _draw(logits: Tensor, seed: int) -> Tensor | None:
    """Counts (B, V) of N_SAMPLES draws per row from softmax(logits), with a fixed generator;
    None when softmax(logits) is no distribution (NaN, or every token removed)."""
    probs = torch.softmax(logits.double(), dim=-1).float()
    if not bool(probs.isfinite().all()):
        return None
    draws = torch.multinomial(probs, N_SAMPLES, replacement=True, generator=_generator(seed))  # (B, N)
    return torch.zeros_like(probs).scatter_add_(1, draws, torch.ones_like(draws, dtype=probs.dtype))


def _frequencies_match(counts: Tensor, probs: Tensor) -> str | None:
    """None when every count is within Z binomial standard deviations of N p (plus one)."""
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


def _filter_shape(report: Report, label: str, call: dict, res: dict) -> bool:
    if res["error"]:
        return report.add(f"{label} runs", False, res["error"])
    if res["out"].shape != call["logits"].shape:
        shapes = f"shape {tuple(res['out'].shape)}, expected {tuple(call['logits'].shape)}"
        return report.add(f"{label} returns logits of shape (B, V)", False, shapes)
    report.add(
        f"{label} leaves its input unchanged (no in-place edits)",
        not res["mutated"],
        "the logits passed in were modified; return a new tensor (masked_fill, not masked_fill_)",
    )
    return True


def _judge_temperature(report: Report, calls: list, results: list) -> None:
    for i, (call, res) in enumerate(zip(calls, results, strict=True)):
        t, x = call["arg"], call["logits"]
        label = f"apply_temperature(logits {tuple(x.shape)}, {t})"
        if not _filter_shape(report, label, call, res):
            continue
        expected = ref_sampling.apply_temperature(x, t)
        m = describe_mismatch(res["out"], expected, FP32_OP, ("batch", "vocab"))
        report.add(f"{label} divides the logits by the temperature", m is None, m or "")
        if m is not None:
            wrong = [
                (
                    "the temperature is applied to probabilities (after softmax); divide the LOGITS by T "
                    "and let softmax turn them into probabilities",
                    [torch.softmax(x, dim=-1) / t, torch.log(torch.softmax(x, dim=-1) / t)],
                ),
                ("the logits are multiplied by the temperature; divide them by T", [x * t]),
            ]
            for why, variants in wrong:
                if any(describe_mismatch(res["out"], w, FP32_OP) is None for w in variants):
                    _diagnose(report, why)
        if t == 1.0:
            counts = _draw(res["out"], seed=70 + i)
            m = "softmax of your output is not a distribution" if counts is None else None
            m = m or _frequencies_match(counts, torch.softmax(x, dim=-1))
            report.add(
                f"temperature 1: {N_SAMPLES} draws match softmax(logits) (each token within {Z:g} sd)",
                m is None,
                m or "",
            )
        if t == 0.01:
            counts = _draw(res["out"], seed=80 + i)
            if counts is None:
                counts = torch.zeros_like(x)
            hits = counts.gather(1, x.argmax(dim=-1, keepdim=True)).squeeze(1) / N_SAMPLES
            report.add(
                "temperature 0.01: every draw is the argmax (T -> 0 is greedy decoding)",
                bool((hits == 1).all()),
                f"share of draws that were the argmax, per row: {[round(float(h), 3) for h in hits]}",
            )


def _diagnose(report: Report, why: str) -> None:
    if why not in report.diagnosis:
        report.diagnosis.append(why)


def _kept_values_unchanged(report: Report, label: str, x: Tensor, out: Tensor) -> Tensor:
    """Kept mask (B, V); reports whether every entry is either the input logit or -inf."""
    kept = out != float("-inf")
    ok = bool(torch.where(kept, FP32_OP.close(out, x), torch.ones_like(kept)).all())
    report.add(
        f"{label}: each logit is kept as it is or set to -inf",
        ok and not bool(out.isnan().any()),
        "removed tokens must be float('-inf') and kept logits unchanged, so filters compose",
    )
    return kept


def _judge_top_k(report: Report, calls: list, results: list) -> None:
    for i, (call, res) in enumerate(zip(calls, results, strict=True)):
        k, x = call["arg"], call["logits"]
        label = f"top_k_filter(logits {tuple(x.shape)}, k={k})"
        if not _filter_shape(report, label, call, res):
            continue
        kept = _kept_values_unchanged(report, label, x, res["out"])
        want = ref_sampling.top_k_filter(x, k) != float("-inf")
        bad = (kept != want).any(dim=-1).nonzero().flatten()
        detail = ""
        if len(bad):
            b = int(bad[0])
            n_got, n_want = int(kept[b].sum()), int(want[b].sum())
            detail = (
                f"row {b}: you keep tokens {kept[b].nonzero().flatten().tolist()}, the {k} most likely "
                f"(ties at the k-th value all kept) are {want[b].nonzero().flatten().tolist()}"
            )
            if n_got == n_want + 1:
                _diagnose(report, "top-k keeps k+1 tokens; keep exactly the k largest logits (plus ties)")
            elif n_got == n_want - 1:
                _diagnose(report, "top-k keeps k-1 tokens; the k-th largest logit must be kept too")
        report.add(f"{label} keeps exactly the k most likely tokens", not len(bad), detail)
        if not len(bad) and i == 1:
            counts = _draw(res["out"], seed=90)
            report.add(
                f"top-k: {N_SAMPLES} draws from your filtered distribution never leave the top {k}",
                bool((counts[~want] == 0).all()),
                "a token outside the top k was drawn",
            )


def nucleus_size(x: Tensor, p: float) -> Tensor:
    """Per row of logits (B, V): the size of the smallest set of most likely tokens whose
    probability mass reaches p (tie-agnostic: only the count is defined by ties)."""
    probs = torch.softmax(x.double(), dim=-1).sort(dim=-1, descending=True).values
    mass_before = probs.cumsum(dim=-1) - probs
    return (mass_before < p).sum(dim=-1)  # (B,)


def _judge_top_p(report: Report, calls: list, results: list) -> None:
    for i, (call, res) in enumerate(zip(calls, results, strict=True)):
        p, x = call["arg"], call["logits"]
        label = f"top_p_filter(logits {tuple(x.shape)}, p={p})"
        if not _filter_shape(report, label, call, res):
            continue
        kept = _kept_values_unchanged(report, label, x, res["out"])
        probs = torch.softmax(x.double(), dim=-1)
        size = nucleus_size(x, p)
        problems = []
        for b in range(x.size(0)):
            n_got, n_want = int(kept[b].sum()), int(size[b])
            lowest_kept = probs[b][kept[b]].min() if n_got else torch.tensor(float("inf"))
            highest_removed = probs[b][~kept[b]].max() if n_got < x.size(1) else torch.tensor(0.0)
            if n_got != n_want:
                problems.append(
                    f"row {b}: you keep {n_got} tokens (mass {float(probs[b][kept[b]].sum()):.3f}); the "
                    f"smallest set whose mass reaches p={p} has {n_want}"
                )
                if n_got == n_want + 1:
                    _diagnose(
                        report,
                        "top-p keeps one token too many: stop at the first token whose cumulative mass "
                        "reaches p (a token is removed when the mass BEFORE it already reaches p)",
                    )
                elif n_got == n_want - 1:
                    _diagnose(
                        report,
                        "top-p keeps one token too few: the token whose cumulative mass crosses p belongs "
                        "to the nucleus (remove a token only when the mass before it reaches p)",
                    )
                elif n_got == 0:
                    _diagnose(report, "top-p removes every token; the most likely token is always kept")
            elif float(lowest_kept) < float(highest_removed) - 1e-12:
                problems.append(f"row {b}: a less likely token is kept while a more likely one is removed")
        report.add(
            f"{label} keeps the smallest most-likely set with mass >= p", not problems, "\n".join(problems)
        )
        if not problems and i == 1:
            counts = _draw(res["out"], seed=95)
            nucleus = probs.masked_fill(~kept, 0)
            m = _frequencies_match(counts, (nucleus / nucleus.sum(dim=-1, keepdim=True)).float())
            report.add(
                f"top-p: {N_SAMPLES} draws match the renormalised nucleus (each token within {Z:g} sd)",
                m is None,
                m or "",
            )


def judge_sampling(case: dict, out: dict) -> Report:
    report = Report("sampling: apply_temperature, top_k_filter, top_p_filter")
    for name, judge in zip(SAMPLERS, (_judge_temperature, _judge_top_k, _judge_top_p), strict=True):
        pairs = [(c, r) for c, r in zip(case["calls"], out["results"], strict=True) if c["fn"] == name]
        judge(report, [c for c, _ in pairs], [r for _, r in pairs])
    _add_delegation(report, out)
    return report


def check_sampling(apply_temperature, top_k_filter, top_p_filter, *, thorough: bool = False) -> Report:
    """The three samplers on crafted and random logits, exactly and statistically."""
    fns = dict(apply_temperature=apply_temperature, top_k_filter=top_k_filter, top_p_filter=top_p_filter)
    case = sampling_cases(thorough)
    return judge_sampling(case, probe_sampling(fns, case))


# ----------------------------------------------------------------------------- KV cache


def _model_state(config: GPTConfig, seed: int) -> dict:
    torch.manual_seed(seed)
    return GPT(config).state_dict()


def _reference_model(case: dict, config_key: str = "config", state_key: str = "state") -> GPT:
    model = GPT(case[config_key])
    model.load_state_dict(case[state_key])
    return model.eval()


def kv_cache_cases(thorough: bool = False) -> dict:
    """Direct update/advance/reset calls, then generation inside the reference GPT."""
    B, H, hd = 2, 3, 4
    lengths = [3, 5] + ([1, 8] if thorough else [])
    batch = 3 if thorough else 2
    return dict(
        shape=dict(n_layer=2, batch_size=B, n_head=H, head_dim=hd, max_len=8),
        k1=randn(2, B, H, 3, hd, seed=100),  # (L, B, H, T, hd): prefill of 3 positions
        v1=randn(2, B, H, 3, hd, seed=101),
        k2=randn(2, B, H, 1, hd, seed=102),  # one more position
        v2=randn(2, B, H, 1, hd, seed=103),
        config=GEN,
        state=_model_state(GEN, 6),
        prompts=[randint(GEN.vocab_size, batch, n, seed=110 + n) for n in lengths],
        new_tokens=12 if thorough else 8,
        thorough=thorough,
    )


def _exercise_cache(cls, case: dict) -> dict:
    """update/advance/reset called directly, as the model would; returns what they gave back."""
    s = case["shape"]
    cache = cls(s["n_layer"], s["batch_size"], s["n_head"], s["head_dim"], s["max_len"], "cpu", torch.float32)
    rec: dict = {"after_prefill": [], "after_step": []}
    for i in range(s["n_layer"]):
        k, v = cache.layer(i).update(case["k1"][i], case["v1"][i])
        rec["after_prefill"].append((k.detach().clone(), v.detach().clone()))
    cache.advance(3)
    rec["length_prefill"] = int(cache.length)
    for i in range(s["n_layer"]):
        k, v = cache.layer(i).update(case["k2"][i], case["v2"][i])
        rec["after_step"].append((k.detach().clone(), v.detach().clone()))
    cache.advance(1)
    rec["length_step"] = int(cache.length)
    cache.reset()
    rec["length_reset"] = int(cache.length)
    k, _ = cache.layer(0).update(case["k2"][0], case["v2"][0])
    rec["after_reset"] = k.detach().clone()
    return rec


def _cached_logits(model: GPT, cache, prompt: Tensor) -> Tensor:
    """Logits (B, T + 1, V): the prompt as one prefill, then its argmax continuation as one step."""
    cache.reset()
    first = model(prompt, kv_cache=cache)  # (B, T, V)
    step = model(first[:, -1:].argmax(dim=-1), kv_cache=cache)  # (B, 1, V)
    return torch.cat([first, step], dim=1)


def probe_kv_cache(cls, case: dict) -> dict:
    out: dict = {}
    out["direct"], out["direct_error"] = attempt(_exercise_cache, cls, case)
    model = _reference_model(case)
    B = case["prompts"][0].size(0)
    c = case["config"]
    cache, out["build_error"] = attempt(
        cls, c.n_layer, B, c.n_head, c.head_dim, c.block_size, "cpu", torch.float32
    )
    if cache is None:
        return out
    with torch.no_grad():
        out["logits"], out["logits_error"] = attempt(_cached_logits, model, cache, case["prompts"][-1])
        # one cache object for every prompt: lmcore's generate resets it between prompts
        out["greedy"], out["greedy_error"] = attempt(
            lambda: [
                ref_generation.generate(model, p, case["new_tokens"], temperature=0, kv_cache=cache)
                for p in case["prompts"]
            ]
        )
        out["sampled"], out["sampled_error"] = attempt(
            lambda: ref_generation.generate(
                model, case["prompts"][0], case["new_tokens"], top_k=5, seed=7, kv_cache=cache
            )
        )
    if case["thorough"]:
        banned = (
            ref_kv_cache.KVCache.__init__,
            ref_kv_cache.KVCache.update,
            ref_kv_cache.KVCache.advance,
            ref_kv_cache.KVCache.reset,
            ref_kv_cache.LayerKVCache.update,
        )
        found = _delegation(lambda: attempt(_exercise_cache, cls, case), banned)
        if isinstance(cls, type) and issubclass(cls, ref_kv_cache.KVCache):
            found.append("your class subclasses lmcore.kv_cache.KVCache")
        out["delegation"] = found
    return out


def _judge_direct(report: Report, case: dict, rec: dict) -> None:
    k1, v1, k2, v2 = case["k1"], case["v1"], case["k2"], case["v2"]
    report.add(
        "after a prefill of 3 positions, length == 3",
        rec["length_prefill"] == 3,
        f"length is {rec['length_prefill']}; advance(t) adds exactly t",
    )
    if rec["length_prefill"] != 3:
        _diagnose(report, "the cache length is off: after advance(3) on an empty cache it must be 3")
    stages = [
        ("after_prefill", "prefill: update returns the 3 stored positions", lambda i: (k1[i], v1[i])),
        (
            "after_step",
            "next step: update returns all 4 positions, the new one last",
            lambda i: (torch.cat([k1[i], k2[i]], dim=2), torch.cat([v1[i], v2[i]], dim=2)),
        ),
    ]
    for key, name, expected in stages:
        bad = []
        for i, (k, v) in enumerate(rec[key]):
            want_k, want_v = expected(i)
            for label, got, want in (("k", k, want_k), ("v", v, want_v)):
                m = describe_mismatch(got, want, FP32_OP, BHTD)
                if m:
                    bad.append(f"layer {i}, {label}: {m}")
                    _diagnose_slots(report, got, want)
        report.add(f"{name} (every layer, keys and values)", not bad, "\n".join(bad[:3]))
    report.add(
        "after the step, length == 4",
        rec["length_step"] == 4,
        f"length is {rec['length_step']}",
    )
    ok = rec["length_reset"] == 0 and describe_mismatch(rec["after_reset"], k2[0], FP32_OP) is None
    report.add(
        "reset() empties the cache: length 0, and the next update returns only the new positions",
        ok,
        f"after reset() length is {rec['length_reset']} and update returned shape "
        f"{tuple(rec['after_reset'].shape)}",
    )
    if rec["length_reset"] != 0:
        _diagnose(
            report, "reset() does not clear the cache; it must set length back to 0 for the next prompt"
        )
    elif not ok:
        _diagnose_slots(report, rec["after_reset"], k2[0])


def _diagnose_slots(report: Report, got: Tensor, want: Tensor) -> None:
    if got.dim() != want.dim():
        return
    T = want.size(2)
    if got.size(2) == T + 1 and torch.equal(got[:, :, 1:], want):
        _diagnose(
            report,
            "position off by one: the new keys were written one slot after `length`; the T new "
            "positions go to slots length .. length + T - 1",
        )
    elif got.size(2) == T - 1:
        _diagnose(report, "position off by one: update returns one position too few")
    elif T > 1 and got.shape == want[:, :, -1:].shape:
        _diagnose(report, "update returns only the new positions; return everything stored so far")


def judge_kv_cache(case: dict, out: dict) -> Report:
    report = Report("KVCache")
    if out["direct_error"]:
        report.add("update / advance / reset run", False, out["direct_error"])
    else:
        _judge_direct(report, case, out["direct"])
    if out["build_error"]:
        report.add("builds for lmcore's GPT", False, out["build_error"])
        return report
    model = _reference_model(case)
    prompt = case["prompts"][-1]
    with torch.no_grad():
        full = model(torch.cat([prompt, model(prompt)[:, -1:].argmax(dim=-1)], dim=1))  # (B, T + 1, V)
    if out["logits_error"]:
        report.add("inside lmcore's GPT: a prefill and one cached step run", False, out["logits_error"])
    else:
        m = describe_mismatch(out["logits"], full, FP32_MODEL, ("batch", "position", "vocab"))
        report.add(
            f"inside lmcore's GPT: prefill ({prompt.size(1)} tokens) + one step give the uncached logits",
            m is None,
            m or "",
        )
    lengths = ", ".join(str(p.size(1)) for p in case["prompts"])
    if out["greedy_error"]:
        report.add("lmcore's generate runs with your cache", False, out["greedy_error"])
    else:
        expected = [
            ref_generation.generate(model, p, case["new_tokens"], temperature=0, use_cache=False)
            for p in case["prompts"]
        ]
        bad = [
            i for i, (a, b) in enumerate(zip(out["greedy"], expected, strict=True)) if not torch.equal(a, b)
        ]
        report.add(
            f"greedy generation with your cache (one cache, prompts of length {lengths}, batch "
            f"{prompt.size(0)}) equals uncached generation, token for token",
            not bad,
            f"differs for the prompts of length {[case['prompts'][i].size(1) for i in bad]}",
        )
    if out["sampled_error"]:
        report.add("sampled generation runs with your cache", False, out["sampled_error"])
    else:
        expected = ref_generation.generate(
            model, case["prompts"][0], case["new_tokens"], top_k=5, seed=7, use_cache=False
        )
        report.add(
            "seeded top-k sampling with your cache equals uncached sampling",
            torch.equal(out["sampled"], expected),
            "the tokens differ",
        )
    _add_delegation(report, out)
    return report


def check_kv_cache(cls, *, thorough: bool = False) -> Report:
    """The cache's interface called directly, then inside lmcore's GPT and generation loop."""
    case = kv_cache_cases(thorough)
    return judge_kv_cache(case, probe_kv_cache(cls, case))


# --------------------------------------------------------------------------- generation


class _RecordingCache(ref_kv_cache.KVCache):
    """lmcore's cache, noting each call so the judge can see how the loop used it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def advance(self, t: int) -> None:
        self.calls.append(f"advance({t})")
        super().advance(t)

    def reset(self) -> None:
        self.calls.append("reset()")
        super().reset()


def generate_cases(thorough: bool = False) -> dict:
    lengths = [3, 5] + ([1, 7] if thorough else [])
    batch = 3 if thorough else 2
    case = dict(
        config=GEN,
        state=_model_state(GEN, 7),
        prompts=[randint(GEN.vocab_size, batch, n, seed=120 + n) for n in lengths],
        settings=[
            dict(temperature=1.0, top_k=None, top_p=None),
            dict(temperature=0.8, top_k=6, top_p=0.9),
        ],
        new_tokens=10,
        thorough=thorough,
    )
    if thorough:
        case.update(
            speed_config=SPEED,
            speed_state=_model_state(SPEED, 8),
            speed_prompt=randint(SPEED.vocab_size, 1, 96, seed=130),
            speed_tokens=48,
        )
    return case


def _best_times(runs: list, repeats: int = 3) -> list[float]:
    """Best wall time of each run over ``repeats`` rounds, the runs interleaved so that a
    burst of load on a shared machine slows all of them alike."""
    best = [math.inf] * len(runs)
    # one thread: on a busy machine, intra-op threads waiting for each other slow the many
    # small ops of cached decoding far more than the large ones of naive decoding
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(repeats):
            for i, run in enumerate(runs):
                start = time.perf_counter()
                run()
                best[i] = min(best[i], time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return best


def probe_generate(generate, case: dict) -> dict:
    model = _reference_model(case)
    c = case["config"]
    cache = _RecordingCache(c.n_layer, case["prompts"][0].size(0), c.n_head, c.head_dim, c.block_size)
    runs = []
    for s, settings in enumerate(case["settings"]):
        for i, prompt in enumerate(case["prompts"]):  # one cache for all: it must be reset per prompt
            cache.calls.clear()
            tokens, err = attempt(
                generate,
                model,
                prompt,
                case["new_tokens"],
                generator=_generator(100 * s + i),
                kv_cache=cache,
                sample=ref_sampling.next_token,
                **settings,
            )
            ok = isinstance(tokens, Tensor)
            runs.append(
                dict(
                    tokens=tokens.detach().cpu() if ok else None,
                    error=err or (None if ok else f"returned {type(tokens).__name__}, expected a Tensor"),
                    calls=list(cache.calls),
                )
            )
    out: dict = {"runs": runs}
    if case["thorough"]:
        fast = _reference_model(case, "speed_config", "speed_state")
        p, n = case["speed_prompt"], case["speed_tokens"]
        fast_cache = ref_kv_cache.KVCache.for_model(fast, 1)

        def cached():
            generate(fast, p, n, temperature=0, kv_cache=fast_cache, sample=ref_sampling.next_token)

        def uncached():
            ref_generation.generate(fast, p, n, temperature=0, use_cache=False)

        times, out["speed_error"] = attempt(_best_times, [cached, uncached])
        if times is not None:
            out["seconds_cached"], out["seconds_uncached"] = times
        out["delegation"] = _delegation(
            lambda: attempt(
                generate, model, case["prompts"][0], 2, kv_cache=cache, sample=ref_sampling.next_token
            ),
            (ref_generation.generate,),
        )
    return out


def _without_reset(model: GPT, prompt: Tensor, n: int, seed: int, settings: dict, stale: int):
    """The tokens a loop that never resets the cache chooses: the prompt continues the
    ``stale`` positions the previous prompt left behind (None when they overflow)."""
    cache = ref_kv_cache.KVCache.for_model(model, prompt.size(0))
    cache.advance(stale)
    g = _generator(seed)
    out, step = prompt, prompt
    try:
        for _ in range(n):
            tok = ref_sampling.next_token(model(step, kv_cache=cache)[:, -1], generator=g, **settings)
            out = torch.cat([out, tok], dim=1)
            step = tok
    except (ValueError, IndexError):  # positions beyond the cache or the model's context
        return None
    return out


def judge_generate(case: dict, out: dict) -> Report:
    report = Report("generate (cached loop)")
    model = _reference_model(case)
    n = case["new_tokens"]
    runs = iter(out["runs"])
    stale = 0  # positions a loop that never resets would still hold from the previous prompt
    with torch.no_grad():
        for s, settings in enumerate(case["settings"]):
            for i, prompt in enumerate(case["prompts"]):
                run = next(runs)
                label = f"[prompt {tuple(prompt.shape)}, {settings}]"
                if run["error"]:
                    report.add(f"{label} runs", False, run["error"])
                    continue
                seed = 100 * s + i
                expected = ref_generation.generate(model, prompt, n, seed=seed, use_cache=False, **settings)
                ok = torch.equal(run["tokens"], expected)
                detail = f"shape {tuple(run['tokens'].shape)}, expected {tuple(expected.shape)}"
                if run["tokens"].shape == expected.shape:
                    where = (run["tokens"] != expected).any(dim=0).nonzero().flatten().tolist()
                    detail = f"tokens differ at positions {where[:8]} (the prompt has {prompt.size(1)})"
                report.add(
                    f"{label} equals uncached generation with the same generator, token for token",
                    ok,
                    detail,
                )
                if not ok:
                    wrong = _without_reset(model, prompt, n, seed, settings, stale)
                    if stale and wrong is not None and torch.equal(run["tokens"], wrong):
                        _diagnose(
                            report,
                            "the cache is not reset before the prefill: call kv_cache.reset() first, or "
                            "the new prompt continues the previous one",
                        )
                    if "reset()" not in run["calls"]:
                        _diagnose(report, "kv_cache.reset() is never called; reset it before the prefill")
                forwards = [c for c in run["calls"] if c.startswith("advance")]
                want = [f"advance({prompt.size(1)})"] + ["advance(1)"] * (n - 1)
                report.add(
                    f"{label} runs the prompt once (prefill), then one token per step",
                    forwards in (want, want + ["advance(1)"]),
                    f"the model was called with these token counts: {forwards[:6]}"
                    f"{' ...' if len(forwards) > 6 else ''}",
                )
                stale += prompt.size(1) + n - 1
    if "speed_error" in out:
        if out["speed_error"]:
            report.add("the timed run works", False, out["speed_error"])
        else:
            ratio = out["seconds_uncached"] / out["seconds_cached"]
            report.add(
                f"the cached loop is >= {MIN_SPEEDUP}x faster than uncached generation "
                f"({case['speed_tokens']} new tokens, best of 3)",
                ratio >= MIN_SPEEDUP,
                f"speedup {ratio:.2f}x: cached {out['seconds_cached']:.3f} s, uncached "
                f"{out['seconds_uncached']:.3f} s; run torch.no_grad() and feed one token per step",
            )
    _add_delegation(report, out)
    return report


def check_generate(generate, *, thorough: bool = False) -> Report:
    """Your loop with lmcore's cache and sampler against uncached generation, same generator."""
    case = generate_cases(thorough)
    return judge_generate(case, probe_generate(generate, case))


PARTS = [
    Part("sampling", "top_p_filter", sampling_cases, probe_sampling, judge_sampling),
    Part("kv_cache", "KVCache", kv_cache_cases, probe_kv_cache, judge_kv_cache),
    Part("generate", "generate", generate_cases, probe_generate, judge_generate),
]
TESTS = {f"test_{p.name}{suffix}": (p.name, suffix == "_hidden") for p in PARTS for suffix in ("", "_hidden")}

from lmcore.grading.legacy import assignment  # noqa: E402

ASSIGNMENT = assignment("A6", "ch09_generation", PARTS)
