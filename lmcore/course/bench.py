"""Decode and training throughput of the reference GPT and speed of the reference BPE, next to Hugging Face.

    python -m lmcore.course.bench [--device cpu|cuda] [--new-tokens N] [--json PATH] [--quick] [--threads N]
                           [--tokenizers-only] [--bpe-bytes N] [--bpe-vocab V]
    python -m lmcore.course.bench --grading [--jobs 1 2] [--copies 2]   # lmcore.course.bench_grading
    python -m lmcore.course.bench --cells [--assignments A1 ...]         # lmcore.course.bench_cells

Three model measurements, all in one run on one set of random weights:

(a) greedy decoding with lmcore's KV cache and without it (the whole sequence
    re-run every step), in new tokens per second;
(b) greedy decoding with transformers' ``GPT2LMHeadModel.generate`` (its own
    cache) on the identical config and weights, loaded through
    ``lmcore.oracles.gpt2.to_gpt2_state_dict``; the three token sequences are compared
    ("tokens match": identical to the cached run's) and "cached speedup" is a
    row's time over the cached run's;
(c) training tokens per second with ``lmcore.train.Trainer`` after warmup
    steps, and on CUDA the model FLOPs utilization (MFU) under bf16 autocast.

On the CPU the model is GPT-2-shaped but small (4 layers, 256 wide, an
8192-token vocabulary) so that decoding without a cache finishes in minutes;
on CUDA it is GPT-2 124M. ``block_size`` is widened past 1024 when the prompt
plus the new tokens need it. Times are medians over repeats (one run for
uncached decoding, which is slow), after a warmup, with CUDA synchronized.
``--quick`` shrinks everything to a smoke test of a few seconds. On a CPU
shared with other jobs, ``--threads 1`` avoids oversubscribed thread pools,
which can make times swing by an order of magnitude.

transformers is needed only for (b); without it that row says why it is missing.

(d) The tokenizer section (alone with ``--tokenizers-only``) trains byte-level BPE on
``lmcore.data.synthetic_text(--bpe-bytes)`` (1 MB; 50 KB with ``--quick``) up to ``--bpe-vocab``
tokens (1000) with ``lmcore.bpe.train_bpe``, with Hugging Face's ``BpeTrainer`` and with the naive
recount-every-merge loop ``train_bpe_naive``, in seconds (lmcore and HF: median of 3, alternating).
The naive loop runs on the whole corpus only when a probe of its first merges predicts at most
60 s; otherwise on a prefix sized to fit, and the output says so. It then encodes the corpus with
``lmcore.bpe.Tokenizer`` and with Hugging Face's tokenizer loaded with the same merges
(``lmcore.oracles.hf_bpe``), each from a cold cache, in MB/s, checks that their token byte strings agree,
and measures the peak Python memory of ``train_bpe`` with tracemalloc (a separate run). ``tokenizers``
is needed only for the Hugging Face rows.
"""

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace

import torch

from lmcore.bpe import Tokenizer, train_bpe, train_bpe_naive
from lmcore.data import synthetic_text
from lmcore.generation import generate
from lmcore.model import GPT, GPTConfig
from lmcore.train import TrainConfig, Trainer

PROMPT_LEN = 16
NAIVE_BUDGET_S = 60.0  # the naive BPE trainer runs on the whole corpus if predicted to finish within this
# dense bf16 tensor-core peaks (FLOP/s) by a substring of the device name, most specific first
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10G", 125e12),
    ("L4", 121e12),
)


