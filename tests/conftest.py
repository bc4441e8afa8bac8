"""How the suite is spread over xdist's workers.

Order: the slow tests (nbgrader classes, the book) go to the workers first, then the solution
notebooks' cells (nbval), then the many quick tests, which fill in around them instead of
leaving one worker alone at the end.

Scheduling: each test is a unit of its own, except that two kinds of test stay together on one
worker, in order: the cells of one notebook (they share a kernel), and the tests of a module
that builds a fixture once per session (tests/shared.py: the book, a graded class), which
would otherwise keep the second worker waiting on the lock while the first builds it. So
`make test` runs tests/ and nbval in one session on every core."""

from functools import cache
from pathlib import Path

import pytest


@cache
def shares_a_session_fixture(path: str) -> bool:
    """Whether the test module at ``path`` builds something with tests.shared.once_per_session."""
    file = Path(path)
    return file.suffix == ".py" and file.is_file() and "once_per_session(" in file.read_text()


def pytest_collection_modifyitems(config, items):
    def rank(item):
        if item.get_closest_marker("slow") is not None:
            return 0
        return 1 if str(item.path).endswith(".ipynb") else 2

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") not in ("load", "loadscope"):
        return None  # --dist loadfile, each, ...: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksWhole(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return (
                path
                if path.endswith(".ipynb") or shares_a_session_fixture(str(config.rootpath / path))
                else nodeid
            )

        def _reschedule(self, node) -> None:
            """Hand out the next unit only when the worker is down to one: a worker holds one
            unit besides the test it runs (it must know the next item), and xdist's own three
            let one worker queue two slow classes while the other runs out of work."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
            elif self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    config.option.loadscopereorder = False  # keep the order above
    return NotebooksWhole(config, log)
