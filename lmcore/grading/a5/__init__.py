"""Assignment A5 (chapter 7, with chapter 8's GPT): attention, multi-head self-attention, the
transformer block and the GPT, each checked alone and inside lmcore's reference GPT.

    from lmcore.grading import a5
    a5.attention.check(scaled_dot_product_attention).raise_if_failed()
    a5.check_model(scaled_dot_product_attention, CausalSelfAttention, Block, GPT)  # all yours
"""

import functools

from lmcore.grading.a5 import attention, block, gpt, self_attention
from lmcore.grading.hosts import judge_model, model_case, probe_model
from lmcore.grading.records import Assignment
from lmcore.grading.report import Report

ASSIGNMENT = Assignment("A5", "ch07_attention", (attention.PART, self_attention.PART, block.PART, gpt.PART))


def assemble(attention_fn, self_attention_cls, block_cls, gpt_cls):
    """A model factory using only the student's parts: their GPT of their Blocks of theirs."""
    attn_cls = functools.partial(self_attention_cls, attention=attention_fn)
    return lambda config: gpt_cls(config, block_cls=functools.partial(block_cls, self_attention_cls=attn_cls))


def check_model(attention_fn, self_attention_cls, block_cls, gpt_cls) -> Report:
    """The student's whole GPT (every part theirs) against the reference, including training.
    Not graded: each part is graded on its own, with lmcore's parts around it."""
    report = Report("your GPT, assembled from your own parts")
    case = model_case(0)
    out = probe_model(
        assemble(attention_fn, self_attention_cls, block_cls, gpt_cls),
        case,
        cached_generation=False,
        train=True,
    )
    judge_model(report, case, out)
    return report
