"""Expensive fixtures built once per test session, however many xdist workers ask for them.

The first worker to take the lock builds into a directory shared by the session and writes a
JSON result next to it; the others wait for the lock and read that result (the pattern
pytest-xdist documents, with filelock). Without xdist, the session's own temporary directory
is the shared one.

    result = once_per_session(tmp_path_factory, "toy-class", lambda directory: {...})
"""

import json
import os
import shutil

from filelock import FileLock


def once_per_session(tmp_path_factory, name: str, build) -> dict:
    """build(directory) -> a JSON-serializable dict, computed by one worker per session."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    directory, result = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not result.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a worker that failed before us
            directory.mkdir()
            result.write_text(json.dumps(build(directory)))
    return json.loads(result.read_text())
