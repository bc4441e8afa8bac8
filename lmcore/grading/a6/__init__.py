"""Assignment A6 (chapter 9): the samplers, the KV cache and the cached generation loop, each
checked with lmcore's versions of the other two, so a bug in one costs only its own points:
the student's KVCache serves lmcore's GPT and ``generate``; the student's ``generate`` gets
lmcore's cache and lmcore's ``next_token`` sampler.

    from lmcore.grading import a6
    a6.sampling.check(apply_temperature, top_k_filter, top_p_filter).raise_if_failed()
    a6.kv_cache.check(KVCache).raise_if_failed()
    a6.generate.check(generate).raise_if_failed()
"""

from lmcore.grading.a6 import generate, kv_cache, sampling
from lmcore.grading.records import Assignment

ASSIGNMENT = Assignment("A6", "ch09_generation", (sampling.PART, kv_cache.PART, generate.PART))
