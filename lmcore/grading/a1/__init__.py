"""Assignment A1 (chapter 2): n-gram language models. The student counts n-grams, writes
add-k and interpolated Kneser-Ney as subclasses of ``lmcore.ngram.NGramLM`` (whose ``fit``
stores lmcore's own counts, so a mistake in part 1 never costs parts 2-5), and computes
perplexity and samples on lmcore's reference models.

    from lmcore.grading import a1
    a1.counts.check(count_ngrams).raise_if_failed()
    a1.sample.check(sample, thorough=True).raise_if_failed()  # hidden: more models, no delegation
"""

from lmcore.grading.a1 import add_k, counts, kneser_ney, perplexity, sample
from lmcore.grading.records import Assignment

ASSIGNMENT = Assignment(
    "A1", "ch02_ngrams", (counts.PART, add_k.PART, kneser_ney.PART, perplexity.PART, sample.PART)
)
