"""How the suite is spread over xdist's workers.

Order: the slow tests (nbgrader classes, the book) go to the workers first, then the solution
notebooks' cells (nbval), then the many quick tests, which fill in around them instead of
leaving one worker alone at the end.

Scheduling: each test is a unit of its own, except that the cells of one notebook stay
together on one worker, in order (they share a kernel). So `make test` runs tests/ and nbval
in one session on every core."""

import pytest


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
            return path if path.endswith(".ipynb") else nodeid

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
