"""A6, part 3: ``generate(model, idx, max_new_tokens, *, temperature=1.0, top_k=None,
top_p=None, seed=None, stop_token=None, use_cache=True, kv_cache=None, sample=...)``.

Contract (``lmcore.generation.generate``): prefill the prompt (B, T) once through the cache it
is given (reset first), then feed one token per step; ``use_cache=False`` runs the whole
sequence every step and touches no cache. Each token comes from ``sample(logits (B, V),
temperature=, top_k=, top_p=, generator=)``, the generator seeded by ``seed`` (None: torch's
global one). Rows that produced ``stop_token`` are padded with it, the loop ends once every
row has; T + max_new_tokens beyond block_size raises ValueError. Checked with lmcore's cache
and sampler (so this part is graded alone) on a GPT with peaked logits, where every setting
changes the tokens: each argument, its default and None, token for token against lmcore's
uncached loop, how the model was called, and (hidden) a timed speedup over uncached generation.
"""

import math
import time

import torch

from lmcore import generation as ref
from lmcore.grading.a6._common import GEN, peaked_state, reference_model
from lmcore.grading.common import attempt, randint
from lmcore.grading.records import Mistake, Part, same_outputs
from lmcore.grading.report import Report
from lmcore.grading.tracer import Rules
from lmcore.kv_cache import KVCache
from lmcore.model import GPT, GPTConfig
from lmcore.sampling import next_token

SPEED = GPTConfig(block_size=256, vocab_size=64, n_layer=2, n_head=4, n_embd=128)
MIN_SPEEDUP = 1.5
SAMPLED = dict(temperature=0.6, top_k=4, top_p=0.7)


class _RecordingGPT(GPT):
    """lmcore's GPT, noting each call: (tokens fed, whether it got the cache the probe gave)."""

    given = None  # the cache the probe passes
    calls: list  # [tokens fed, "given" | "another" | "none"] per call, reset by the probe

    def forward(self, idx, kv_cache=None):
        cache = "none" if kv_cache is None else "given" if kv_cache is self.given else "another"
        self.calls.append([idx.size(1), cache])
        return super().forward(idx, kv_cache=kv_cache)


def _stop_token(model, prompt, step: int, **settings) -> int:
    """The token row 0 of the reference's generation chooses at ``step``: a stop token that
    some rows reach and others may not."""
    tokens = ref.generate(model, prompt, step + 1, seed=3, use_cache=False, **settings)
    return int(tokens[0, -1])


