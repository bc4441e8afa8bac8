"""The course's corpora: all generated or shipped with the repository, nothing downloaded.

- ``grammar``: story sentences from a probabilistic grammar with exact probabilities;
- ``book_text``: the book's own prose;
- ``arithmetic``: word problems with checkable answers;
- ``text_files``: a reader's own UTF-8 file;
- ``mixed``: a blend of the above, of a chosen size;
- ``synthetic``: a Zipf-distributed synthetic lexicon mixed with stories, for tokenizers.
"""

from lmcore.data.arithmetic import WordProblem, extract_answer, verify, word_problems
from lmcore.data.book_text import book_text, myst_prose
from lmcore.data.grammar import END, STORY_GRAMMAR, Grammar, Sentence, sample_sentences, stories
from lmcore.data.mixed import training_text
from lmcore.data.synthetic import synthetic_text
from lmcore.data.text_files import load_text

__all__ = [
    "END",
    "STORY_GRAMMAR",
    "Grammar",
    "Sentence",
    "WordProblem",
    "book_text",
    "extract_answer",
    "load_text",
    "myst_prose",
    "sample_sentences",
    "stories",
    "synthetic_text",
    "training_text",
    "verify",
    "word_problems",
]
