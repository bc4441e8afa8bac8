"""lmcore.course.sandbox in each mode this machine allows: what a process started through
kernel_command can see, change and leave behind (a script in place of the kernel)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from lmcore.course import sandbox

SCRIPT = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys
    def can(action):
        try:
            action()
            return True
        except OSError:
            return False
    seen = dict(
        uid=os.getuid(),
        cwd=os.getcwd(),
        files=sorted(os.listdir(".")),
        secret=can(lambda: open(sys.argv[1] + "/secret.txt").read()),
        hidden=os.path.isdir(sys.argv[1]) and os.listdir(sys.argv[1]),
        write_kept=can(lambda: open(sys.argv[2] + "/new.txt", "w")),
        write_work=can(lambda: open("mine.txt", "w")),
        host_tmp=os.path.exists(sys.argv[3]),
        memory=resource.getrlimit(resource.RLIMIT_DATA)[0],
        files_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        env=sorted(os.environ),
    )
    daemon = "import os, time; os.setsid(); time.sleep(300)  # " + sys.argv[4]
    subprocess.Popen([sys.executable, "-c", daemon])
    print(json.dumps(seen), flush=True)
    """
)
LIMITS = sandbox.Limits(memory_bytes=2 << 30, open_files=256)


def left_behind(marker: str) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def available(mode: str) -> bool:
    env = {**os.environ, sandbox.MODE_ENV: mode}
    code = "from lmcore.course import sandbox; print(sandbox.isolation().mode)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip() == mode


def sandboxed(mode: str, argv: list[str], spec_path, log, wrap: str = "kernel_command") -> None:
    code = (
        "import subprocess, sys; from lmcore.course import sandbox; "
        f"argv = sandbox.{wrap}({argv!r}"
        + (f", {str(spec_path)!r})" if wrap == "kernel_command" else ")")
        + "; "
        "sys.exit(subprocess.call(argv))"
    )
    env = {**os.environ, sandbox.MODE_ENV: mode, sandbox.LOG_ENV: str(log), "SECRET_TOKEN": "x"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


@pytest.mark.parametrize("mode", ["root", "userns", "limits"])
def test_what_a_sandboxed_process_sees(mode, tmp_path):
    if not available(mode):
        pytest.skip(f"this machine does not allow the {mode!r} sandbox")
    course, kept, submission, scratch = (tmp_path / n for n in ("course", "kept", "submission", "scratch"))
    for folder in (course, kept, submission, scratch):
        folder.mkdir()
    (course / "secret.txt").write_text("answers")
    (submission / "A5.ipynb").write_text("{}")
    (tmp_path / "kept").chmod(0o755)
    host_tmp = tmp_path / "host-only"
    host_tmp.write_text("")
    marker = f"sandbox-test-{mode}-{os.getpid()}"
    spec = sandbox.KernelSpec(
        [str(course)], [sys.prefix, sys.base_prefix, str(kept)], str(submission), str(scratch), LIMITS
    )
    spec_path = sandbox.write_spec(spec, tmp_path / "spec.json")
    log = tmp_path / "log.txt"
    argv = [sys.executable, "-c", SCRIPT, str(course), str(kept), str(host_tmp), marker]
    sandboxed(mode, argv, spec_path, log)
    seen = json.loads(log.read_text().splitlines()[-1])
    assert seen["memory"] == LIMITS.memory_bytes and seen["files_limit"] == LIMITS.open_files
    assert "SECRET_TOKEN" not in seen["env"]  # the grader's environment does not leak in
    assert seen["files"] == ["A5.ipynb"] and seen["write_work"]  # a copy of the submission, its own
    daemons = left_behind(marker)
    for _ in range(50):  # the namespace's processes may take a moment to be reaped
        if not daemons or mode == "limits":
            break
        time.sleep(0.1)
        daemons = left_behind(marker)
    if mode == "limits":
        for p in daemons:
            p.kill()
        return
    assert not daemons, "a process the sandboxed one started outlived it"
    assert seen["cwd"] == sandbox.WORK
    assert not seen["secret"] and not seen["hidden"], "the hidden directory is visible"
    assert not seen["write_kept"], "a kept directory is writable"
    assert not seen["host_tmp"], "the sandbox shares /tmp with the grader"
    assert (seen["uid"] == sandbox.sandbox_ids()[0]) == (mode == "root")


@pytest.mark.parametrize("mode", ["root", "userns"])
def test_the_network_is_cut(mode, tmp_path):
    if not available(mode):
        pytest.skip(f"this machine does not allow the {mode!r} sandbox")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0)
    port = listener.getsockname()[1]
    script = textwrap.dedent(
        f"""
        import socket, sys
        for address in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
            try:
                socket.create_connection(address, timeout=2)
                sys.exit(f"reached {{address}}")
            except OSError:
                pass
        socket.create_server(("127.0.0.1", 0))  # its own loopback works: the kernel's sockets need it
        """
    )
    sandboxed(mode, [sys.executable, "-c", script], None, tmp_path / "log", wrap="net_isolated")
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_an_unknown_mode_is_a_clear_error():
    env = {**os.environ, sandbox.MODE_ENV: "docker"}
    code = "from lmcore.course import sandbox; sandbox.isolation()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "LMCORE_SANDBOX='docker': expected userns or limits" in out.stderr
