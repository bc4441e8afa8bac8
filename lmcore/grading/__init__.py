"""Checks that run a student's component inside lmcore's reference model.

Use in a notebook::

    from lmcore.grading import check_attention
    check_attention(scaled_dot_product_attention)                   # shows a report
    check_attention(scaled_dot_product_attention).raise_if_failed()  # a test cell
"""

from lmcore.grading.attention import check_attention
from lmcore.grading.delegation import check_no_delegation
from lmcore.grading.modules import check_block, check_gpt, check_model, check_self_attention
from lmcore.grading.report import Property, Report

__all__ = [
    "Property",
    "Report",
    "check_attention",
    "check_block",
    "check_gpt",
    "check_model",
    "check_no_delegation",
    "check_self_attention",
]
