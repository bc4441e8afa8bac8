"""lmcore.bench: a --quick smoke run prints its table and writes complete JSON (no timing asserted)."""

import json

from lmcore.bench import main

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
