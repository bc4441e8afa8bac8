"""A graded part: the component a student defines and the three steps that check it."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Part:
    name: str  # the part, also the grade_id of its solution cell
    component: str  # the name the student defines in the notebook
    cases: Any  # (thorough) -> case
    probe: Any  # (component, case) -> outputs          untrusted
    judge: Any  # (case, outputs) -> Report              trusted
