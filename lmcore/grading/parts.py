"""Which graded part checks which component, and how: the single table that the
notebooks' test cells and the out-of-kernel audit both follow."""

from lmcore.grading import a1, a2, a6, a7, attention, modules
from lmcore.grading.part import Part

PARTS = {
    p.name: p
    for p in [
        Part(
            "attention",
            "scaled_dot_product_attention",
            attention.cases,
            attention.probe,
            attention.judge,
        ),
        Part(
            "self_attention",
            "CausalSelfAttention",
            modules.self_attention_cases,
            modules.probe_self_attention,
            modules.judge_self_attention,
        ),
        Part("block", "Block", modules.block_cases, modules.probe_block, modules.judge_block),
        Part("gpt", "GPT", modules.gpt_cases, modules.probe_gpt, modules.judge_gpt),
    ]
}

for _part in a1.PARTS + a2.PARTS + a6.PARTS + a7.PARTS:
    if _part.name in PARTS:  # a part's name is also its solution cell's grade_id, unique course-wide
        raise ValueError(f"two graded parts are both named {_part.name!r}")
    PARTS[_part.name] = _part

# assignment id -> {test cell grade_id: (part, thorough)}; visible cells check quickly,
# hidden cells add sizes, CUDA, training steps and the anti-delegation check.
ASSIGNMENTS = {
    "A1": a1.TESTS,
    "A2": a2.TESTS,
    "A5": {
        f"test_{name}{suffix}": (name, suffix == "_hidden")
        for name in ("attention", "self_attention", "block", "gpt")
        for suffix in ("", "_hidden")
    },
}
if a6.TESTS:
    ASSIGNMENTS["A6"] = a6.TESTS
if a7.TESTS:
    ASSIGNMENTS["A7"] = a7.TESTS
