"""Checks of assignment A6 (being written)."""

PARTS: list = []  # Part objects of this assignment
TESTS: dict = {}  # test cell grade_id -> (part, thorough)