def bench_config(device: str, quick: bool, new_tokens: int) -> GPTConfig:
    """The benchmarked shape: tiny with ``quick``, GPT-2 124M on CUDA, a small GPT-2 on the CPU."""
    if quick:
        config = GPTConfig(block_size=64, vocab_size=512, n_layer=2, n_head=2, n_embd=64)
    elif device == "cuda":
        config = GPTConfig.gpt2()
    else:
        config = GPTConfig(vocab_size=8192, n_layer=4, n_head=4, n_embd=256)
    return replace(config, block_size=max(config.block_size, PROMPT_LEN + new_tokens))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_round_robin(
    runs: dict[str, tuple[Callable[[int], torch.Tensor], int]], n: int, device: torch.device
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Median wall-clock seconds of fn(n) for each ``name: (fn, repeats)`` and each fn's last result.

    Every fn is first warmed up with fn(min(n, 8)); the timed calls then go round robin (one call
    of each fn still owed repeats per round), so a load that comes and goes on a shared machine
    falls on all of them alike.
    """
    for fn, _ in runs.values():
        fn(min(n, 8))
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for round_ in range(max(repeats for _, repeats in runs.values())):
        for name, (fn, repeats) in runs.items():
            if round_ < repeats:
                _sync(device)
                t0 = time.perf_counter()
                outputs[name] = fn(n)
                _sync(device)
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def hf_gpt2(model: GPT):
    """transformers' GPT2LMHeadModel with ``model``'s config and weights (same device, eval mode)."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError as e:
        raise ImportError("the Hugging Face comparison needs transformers: pip install -e '.[dev]'") from e
    from lmcore.oracles.gpt2 import to_gpt2_state_dict

    c = model.config
    hf_config = GPT2Config(
        vocab_size=c.vocab_size,
        n_positions=c.block_size,
        n_embd=c.n_embd,
        n_layer=c.n_layer,
        n_head=c.n_head,
        activation_function="gelu_new",  # the tanh GELU lmcore uses
        layer_norm_epsilon=c.layer_norm_eps,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,  # random weights: no token ends generation early
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    p = next(model.parameters())
    hf = GPT2LMHeadModel(hf_config)
    missing, unexpected = hf.load_state_dict(to_gpt2_state_dict(model), strict=False)
    weights_missing = [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias"))]
    if weights_missing or unexpected:
        raise RuntimeError(f"weights did not map onto GPT2LMHeadModel: {weights_missing} {unexpected}")
    return hf.to(device=p.device, dtype=p.dtype).eval()


def _agreement(out: torch.Tensor, reference: torch.Tensor) -> tuple[bool, int]:
    """(identical, number of leading new tokens that agree) for two (B, T + n) outputs."""
    n = min(out.size(1), reference.size(1)) - PROMPT_LEN
    same = (out[:, PROMPT_LEN:][:, :n] == reference[:, PROMPT_LEN:][:, :n]).all(dim=0)
    agree = int(same.long().cumprod(0).sum())
    return out.shape == reference.shape and agree == n, agree


def decode_benchmark(model: GPT, new_tokens: int, repeats: int) -> list[dict]:
    """Rows for lmcore cached, lmcore without a cache and HF generate: greedy, batch 1, same prompt."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, model.config.vocab_size, (1, PROMPT_LEN), generator=g).to(device)
    runs = {  # name: (new tokens -> output (1, PROMPT_LEN + n), repeats)
        "lmcore, KV cache": (lambda n: generate(model, prompt, n, temperature=0, use_cache=True), repeats),
        "lmcore, no cache": (lambda n: generate(model, prompt, n, temperature=0, use_cache=False), 1),
    }
    hf_error = None
    try:
        hf = hf_gpt2(model)
        mask = torch.ones_like(prompt)
        runs["HF GPT2LMHeadModel.generate"] = (
            lambda n: hf.generate(
                prompt,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                use_cache=True,
                pad_token_id=0,
            ),
            repeats,
        )
    except (ImportError, RuntimeError) as e:
        hf_error = {"name": "HF GPT2LMHeadModel.generate", "error": str(e)}
    with torch.no_grad():
        seconds, outputs = timed_round_robin(runs, new_tokens, device)
    rows = [
        {
            "name": name,
            "new_tokens": new_tokens,
            "repeats": reps,
            "seconds": seconds[name],
            "tokens_per_s": new_tokens / seconds[name],
        }
        for name, (_, reps) in runs.items()
    ]
    if hf_error is not None:
        rows.append(hf_error)
    reference = outputs["lmcore, KV cache"]
    for row in rows:
        if row["name"] in outputs:
            row["tokens_match"], row["agreeing_tokens"] = _agreement(outputs[row["name"]], reference)
    cached = next(r for r in rows if r["name"] == "lmcore, KV cache")
    for row in rows:
        if "seconds" in row:
            row["cached_speedup"] = row["seconds"] / cached["seconds"]
    return rows


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of a known CUDA device, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def training_flops_per_token(model: GPT, seq_len: int) -> float:
    """6N for the matmuls (forward + backward) plus 12 L C T for attention scores (PaLM's estimate).

    N counts every parameter used as a matmul weight: all but the position embedding.
    """
    c = model.config
    n = model.num_parameters() - model.transformer.wpe.weight.numel()
    return 6 * n + 12 * c.n_layer * c.n_embd * seq_len


def train_benchmark(
    config: GPTConfig, device: torch.device, batch_size: int, seq_len: int, warmup: int, steps: int
) -> dict:
    """Training tokens/s of ``Trainer`` (median over ``steps`` after ``warmup``) and MFU on CUDA."""
    torch.manual_seed(0)
    model = GPT(config)
    data = torch.randint(0, config.vocab_size, (100_000,), generator=torch.Generator().manual_seed(1))
    bf16 = device.type == "cuda"
    train_config = TrainConfig(
        max_steps=warmup + steps,
        batch_size=batch_size,
        block_size=seq_len,
        lr=3e-4,
        device=str(device),
        autocast_bf16=bf16,
        progress=False,
    )
    trainer = Trainer(model, data, config=train_config)
    trainer.fit(warmup)
    trainer.fit(steps)
    tokens_per_s = statistics.median(trainer.history["tokens_per_s"][warmup:])
    peak = peak_flops(device)
    flops = training_flops_per_token(model, seq_len)
    return {
        "batch_size": batch_size,
        "seq_len": seq_len,
        "steps": steps,
        "bf16_autocast": bf16,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": flops,
        "peak_flops": peak,
        "mfu": None if peak is None else tokens_per_s * flops / peak,
    }


def _seconds(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def naive_bpe_benchmark(text: str, vocab_size: int, budget_s: float = NAIVE_BUDGET_S) -> dict:
    """Seconds of ``train_bpe_naive`` on text, or on a prefix of it when text would take over budget_s.

    The whole run is predicted from probes of 10 and 20 merges: their difference is the cost of
    10 merges, the rest is the fixed cost of pre-tokenizing (an overestimate: merges get cheaper as
    words shrink). The prefix is cut to be predicted at half the budget. Also checks that the naive
    merges equal ``train_bpe``'s on the same text.
    """
    n_merges = vocab_size - 256
    t10, _ = _seconds(lambda: train_bpe_naive(text, 256 + min(10, n_merges)))
    t20, _ = _seconds(lambda: train_bpe_naive(text, 256 + min(20, n_merges)))
    per_merge = max(t20 - t10, 0.0) / 10
    predicted = max(t10 - 10 * per_merge, 0.0) + per_merge * n_merges
    if predicted > budget_s:
        text = text[: int(len(text) * budget_s / (2 * predicted))]
    seconds, merges = _seconds(lambda: train_bpe_naive(text, vocab_size))
    return {
        "naive_train_s": seconds,
        "naive_corpus_bytes": len(text.encode("utf-8")),
        "naive_predicted_full_s": predicted,
        "naive_equals_fast": merges == train_bpe(text, vocab_size),
    }


def peak_train_memory_mb(text: str, vocab_size: int) -> float:
    """Peak Python heap growth (MB, tracemalloc) while ``train_bpe`` runs on text."""
    tracemalloc.start()
    try:
        train_bpe(text, vocab_size)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def tokenizer_benchmark(n_bytes: int = 1_000_000, vocab_size: int = 1000, repeats: int = 3) -> dict:
    """Training and encoding speed of lmcore's BPE next to Hugging Face's, as a JSON-ready dict."""
    text = synthetic_text(n_bytes)
    mb = len(text.encode("utf-8")) / 1e6
    try:
        from lmcore.oracles.hf_bpe import hf_token_bytes, hf_tokenizer, hf_train
    except ImportError as e:
        hf_error = str(e)
    else:
        hf_error = None
    train_times: dict[str, list[float]] = {"lmcore": [], "hf": []}
    for _ in range(repeats):  # alternate, so a load that comes and goes falls on both alike
        seconds, merges = _seconds(lambda: train_bpe(text, vocab_size))
        train_times["lmcore"].append(seconds)
        if hf_error is None:
            train_times["hf"].append(_seconds(lambda: hf_train(text, vocab_size))[0])
    encode_s, ids = _seconds(lambda: Tokenizer(merges).encode(text))  # a fresh tokenizer: cold cache
    result = {
        "corpus_bytes": len(text.encode("utf-8")),
        "vocab_size": vocab_size,
        "merges": len(merges),
        "repeats": repeats,
        "lmcore_train_s": statistics.median(train_times["lmcore"]),
        "hf_train_s": None,
        "lmcore_over_hf": None,
        **naive_bpe_benchmark(text, vocab_size),
        "tokens": len(ids),
        "lmcore_encode_mb_s": mb / encode_s,
        "hf_encode_mb_s": None,
        "encodings_agree": None,
        "lmcore_train_peak_mb": peak_train_memory_mb(text, vocab_size),
        "hf_error": hf_error,
    }
    if hf_error is None:
        result["hf_train_s"] = statistics.median(train_times["hf"])
        result["lmcore_over_hf"] = result["lmcore_train_s"] / result["hf_train_s"]
        hf = hf_tokenizer(merges)  # a fresh tokenizer: cold cache
        hf_encode_s, _ = _seconds(lambda: hf.encode(text, add_special_tokens=False))
        result["hf_encode_mb_s"] = mb / hf_encode_s
        result["encodings_agree"] = Tokenizer(merges).token_bytes(ids) == hf_token_bytes(hf, text)
    return result


def format_tokenizer_table(t: dict) -> str:
    """The tokenizer section as plain text."""
    naive_on = (
        "the whole corpus"
        if t["naive_corpus_bytes"] == t["corpus_bytes"]
        else f"the first {t['naive_corpus_bytes']:,} bytes only "
        f"(predicted {t['naive_predicted_full_s']:.0f} s for the whole corpus)"
    )
    lines = [
        f"byte-level BPE on lmcore.data.synthetic_text: {t['corpus_bytes']:,} bytes, vocab {t['vocab_size']} "
        f"({t['merges']} merges), medians of {t['repeats']}",
        f"{'train':<42} {'seconds':>9}",
        f"{'lmcore train_bpe':<42} {t['lmcore_train_s']:>9.3f}",
    ]
    if t["hf_error"] is None:
        lines.append(
            f"{'HF tokenizers BpeTrainer':<42} {t['hf_train_s']:>9.3f}  "
            f"(lmcore / HF {t['lmcore_over_hf']:.2f}x)"
        )
    same = "same merges as train_bpe" if t["naive_equals_fast"] else "MERGES DIFFER from train_bpe"
    lines += [
        f"{'lmcore train_bpe_naive (recount each merge)':<42} {t['naive_train_s']:>9.3f}  "
        f"on {naive_on}; {same}",
        f"peak Python memory of train_bpe (tracemalloc): {t['lmcore_train_peak_mb']:.1f} MB",
        "",
        f"encode the corpus ({t['tokens']:,} tokens), cold caches: "
        f"lmcore Tokenizer.encode {t['lmcore_encode_mb_s']:.2f} MB/s",
    ]
    if t["hf_error"] is None:
        agree = "agree" if t["encodings_agree"] else "DISAGREE"
        lines.append(f"HF tokenizers encode, same merges {t['hf_encode_mb_s']:.2f} MB/s, token bytes {agree}")
    else:
        lines.append(f"Hugging Face rows skipped: {t['hf_error']}")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    """The decode rows and the training line as plain text."""
    c = result["config"]
    lines = [
        f"device {result['device_name']} ({result['torch_threads']} torch threads), "
        f"model: n_layer={c['n_layer']} n_head={c['n_head']} "
        f"n_embd={c['n_embd']} vocab={c['vocab_size']} block_size={c['block_size']}, "
        f"{result['parameters'] / 1e6:.1f}M parameters, prompt {PROMPT_LEN} tokens, batch 1, greedy",
        "",
        f"{'decode':<30} {'new tokens':>10} {'repeats':>7} {'seconds':>9} {'tokens/s':>10} "
        f"{'cached speedup':>14}  tokens match",
    ]
    for row in result["decode"]:
        if "error" in row:
            lines.append(f"{row['name']:<30} skipped: {row['error']}")
            continue
        match = "yes" if row["tokens_match"] else f"no (first {row['agreeing_tokens']} agree)"
        lines.append(
            f"{row['name']:<30} {row['new_tokens']:>10} {row['repeats']:>7} {row['seconds']:>9.3f} "
            f"{row['tokens_per_s']:>10.1f} {row['cached_speedup']:>13.1f}x  {match}"
        )
    t = result["train"]
    mfu = "unknown" if t["mfu"] is None else f"{100 * t['mfu']:.1f}%"
    lines += [
        "",
        f"training (Trainer, batch {t['batch_size']} x {t['seq_len']} tokens, "
        f"bf16 autocast {'on' if t['bf16_autocast'] else 'off'}, median of {t['steps']} steps): "
        f"{t['tokens_per_s']:.0f} tokens/s, MFU {mfu}",
    ]
    return "\n".join(lines)


def run(device: str = "cpu", new_tokens: int | None = None, quick: bool = False) -> dict:
    """All measurements as one JSON-ready dict (see the module docstring)."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but CUDA is not available")
    new_tokens = (32 if quick else 1024) if new_tokens is None else new_tokens
    if new_tokens < 1:
        raise ValueError(f"--new-tokens must be >= 1, got {new_tokens}")
    config = bench_config(dev.type, quick, new_tokens)
    torch.manual_seed(0)
    model = GPT(config).to(dev).eval()
    if quick:
        train_shape = dict(batch_size=2, seq_len=32, warmup=1, steps=2)
    elif dev.type == "cuda":
        train_shape = dict(batch_size=16, seq_len=1024, warmup=3, steps=10)
    else:
        train_shape = dict(batch_size=4, seq_len=256, warmup=2, steps=5)
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "config": {
            k: getattr(config, k) for k in ("n_layer", "n_head", "n_embd", "vocab_size", "block_size")
        },
        "parameters": model.num_parameters(),
        "prompt_len": PROMPT_LEN,
        "decode": decode_benchmark(model, new_tokens, repeats=1 if quick else 3),
        "train": train_benchmark(config, dev, **train_shape),
    }


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if "--grading" in argv:  # grading throughput: its own options (lmcore.course.bench_grading)
        from lmcore.course import bench_grading

        return bench_grading.main(argv)
    if "--cells" in argv:  # the visible test cells on one core (lmcore.course.bench_cells)
        from lmcore.course import bench_cells

        return bench_cells.main(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--new-tokens", type=int, default=None, help="default 1024 (32 with --quick)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--quick", action="store_true", help="tiny model and few tokens: a smoke test")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--tokenizers-only", action="store_true", help="only the BPE tokenizer section")
    parser.add_argument("--bpe-bytes", type=int, default=None, help="BPE corpus (default 1e6, --quick 5e4)")
    parser.add_argument("--bpe-vocab", type=int, default=1000, help="BPE vocabulary size (default 1000)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    bpe_bytes = (50_000 if args.quick else 1_000_000) if args.bpe_bytes is None else args.bpe_bytes
    result = {} if args.tokenizers_only else run(args.device, args.new_tokens, args.quick)
    result["tokenizers"] = tokenizer_benchmark(bpe_bytes, args.bpe_vocab)
    if not args.tokenizers_only:
        print(format_table(result), end="\n\n")
    print(format_tokenizer_table(result["tokenizers"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
