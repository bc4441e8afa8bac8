"""The slow tests (nbgrader round trips, the attack class, the book) go to the workers first, so
that the many quick ones fill in around them instead of leaving one worker alone at the end."""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first
