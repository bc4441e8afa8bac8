"""Assignment A7 (chapter 10): AdamW, the learning-rate schedule, gradient clipping, random
batches and the training loop with checkpoints. The references are torch's
(``torch.optim.AdamW``, ``torch.nn.utils.clip_grad_norm_``) and lmcore's (``lmcore.schedule.lr_at``,
``lmcore.batching.random_windows``, ``lmcore.train.train``). The student's AdamW also runs
inside lmcore's Trainer; the student's loop runs with lmcore's optimizer, schedule, clipping
and batches, so a mistake in parts 1-4 never costs part 5.

    from lmcore.grading import a7
    a7.adamw.check(AdamW).raise_if_failed()
    a7.training_loop.check(train, thorough=True).raise_if_failed()
"""

from lmcore.grading.a7 import adamw, batching, clipping, schedule, training_loop
from lmcore.grading.records import Assignment

ASSIGNMENT = Assignment(
    "A7", "ch10_pretraining", (adamw.PART, schedule.PART, clipping.PART, batching.PART, training_loop.PART)
)
