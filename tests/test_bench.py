"""lmcore.course.bench: smoke runs print their tables and write complete JSON (no timing asserted)."""

import json

from lmcore.course.bench import main, naive_bpe_benchmark
from lmcore.data import training_text

DECODE_ROWS = ["lmcore, KV cache", "lmcore, no cache", "HF GPT2LMHeadModel.generate"]


def test_quick_bench_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    main(["--quick", "--new-tokens", "8", "--json", str(path)])
    table = capsys.readouterr().out
    for heading in ("new tokens", "tokens/s", "cached speedup", "tokens match", "training", "MFU"):
        assert heading in table
    result = json.loads(path.read_text())
    assert result["device"] == "cpu" and result["prompt_len"] == 16
    assert [row["name"] for row in result["decode"]] == DECODE_ROWS
    for row in result["decode"]:
        if "error" in row:  # transformers not installed: the HF row says so
            assert row["name"].startswith("HF") and "transformers" in row["error"]
            continue
        assert row["new_tokens"] == 8 and row["seconds"] > 0 and row["tokens_per_s"] > 0
        assert row["tokens_match"] is True and row["agreeing_tokens"] == 8  # same greedy tokens
    assert result["decode"][0]["cached_speedup"] == 1.0
    train = result["train"]
    assert train["tokens_per_s"] > 0 and train["flops_per_token"] > 0
    assert train["mfu"] is None and train["peak_flops"] is None  # no known peak on the CPU
    assert "train_bpe" in table and result["tokenizers"]["corpus_bytes"] <= 50_000  # --quick: 50 KB


TOKENIZER_FIELDS = {
    "corpus_bytes",
    "vocab_size",
    "merges",
    "repeats",
    "lmcore_train_s",
    "hf_train_s",
    "lmcore_over_hf",
    "naive_train_s",
    "naive_corpus_bytes",
    "naive_predicted_full_s",
    "naive_equals_fast",
    "tokens",
    "lmcore_encode_mb_s",
    "hf_encode_mb_s",
    "encodings_agree",
    "lmcore_train_peak_mb",
    "hf_error",
}


def test_tokenizers_only_run_writes_the_tokenizer_fields(tmp_path, capsys):
    path = tmp_path / "bench.json"
    main(["--tokenizers-only", "--bpe-bytes", "50000", "--bpe-vocab", "400", "--json", str(path)])
    table = capsys.readouterr().out
    for heading in ("train_bpe", "BpeTrainer", "train_bpe_naive", "MB/s", "peak Python memory", "agree"):
        assert heading in table
    assert "KV cache" not in table  # the model section did not run
    result = json.loads(path.read_text())
    assert list(result) == ["tokenizers"]
    t = result["tokenizers"]
    assert set(t) == TOKENIZER_FIELDS
    assert 49_000 <= t["corpus_bytes"] <= 50_000 and t["vocab_size"] == 400 and t["merges"] == 400 - 256
    assert t["hf_error"] is None  # tokenizers is a dev dependency
    assert t["naive_corpus_bytes"] == t["corpus_bytes"]  # 50 KB is well within the naive budget
    assert t["naive_equals_fast"] is True and t["encodings_agree"] is True
    for key in ("lmcore_train_s", "hf_train_s", "naive_train_s", "lmcore_encode_mb_s", "hf_encode_mb_s"):
        assert t[key] > 0
    assert t["lmcore_over_hf"] == t["lmcore_train_s"] / t["hf_train_s"]
    assert 0 < t["lmcore_train_peak_mb"] < 1000 and t["tokens"] < t["corpus_bytes"]


def test_naive_bpe_runs_on_a_prefix_when_over_budget():
    text = training_text(20_000)
    out = naive_bpe_benchmark(text, 300, budget_s=1e-6)
    assert out["naive_corpus_bytes"] < len(text.encode()) and out["naive_predicted_full_s"] > 1e-6
    assert out["naive_equals_fast"] is True


def test_grading_bench_builds_its_class_and_prints_throughput():
    """The class of `python -m lmcore.course.bench --grading` (graded in the benchmark, not here)."""
    from lmcore.course import bench_grading

    members = bench_grading.synthetic_class("A1", copies=2)
    assert len(members) == 8 and {"solution-copy2", "mixed-2-copy2"} <= set(members)
    assert sum(members["solution"][1].values()) == 50 and sum(members["untouched"][1].values()) == 0
    assert 0 < sum(members["mixed-1"][1].values()) < 50
    result = {"jobs": [1, 2], "assignments": {"A1": {"students": 8, "seconds": {"1": 80.0, "2": 48.0}}}}
    table = bench_grading.format_table(result)
    assert "10.0" in table and "6.0" in table
    assert "jobs=2: 8 submissions in 48 s, 600 submissions per hour" in table


def test_cells_bench_finds_every_visible_test_cell_and_reads_nbclient_timing():
    """`python -m lmcore.course.bench --cells` (run in the benchmark, not here)."""
    import nbformat

    from lmcore.course import bench_cells
    from lmcore.grading.registry import ASSIGNMENTS

    for a in ASSIGNMENTS:
        nb = nbformat.read(bench_cells.REPO / "solutions" / a / f"{a}.ipynb", as_version=4)
        ids = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        assert set(bench_cells.visible_cells(a)) <= ids and bench_cells.visible_cells(a)
    stamps = {
        "iopub.execute_input": "2026-12-07T10:00:00.250Z",
        "shell.execute_reply": "2026-12-07T10:00:07.000Z",
    }
    assert bench_cells.cell_seconds({"metadata": {"execution": stamps}}) == 6.75
    assert bench_cells.cell_seconds({"metadata": {}}) is None
    table = bench_cells.format_table({"A1": {"test_counts": 0.5}, "A6": {"test_generate": 6.75}})
    assert table.splitlines()[2].startswith("A6") and "over the limit" in table
    assert "slowest: A6 test_generate, 6.75 s on one core; 1 cell(s) over 5 s" in table