def cases(thorough: bool = False) -> dict:
    """Prompts and the arguments of each call; every setting changes the tokens drawn."""
    state = peaked_state(GEN, 7)
    batch = 3 if thorough else 2
    prompts = [randint(GEN.vocab_size, batch, n, seed=120 + n) for n in [3, 5] + ([1, 7] if thorough else [])]
    settings = [{}, dict(temperature=0), SAMPLED]
    if thorough:
        settings += [
            dict(temperature=1.0, top_k=None, top_p=None, stop_token=None, use_cache=True),
            dict(temperature=1.5),
            dict(top_k=3),
            dict(top_p=0.6),
            dict(use_cache=False, **SAMPLED),
        ]
    runs = [
        dict(prompt=p, n=10, kwargs=dict(seed=100 * s + i, **kw))
        for s, kw in enumerate(settings)
        for i, p in enumerate(prompts)
    ]
    if thorough:
        model = reference_model(GEN, state)
        same_rows = prompts[1][:1].expand(batch, -1).contiguous()  # rows that stop together
        stop = _stop_token(model, prompts[1], 3, temperature=0.8)
        together = _stop_token(model, same_rows, 4, temperature=0)
        runs += [
            dict(prompt=prompts[1], n=10, kwargs=dict(seed=3, temperature=0.8, stop_token=stop)),
            dict(prompt=same_rows, n=10, kwargs=dict(temperature=0, stop_token=together)),
            dict(prompt=prompts[0], n=10, kwargs=dict(seed=None), global_seed=5),
            dict(prompt=prompts[0], n=0, kwargs=dict(seed=1)),
            # one token more than the context holds; a loop that does not check still fits the cache
            dict(prompt=prompts[1], n=GEN.block_size - 5 + 1, kwargs=dict(temperature=0), raises=True),
        ]
    case = dict(config=GEN, state=state, runs=runs, thorough=thorough)
    if thorough:
        case.update(
            speed=dict(
                state=peaked_state(SPEED, 8), prompt=randint(SPEED.vocab_size, 1, 96, seed=130), tokens=48
            )
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


def probe(generate, case: dict) -> dict:
    """Untrusted: the student's loop on every call of ``case``, with lmcore's cache and sampler."""
    model = reference_model(case["config"], case["state"], _RecordingGPT)
    # one cache for every call: the loop must reset it; use_cache=False must leave it alone
    model.given = KVCache.for_model(model, case["runs"][0]["prompt"].size(0))
    runs = []
    for run in case["runs"]:
        model.calls = []
        if run.get("global_seed") is not None:
            torch.manual_seed(run["global_seed"])
        tokens, err = attempt(
            generate, model, run["prompt"], run["n"], kv_cache=model.given, sample=next_token, **run["kwargs"]
        )
        if err is None and not isinstance(tokens, torch.Tensor):
            err = f"returned {type(tokens).__name__}, expected a Tensor"
        runs.append(dict(tokens=tokens.detach().cpu() if err is None else None, error=err, calls=model.calls))
    out: dict = {"runs": runs}
    if "speed" in case:  # the thorough check's timed runs (not repeated for the known mistakes)
        fast = reference_model(SPEED, case["speed"]["state"])
        p, n = case["speed"]["prompt"], case["speed"]["tokens"]
        fast_cache = KVCache.for_model(fast, 1)

        def cached():
            generate(fast, p, n, temperature=0, kv_cache=fast_cache, sample=next_token)

        def uncached():
            ref.generate(fast, p, n, temperature=0, use_cache=False)

        times, error = attempt(_best_times, [cached, uncached])
        out["speed"] = dict(error=error, cached=times and times[0], uncached=times and times[1])
    return out


# ------------------------------------------------------------------------- the judge


def _expected(model, run: dict) -> torch.Tensor:
    if run.get("global_seed") is not None:
        torch.manual_seed(run["global_seed"])
    return ref.generate(model, run["prompt"], run["n"], **{**run["kwargs"], "use_cache": False})


def _wanted_calls(run: dict, new: int) -> list:
    """The model calls of the contract's loop for ``new`` generated tokens."""
    T = run["prompt"].size(1)
    if run["kwargs"].get("use_cache", True):
        return [[T, "given"]] + [[1, "given"]] * (new - 1)
    return [[T + i, "none"] for i in range(new)]


def _judge_speed(report: Report, case: dict, out: dict) -> None:
    name = (
        f"the cached loop is >= {MIN_SPEEDUP}x faster than uncached generation "
        f"({case['speed']['tokens']} new tokens after {case['speed']['prompt'].size(1)}, best of 3)"
    )
    speed = out["speed"]
    if speed["error"]:
        report.add(name, False, speed["error"])
        return
    ratio = speed["uncached"] / speed["cached"]
    report.add(
        name,
        ratio >= MIN_SPEEDUP,
        f"speedup {ratio:.2f}x: cached {speed['cached']:.3f} s, uncached "
        f"{speed['uncached']:.3f} s; run under torch.no_grad() and feed one token per step",
    )


def judge(case: dict, out: dict) -> Report:
    report = Report("generate (cached loop)")
    model = reference_model(case["config"], case["state"])
    for run, got in zip(case["runs"], out["runs"], strict=True):
        T = run["prompt"].size(1)
        label = f"[prompt {tuple(run['prompt'].shape)}, max_new_tokens={run['n']}, {run['kwargs']}]"
        if run.get("raises"):
            error = got["error"] or ""
            report.add(
                f"{label} raises ValueError: prompt and new tokens exceed block_size = {GEN.block_size}",
                error.startswith("ValueError"),
                error or "it returned tokens; check idx.size(1) + max_new_tokens <= model.config.block_size",
            )
            continue
        same = f"{label} equals lmcore's uncached generation with the same seed, token for token"
        called = (
            f"{label} runs the prompt once through the given cache, then one token per step"
            if run["kwargs"].get("use_cache", True)
            else f"{label} without the cache: the whole sequence every step, no cache touched"
        )
        if got["error"]:
            report.add(f"{label} runs", False, got["error"])
            report.skip(same, "not checked: the call raised")
            report.skip(called, "not checked: the call raised")
            continue
        expected = _expected(model, run)
        tokens = got["tokens"]
        detail = f"shape {tuple(tokens.shape)}, expected {tuple(expected.shape)}"
        if tokens.shape == expected.shape:
            where = (tokens != expected).any(dim=0).nonzero().flatten().tolist()
            detail = f"tokens differ at positions {where[:8]} (the prompt has {T})"
        report.add(same, torch.equal(tokens, expected), detail)
        if run["n"] == 0:
            continue
        new = expected.size(1) - T
        calls = got["calls"]
        ok = calls[:new] == _wanted_calls(run, new) and len(calls) <= new + 1
        shown = ", ".join(f"{n} tokens ({cache} cache)" for n, cache in calls[:5])
        report.add(called, ok, f"the model was called with {shown}{' ...' if len(calls) > 5 else ''}")
    if "speed" in out:
        _judge_speed(report, case, out)
    return report


def agree(case: dict, a: dict, b: dict) -> bool:
    """Same outputs, counting only the model calls that chose a token (an extra forward
    after the last token is allowed) and not the timings."""

    def essential(out):
        runs = []
        for run, got in zip(case["runs"], out["runs"], strict=True):
            new = 0 if got["tokens"] is None else got["tokens"].size(1) - run["prompt"].size(1)
            runs.append({**got, "calls": got["calls"][: max(new, 0)]})
        return {**out, "runs": runs}

    return same_outputs(essential(a), essential(b), ("speed",))


# ------------------------------------------------------------------ known mistakes


def _wrong(mistake: str):
    """A generation loop with one classic mistake; the others as the contract asks."""
    default_temperature = 0.0 if mistake == "default_greedy" else 1.0

    @torch.no_grad()
    def generate(
        model,
        idx,
        max_new_tokens,
        *,
        temperature=default_temperature,
        top_k=None,
        top_p=None,
        seed=None,
        stop_token=None,
        use_cache=True,
        kv_cache=None,
        sample=next_token,
    ):
        if idx.size(1) + max_new_tokens > model.config.block_size and mistake != "no_context_check":
            raise ValueError("the prompt and the new tokens exceed block_size")
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        if mistake == "seed_none_fixed":  # a fresh generator, seeded or not: never the global one
            generator = torch.Generator() if seed is None else generator
        cached = use_cache or mistake == "use_cache_ignored"
        cache = None
        if cached:
            cache = kv_cache
            if kv_cache is None or mistake == "ignores_given_cache":
                cache = KVCache.for_model(model, idx.size(0))
            if mistake != "never_resets":
                cache.reset()
        settings = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        for name in ("temperature", "top_k", "top_p"):
            if mistake == f"{name}_not_passed":
                del settings[name]  # sample's own default is used instead
        out, step = idx, idx
        if mistake == "prefill_token_by_token" and cached:
            for t in range(idx.size(1) - 1):
                model(idx[:, t : t + 1], kv_cache=cache)
            step = idx[:, -1:]
        done = torch.zeros(idx.size(0), 1, dtype=torch.bool)
        stops = stop_token is not None and mistake != "stop_token_ignored"
        for _ in range(max(max_new_tokens, 1) if mistake == "zero_tokens_samples_one" else max_new_tokens):
            logits = model(step, kv_cache=cache) if cached else model(out)
            tok = sample(logits[:, -1, :], generator=generator, **settings)
            if stops:
                tok = tok if mistake == "stop_not_padded" else tok.masked_fill(done, stop_token)
                done = done | (tok == stop_token)
            out = torch.cat([out, tok], dim=1)
            step = out if mistake == "feeds_whole_sequence" else tok
            if stops and bool(done.all()) and mistake != "stop_no_early_end":
                break
        return out

    return generate


def _mistake(mistake: str, diagnosis: str) -> Mistake:
    return Mistake(mistake, diagnosis, _wrong(mistake))


MISTAKES = (
    _mistake(
        "never_resets",
        "the cache is not reset before the prefill: call kv_cache.reset() first, or the new prompt "
        "continues the previous one",
    ),
    _mistake(
        "ignores_given_cache",
        "the loop makes its own cache even when given one; use kv_cache and build one only when it is None",
    ),
    _mistake(
        "prefill_token_by_token",
        "the prompt goes through the model one token at a time; the prefill runs all T tokens in one call",
    ),
    _mistake(
        "feeds_whole_sequence",
        "with the cache each step feeds the whole sequence again; feed only the newest token (B, 1)",
    ),
    _mistake(
        "use_cache_ignored",
        "use_cache=False still uses the cache; without it, run the model on the whole sequence each step",
    ),
    _mistake("temperature_not_passed", "temperature is not passed to sample(..., temperature=temperature)"),
    _mistake("top_k_not_passed", "top_k is not passed to sample(..., top_k=top_k)"),
    _mistake("top_p_not_passed", "top_p is not passed to sample(..., top_p=top_p)"),
    _mistake("default_greedy", "temperature defaults to 0 (greedy); the contract's default is 1.0"),
    _mistake(
        "seed_none_fixed",
        "seed=None makes a fresh torch.Generator(); with no seed, pass generator=None so torch's "
        "global generator is used (torch.manual_seed then decides the draws)",
    ),
    _mistake("stop_token_ignored", "stop_token is ignored: rows go on after producing it"),
    _mistake(
        "stop_not_padded",
        "a row that produced stop_token goes on generating; pad it with stop_token until the loop ends",
    ),
    _mistake(
        "stop_no_early_end",
        "the loop goes on after every row produced stop_token; end it as soon as all rows have stopped",
    ),
    _mistake(
        "zero_tokens_samples_one",
        "max_new_tokens=0 still adds a token; it returns the prompt unchanged",
    ),
    _mistake(
        "no_context_check",
        "a prompt plus max_new_tokens longer than the model's block_size is accepted; raise ValueError",
    ),
)


def _exercise(generate):
    torch.manual_seed(0)
    model = GPT(GEN).eval()
    prompt = torch.zeros(1, 3, dtype=torch.long)
    cache = KVCache.for_model(model, 1)
    return lambda: generate(model, prompt, 2, seed=0, kv_cache=cache, sample=next_token)


PART = Part(
    id="generate",
    names=("generate",),
    reference=(ref.generate,),
    section="ch09_generation#9.6",
    cases=cases,
    probe=probe,
    judge=judge,
    mistakes=MISTAKES,
    rules=Rules(code=(ref.generate,), libraries=("transformers",), names=("generate",)),
    exercise=_exercise,
    ignore=("speed",),
    agree=agree,
)
check = PART.check
