"""The untrusted half of grading, run inside the student's kernel where a test cell stood.

The grader (lmcore.grading.execute) sends one line per graded test cell::

    __import__("lmcore.grading.kernel_probe", fromlist=["run"]).run("attention", True, "/.../attention-1.pt")

``run`` loads the cases the grader wrote, runs the part's probe on the component the notebook
defined, and publishes the outputs (plain tensors and Python values, saved with torch.save)
as one display message of type MIME. The grader loads them with ``weights_only=True`` and
judges them in its own process; nothing else crosses back. The student's code may replace
anything here: it can only change what outputs are judged, and matching the reference's
outputs is computing them.
"""

import base64
import io

import torch

from lmcore.grading.registry import PARTS

MIME = "application/vnd.lmcore.probe+base64"


def run(part: str, thorough: bool, request_path: str) -> None:
    from IPython import get_ipython
    from IPython.display import publish_display_data

    case = torch.load(request_path, weights_only=False)  # written by the grader
    try:
        outputs = probe_outputs(part, thorough, case, get_ipython().user_ns)
    except BaseException as exc:  # SystemExit, a timeout's KeyboardInterrupt: this part fails alone
        outputs = {"probe_error": f"{type(exc).__name__}: {exc}"}
    buffer = io.BytesIO()
    torch.save(outputs, buffer)
    publish_display_data({MIME: base64.b64encode(buffer.getvalue()).decode()})


def probe_outputs(part: str, thorough: bool, case, namespace: dict) -> dict:
    """Untrusted: the part's probe (and, when thorough, its delegation trace) on what the
    notebook defined; a name it never defined fails every step that needs it."""
    spec = PARTS[part]
    return spec.outputs(spec.implementation(namespace), case, thorough)
