"""A6, part 2: ``KVCache(n_layer, batch_size, n_head, head_dim, max_len, device, dtype)``.

Contract (``lmcore.kv_cache.KVCache``): keys and values preallocated on ``device`` in
``dtype``; ``layer(i).update(k, v)`` stores k, v (B, H, T, hd) at slots length .. length +
T - 1 of layer i and returns everything stored, (B, H, length + T, hd); ``advance(t)`` adds
t to ``length``; ``reset()`` empties it; storing more than ``max_len`` positions raises
ValueError. Checked by calling it directly (batch 2, then 3), then inside lmcore's GPT and
lmcore's generate, one cache serving several prompts, against uncached logits and tokens.
"""

import torch

from lmcore import generation as ref_generation
from lmcore import kv_cache as ref
from lmcore.grading.a6._common import GEN, peaked_state, reference_model
from lmcore.grading.common import attempt, randint, randn
from lmcore.grading.records import Mistake, Part
from lmcore.grading.report import Report, describe_mismatch
from lmcore.grading.tracer import Rules
from lmcore.tolerances import FP32_MODEL, FP32_OP

BHTD = ("batch", "head", "position", "feature")


def _direct(B: int, seed: int) -> dict:
    """Inputs of update calls made directly: (L, B, H, T, hd) keys and values."""
    return dict(
        shape=dict(n_layer=2, batch_size=B, n_head=3, head_dim=4, max_len=8),
        k1=randn(2, B, 3, 3, 4, seed=seed),  # a prefill of 3 positions
        v1=randn(2, B, 3, 3, 4, seed=seed + 1),
        k2=randn(2, B, 3, 1, 4, seed=seed + 2),  # one more position
        v2=randn(2, B, 3, 1, 4, seed=seed + 3),
        overflow=randn(B, 3, 5, 4, seed=seed + 4),  # 4 stored + 5 > max_len = 8
    )


def cases(thorough: bool = False) -> dict:
    """Direct update/advance/reset calls, then generation inside the reference GPT."""
    lengths = [3, 5] + ([1, 8] if thorough else [])
    batch = 3 if thorough else 2
    allocation = []
    if thorough:  # what the constructor allocates: the dtype asked for, on the device asked for
        device = "cuda" if torch.cuda.is_available() else "meta"  # meta: shapes only, no data
        allocation = [dict(dtype=torch.float64, device="cpu"), dict(dtype=torch.float32, device=device)]
    return dict(
        direct=[_direct(2, 100)] + ([_direct(3, 200)] if thorough else []),
        allocation=allocation,
        config=GEN,
        state=peaked_state(GEN, 6),
        prompts=[randint(GEN.vocab_size, batch, n, seed=110 + n) for n in lengths],
        new_tokens=12 if thorough else 8,
        sampling=dict(temperature=0.8, top_k=5, top_p=0.9, seed=7),
    )


def _exercise_cache(cls, d: dict) -> dict:
    """update/advance/reset called directly, as the model would; returns what they gave back."""
    s = d["shape"]
    cache = cls(s["n_layer"], s["batch_size"], s["n_head"], s["head_dim"], s["max_len"], "cpu", torch.float32)
    rec: dict = {"after_prefill": [], "after_step": []}
    for i in range(s["n_layer"]):
        k, v = cache.layer(i).update(d["k1"][i], d["v1"][i])
        rec["after_prefill"].append((k.detach().clone(), v.detach().clone()))
    cache.advance(3)
    rec["length_prefill"] = int(cache.length)
    for i in range(s["n_layer"]):
        k, v = cache.layer(i).update(d["k2"][i], d["v2"][i])
        rec["after_step"].append((k.detach().clone(), v.detach().clone()))
    cache.advance(1)
    rec["length_step"] = int(cache.length)
    _, rec["overflow_error"] = attempt(lambda: cache.layer(0).update(d["overflow"], d["overflow"]))
    cache.reset()
    rec["length_reset"] = int(cache.length)
    k, _ = cache.layer(0).update(d["k2"][0], d["v2"][0])
    rec["after_reset"] = k.detach().clone()
    return rec


def _allocated(cls, a: dict) -> dict:
    """dtype and device of what update returns, for a cache built with ``a``'s."""
    cache = cls(1, 2, 3, 4, 5, a["device"], a["dtype"])
    k = torch.zeros(2, 3, 2, 4, dtype=a["dtype"], device=a["device"])
    got, _ = cache.layer(0).update(k, k)
    return dict(dtype=str(got.dtype), device=got.device.type)


def _cached_logits(model, cache, prompt):
    """Logits (B, T + 1, V): the prompt as one prefill, then its argmax continuation as one step."""
    cache.reset()
    first = model(prompt, kv_cache=cache)  # (B, T, V)
    step = model(first[:, -1:].argmax(dim=-1), kv_cache=cache)  # (B, 1, V)
    return torch.cat([first, step], dim=1).cpu()


