"""Assignment A2 (chapter 3): byte-level BPE, trained, encoding and decoding, and the Unigram
tokenizer's Viterbi segmentation and one EM step, each checked against lmcore.bpe and
lmcore.unigram (encoding also against Hugging Face tokenizers).

    from lmcore.grading import a2
    a2.train_bpe.check(train_bpe).raise_if_failed()
    a2.encode.check(encode).raise_if_failed()
"""

from lmcore.grading.a2 import decode, em_step, encode, train_bpe, viterbi
from lmcore.grading.records import Assignment

ASSIGNMENT = Assignment(
    "A2", "ch03_tokenization", (train_bpe.PART, encode.PART, decode.PART, viterbi.PART, em_step.PART)
)
