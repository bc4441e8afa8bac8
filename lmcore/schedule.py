"""The learning-rate schedule: linear warmup, then a half cosine down to a minimum rate.

    lr
     |      ____
     |     /    ``--.._
     |    /            ``-.._
     |   /                   ``--..__  min_lr
     +--+----+-------------------------+-> step
        0   warmup_steps            max_steps

Warmup keeps the first steps small, while AdamW's moment estimates rest on few gradients;
the cosine keeps the rate high while the loss falls fast and lowers it for the end of the run.
"""

import math

from lmcore.validation import integer, positive, positive_int, real


def lr_at(step: int, max_steps: int, lr: float, min_lr: float, warmup_steps: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based), for 0 <= step <= max_steps.

    Linear warmup lr * (step + 1) / warmup_steps reaches ``lr`` at step
    warmup_steps - 1; a half cosine then decays from ``lr`` at step warmup_steps
    to ``min_lr`` at step max_steps (one past the last step a run of max_steps
    takes). ``warmup_steps`` is in [0, max_steps): 0 means no warmup, and
    0 <= min_lr <= lr. A step outside [0, max_steps] raises ValueError.
    """
    max_steps = positive_int("max_steps", max_steps)
    step = integer("step", step, low=0, high=max_steps, hint="the schedule covers steps 0 .. max_steps")
    warmup_steps = integer("warmup_steps", warmup_steps, low=0, high=max_steps - 1)
    lr = positive("lr", lr)
    min_lr = real("min_lr", min_lr, low=0.0, high=lr)
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 at the end of warmup -> 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