def probe(cls, case: dict) -> dict:
    """Untrusted: the student's cache called directly, then serving lmcore's GPT and generate."""
    out: dict = {"direct": [], "allocation": []}
    for d in case["direct"]:
        rec, err = attempt(_exercise_cache, cls, d)
        out["direct"].append(dict(rec=rec, error=err))
    for a in case["allocation"]:
        got, err = attempt(_allocated, cls, a)
        out["allocation"].append(dict(got=got, error=err))
    model = reference_model(case["config"], case["state"])
    c, B = case["config"], case["prompts"][0].size(0)
    cache, out["build_error"] = attempt(
        cls, c.n_layer, B, c.n_head, c.head_dim, c.block_size, "cpu", torch.float32
    )
    if cache is None:
        return out
    n = case["new_tokens"]
    out["logits"], out["logits_error"] = attempt(
        torch.no_grad()(_cached_logits), model, cache, case["prompts"][-1]
    )
    # one cache object for every prompt: lmcore's generate resets it between prompts
    out["greedy"], out["greedy_error"] = attempt(
        lambda: [ref_generation.generate(model, p, n, temperature=0, kv_cache=cache) for p in case["prompts"]]
    )
    out["sampled"], out["sampled_error"] = attempt(
        lambda: ref_generation.generate(model, case["prompts"][0], n, kv_cache=cache, **case["sampling"])
    )
    return out


# ------------------------------------------------------------------------- the judge

DIRECT = (
    "after a prefill of 3 positions, length == 3",
    "prefill: update returns the 3 stored positions (every layer, keys and values)",
    "next step: update returns all 4 positions, the new one last (every layer, keys and values)",
    "after the step, length == 4",
    "storing more positions than max_len raises ValueError",
    "reset() empties the cache: length 0, and the next update returns only the new positions",
)


def _judge_direct(report: Report, d: dict, got: dict) -> None:
    label = f"[direct calls, batch {d['shape']['batch_size']}]"
    if got["error"]:
        report.add(f"{label} update / advance / reset run", False, got["error"])
        for name in DIRECT:
            report.skip(f"{label} {name}", "not checked: the calls above raised")
        return
    rec = got["rec"]
    k1, v1, k2, v2 = d["k1"], d["v1"], d["k2"], d["v2"]
    lengths = (rec["length_prefill"], rec["length_step"])
    report.add(f"{label} {DIRECT[0]}", lengths[0] == 3, f"length is {lengths[0]}; advance(t) adds exactly t")
    for name, key, expected in (
        (DIRECT[1], "after_prefill", lambda i: (k1[i], v1[i])),
        (DIRECT[2], "after_step", lambda i: (torch.cat([k1[i], k2[i]], 2), torch.cat([v1[i], v2[i]], 2))),
    ):
        bad = []
        for i, (k, v) in enumerate(rec[key]):
            for which, got_t, want in zip("kv", (k, v), expected(i), strict=True):
                m = describe_mismatch(got_t, want, FP32_OP, BHTD)
                if m:
                    bad.append(f"layer {i}, {which}: {m}")
        report.add(f"{label} {name}", not bad, "\n".join(bad[:3]))
    report.add(f"{label} {DIRECT[3]}", lengths[1] == 4, f"length is {lengths[1]}")
    error = rec["overflow_error"] or ""
    report.add(
        f"{label} {DIRECT[4]}",
        error.startswith("ValueError"),
        (error or "storing 4 + 5 positions in a cache of max_len 8 raised nothing")
        + "\ncheck length + T <= max_len in update and raise ValueError when it is not",
    )
    ok = rec["length_reset"] == 0 and describe_mismatch(rec["after_reset"], k2[0], FP32_OP) is None
    report.add(
        f"{label} {DIRECT[5]}",
        ok,
        f"after reset() length is {rec['length_reset']} and update returned shape "
        f"{tuple(rec['after_reset'].shape)}",
    )


