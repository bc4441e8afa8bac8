"""Checks of assignment A7 (being written)."""

PARTS: list = []  # Part objects of this assignment
TESTS: dict = {}  # test cell grade_id -> (part, thorough)