def judge(case: dict, out: dict) -> Report:
    report = Report("KVCache")
    for d, got in zip(case["direct"], out["direct"], strict=True):
        _judge_direct(report, d, got)
    for a, got in zip(case["allocation"], out["allocation"], strict=True):
        want = dict(dtype=str(a["dtype"]), device=torch.device(a["device"]).type)
        name = f"a cache built with dtype={want['dtype']}, device={want['device']!r} stores and returns that"
        detail = got["error"] or f"update returned {got['got']['dtype']} on {got['got']['device']}"
        report.add(
            name, got["error"] is None and got["got"] == want, detail + "; allocate with device=, dtype="
        )
    if out["build_error"]:
        report.add("builds for lmcore's GPT", False, out["build_error"])
        return report
    model = reference_model(case["config"], case["state"])
    prompt, n = case["prompts"][-1], case["new_tokens"]
    with torch.no_grad():
        full = model(torch.cat([prompt, model(prompt)[:, -1:].argmax(dim=-1)], dim=1))  # (B, T + 1, V)
    name = f"inside lmcore's GPT: prefill ({prompt.size(1)} tokens) + one step give the uncached logits"
    m = out["logits_error"] or describe_mismatch(
        out["logits"], full, FP32_MODEL, ("batch", "position", "vocab")
    )
    report.add(name, m is None, m or "")
    lengths = ", ".join(str(p.size(1)) for p in case["prompts"])
    name = (
        f"greedy generation with your cache (one cache, prompts of length {lengths}, batch "
        f"{prompt.size(0)}) equals uncached generation, token for token"
    )
    if out["greedy_error"]:
        report.add(name, False, out["greedy_error"])
    else:
        expected = [
            ref_generation.generate(model, p, n, temperature=0, use_cache=False) for p in case["prompts"]
        ]
        bad = [
            p.size(1)
            for p, a, b in zip(case["prompts"], out["greedy"], expected, strict=True)
            if not a.equal(b)
        ]
        report.add(name, not bad, f"differs for the prompts of length {bad}")
    name = f"seeded sampling with your cache ({case['sampling']}) equals uncached sampling"
    if out["sampled_error"]:
        report.add(name, False, out["sampled_error"])
    else:
        expected = ref_generation.generate(model, case["prompts"][0], n, use_cache=False, **case["sampling"])
        report.add(name, torch.equal(out["sampled"], expected), "the tokens differ")
    return report


# ------------------------------------------------------------------ known mistakes


class _Wrong(ref.KVCache):
    """lmcore's cache with one classic mistake (``mistake``); no validation of shapes."""

    mistake = ""

    def __init__(self, n_layer, batch_size, n_head, head_dim, max_len, device="cpu", dtype=torch.float32):
        device = "cpu" if self.mistake == "ignores_device" else device
        dtype = torch.float32 if self.mistake == "ignores_dtype" else dtype
        super().__init__(n_layer, batch_size, n_head, head_dim, max_len, device, dtype)
        if self.mistake == "keys_and_values_share_storage":
            self.v = self.k

    def update(self, layer, k, v):
        start = self.length + (self.mistake == "position_off_by_one")
        end = start + k.size(2)
        if end > self.max_len and self.mistake != "no_overflow_check":
            raise ValueError(f"KV cache is full: {end} positions needed, max_len = {self.max_len}")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        if self.mistake == "returns_only_new":
            return k, v
        if self.mistake == "returns_whole_buffer":
            return self.k[layer], self.v[layer]
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, t):
        self.length += 1 if self.mistake == "advance_by_one" else t

    def reset(self):
        if self.mistake != "reset_does_nothing":
            self.length = 0


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, type(f"KVCache_{mistake}", (_Wrong,), {"mistake": mistake}))


MISTAKES = (
    _mistake(
        "position_off_by_one",
        "position off by one: the new keys are written one slot after `length`; the T new positions "
        "go to slots length .. length + T - 1",
    ),
    _mistake(
        "reset_does_nothing",
        "reset() does not clear the cache; it must set length back to 0 for the next prompt",
    ),
    _mistake(
        "returns_only_new",
        "update returns only the new positions; return everything stored so far, slots 0 .. length + T - 1",
    ),
    _mistake(
        "returns_whole_buffer",
        "update returns all max_len slots, empty ones included, so attention also sees zeros; return "
        "slots 0 .. length + T - 1 only",
    ),
    _mistake("advance_by_one", "advance(t) adds 1 to length whatever t is; add t (the prompt is T tokens)"),
    _mistake("ignores_dtype", "the cache is allocated in float32 whatever dtype it is given; pass dtype="),
    _mistake("ignores_device", "the cache is allocated on the CPU whatever device it is given; pass device="),
    _mistake(
        "no_overflow_check",
        "storing more than max_len positions is not caught; raise ValueError when length + T > max_len",
    ),
    _mistake(
        "keys_and_values_share_storage",
        "keys and values share one tensor, so writing the values overwrites the keys; allocate two",
    ),
)


def _exercise(cls):
    return lambda: _exercise_cache(cls, _direct(2, 100))


PART = Part(
    id="kv_cache",
    names=("KVCache",),
    reference=(ref.KVCache,),
    section="ch09_generation#9.6",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(
        code=(ref.KVCache, ref.LayerKVCache),
        libraries=("transformers",),
        names=("KVCache", "LayerKVCache", "DynamicCache", "StaticCache"),
    ),
    exercise=_exercise,
)
check = PART.check
