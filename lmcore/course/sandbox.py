"""Run a student's kernel where it cannot reach the course: Linux namespaces, an unprivileged
user and resource limits, from what the platform provides (util-linux ``unshare``, ``mount(2)``,
``setuid``, ``setrlimit``), not a sandbox of our own making.

What a kernel started through :func:`kernel_command` gets, when the grader is root:

* its own PID namespace: the kernel's launcher is process 1, so every process the student
  starts, however it detaches, is killed when the kernel exits or its launcher is killed;
* its own mount namespace: the course directory, the repository (solutions/, the release,
  the gradebook, other students' files, the config, lmcore's sources) and every path given to
  hide are covered by empty directories; the Python environment, lmcore and the probe
  requests are mounted back read-only, so lmcore can be imported but not changed; /tmp,
  /var/tmp and /dev/shm are a fresh size-limited tmpfs; the submission is a copy in
  /tmp/submission, the working directory;
* the user ``lmcore-grader`` (created on first use, no login, no home), no supplementary
  groups, no capabilities;
* limits (:class:`Limits`): memory (RLIMIT_DATA, which leaves CUDA's address reservations
  alone), CPU seconds, processes and threads, open files, the size of any file written; no
  core dumps;
* a minimal environment (no tokens or paths of the grader's leak in) and stdin/stdout/stderr
  on /dev/null, so nothing it leaves behind can hold the grader's pipes open.

The network is cut one level up: :func:`net_isolated` runs the grading process (nbgrader and
its kernels) in a network namespace with only a loopback interface, which the kernel's
ZeroMQ sockets need.

When the grader is not root, the same namespaces are made inside an unprivileged user
namespace where the kernel allows one (``unshare --user``): paths are hidden and the network
is cut, but the student's code runs as the grader's own user, so files of that user outside
the hidden paths stay writable. Where neither works, only the limits and the process-group
kill apply; :func:`isolation` says which case holds, and README.md what an instructor should
do then.

    python -m lmcore.course.sandbox                 # prints what this machine allows
"""

import ctypes
import functools
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

SANDBOX_USER = "lmcore-grader"
WORK = "/tmp/submission"  # the kernel's working directory inside the sandbox
HOME = "/tmp/home"
FRESH_TMP = ("/tmp", "/var/tmp", "/dev/shm")
# the variables a kernel may inherit; everything else (tokens, the grader's paths) is dropped
ENV_KEEP = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "NBGRADER_EXECUTION",
    "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES",
)
# (not JPY_PARENT_PID: the kernel would take its parent, process 1 of the namespace, for gone)
ENV_KEEP_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "NVIDIA_", "PYDEVD_")
GiB, MiB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits; every kernel of a submission (a restart too) gets them afresh."""

    memory_bytes: int = 6 * GiB  # RLIMIT_DATA: heap and private mappings
    cpu_seconds: int = 3600  # RLIMIT_CPU, summed over the kernel's threads
    processes: int = 512  # RLIMIT_NPROC: processes and threads of the sandbox user
    open_files: int = 1024
    file_bytes: int = 256 * MiB  # RLIMIT_FSIZE: no single file written may be larger
    tmp_bytes: int = 512 * MiB  # size of the private /tmp (held in memory)


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the grader do. mode: "root" (everything in the module docstring),
    "userns" (namespaces without a user switch) or "limits" (resource limits only)."""

    mode: str
    user: str | None
    why: str = ""


@dataclass
class KernelSpec:
    """Everything the launcher inside the namespaces needs, written to a root-owned JSON file."""

    hide: list[str]  # directories covered by an empty tmpfs
    keep: list[str]  # directories mounted back read-only (the interpreter, lmcore, requests; the submission)
    submission: str  # directory copied to WORK
    scratch: str  # a private directory of the grader's: WORK and HOME without namespaces
    limits: Limits = field(default_factory=Limits)


def _run_quietly(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _in_user_namespace() -> bool:
    """True inside a user namespace that maps only part of the uid range (as here, under
    `unshare --user`): root there cannot switch to another real user."""
    try:
        first = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    return first[:3] != ["0", "0", "4294967295"]


LOG_ENV = "LMCORE_SANDBOX_LOG"
MODE_ENV = "LMCORE_SANDBOX"  # "userns" or "limits": use less than the machine allows (tests, opting out)


@functools.cache
def isolation() -> Isolation:
    wanted = os.environ.get(MODE_ENV, "")
    if wanted not in ("", "root", "userns", "limits"):
        raise ValueError(f"{MODE_ENV}={wanted!r}: expected userns or limits (or nothing)")
    if wanted == "limits":
        return Isolation("limits", None, f"{MODE_ENV}=limits")
    if os.geteuid() == 0 and not _in_user_namespace() and wanted != "userns":
        if _run_quietly(["unshare", "--mount", "--pid", "--fork", "--net", "true"]):
            return Isolation("root", SANDBOX_USER)
        return Isolation(
            "limits", None, "unshare failed although the grader is root (a container without CAP_SYS_ADMIN?)"
        )
    if _run_quietly(["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--net", "true"]):
        return Isolation("userns", None, "the grader is not root: student code runs as the grader's own user")
    return Isolation(
        "limits", None, "the grader is not root and the kernel allows no unprivileged user namespaces"
    )


def sandbox_ids() -> tuple[int, int]:
    """uid and gid of the sandbox user, creating it (a system user without login) when missing."""
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "--user-group", SANDBOX_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SANDBOX_USER)
    return entry.pw_uid, entry.pw_gid


def _itself() -> list[str]:
    """This file run as a script: it needs only the standard library, and importing the lmcore
    package (and torch with it) would add a second to every student's grading."""
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve())]


def net_isolated(argv: list[str]) -> list[str]:
    """argv run in a network namespace of its own with loopback up (nothing else reachable)."""
    mode = isolation().mode
    if mode == "limits":
        return argv
    user = ["--user", "--map-root-user"] if mode == "userns" else []
    return ["unshare", *user, "--net", "--", *_itself(), "netns", "--", *argv]


def kernel_command(argv: list[str], spec_path: str | Path) -> list[str]:
    """A kernel's command line wrapped in the sandbox described by the KernelSpec at spec_path.
    Without namespaces, the launcher still applies the limits and the minimal environment."""
    mode = isolation().mode
    # the launcher is told the mode: finding it out again would cost each kernel a trial unshare
    launcher = [*_itself(), "kernel", mode, str(spec_path), "--", *argv]
    if mode == "limits":
        return launcher
    # with --kill-child, the launcher (process 1 of the new PID namespace) dies with unshare,
    # and everything else in the namespace with it
    user = ["--user", "--map-root-user"] if mode == "userns" and not _in_user_namespace() else []
    return ["unshare", *user, "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--", *launcher]


def write_spec(spec: KernelSpec, path: Path) -> Path:
    path.write_text(json.dumps(asdict(spec)))
    path.chmod(0o600)
    return path


# ------------------------------------------------------------------ inside the namespaces

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
ST_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _read_only(path: str) -> None:
    # a remount must repeat the flags the original mount has (required in a user namespace)
    kept = sum(ms for st, ms in ST_FLAGS.items() if os.statvfs(path).f_flag & st)
    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _closed_ancestors(path: str) -> list[str]:
    """The directories above path that others may not enter (o-x), such as /root."""
    parents = [str(p) for p in Path(path).parents if str(p) != "/"]
    return [p for p in parents if not os.stat(p).st_mode & 0o001]


def _build_view(spec: dict, tmp_bytes: int, other_user: bool) -> None:
    """Hide spec["hide"] and the temporary directories behind empty tmpfs mounts, then put the
    kept directories back, read-only, at their own paths. For another user, a directory it may
    not enter above a kept one is hidden too, so that the kept one is reachable."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = sorted({os.path.realpath(k) for k in [*spec["keep"], spec["submission"]] if os.path.isdir(k)})
    # handles opened before anything is hidden; /proc/self/fd/N still reaches the directory
    handles = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep}
    closed = [a for k in keep for a in _closed_ancestors(k)] if other_user else []
    hide = sorted({os.path.realpath(h) for h in [*spec["hide"], *closed] if os.path.isdir(h)}, key=len)
    for path in hide:
        if not any(_under(path, outer) for outer in hide if outer != path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in FRESH_TMP:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")
    for path, handle in handles.items():
        os.makedirs(path, exist_ok=True)  # on a tmpfs that hides one of its parents
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        _read_only(path)
        os.close(handle)


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _apply_limits(limits: dict) -> None:
    for rlimit, value in [
        (resource.RLIMIT_DATA, limits["memory_bytes"]),
        (resource.RLIMIT_CPU, limits["cpu_seconds"]),
        (resource.RLIMIT_NPROC, limits["processes"]),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_FSIZE, limits["file_bytes"]),
        (resource.RLIMIT_CORE, 0),
    ]:
        hard = resource.getrlimit(rlimit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(rlimit, (value, value))


def _kernel_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        HOME=HOME,
        TMPDIR="/tmp",
        MPLCONFIGDIR=f"{HOME}/.matplotlib",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.setdefault("LANG", "C.UTF-8")
    return env


def _connection_file(argv: list[str], content: bytes | None, owner: tuple[int, int] | None) -> list[str]:
    """Write the kernel's connection file (read from the grader's private runtime directory
    before it was hidden) where the kernel can read it, and point the kernel at the copy."""
    if content is None:
        return argv
    i = argv.index("-f") + 1
    target = Path(HOME) / "kernel.json"
    target.write_bytes(content)
    target.chmod(0o600)
    if owner:
        os.chown(target, *owner)
    return argv[:i] + [str(target)] + argv[i + 1 :]


def _launch_kernel(mode: str, spec_path: str, argv: list[str]) -> int:
    spec = json.loads(Path(spec_path).read_text())
    limits = spec["limits"]
    owner = sandbox_ids() if mode == "root" else None
    connection = Path(argv[argv.index("-f") + 1]).read_bytes() if "-f" in argv else None
    # the kernel's stdin, stdout and stderr: /dev/null, or a log opened here, before anything is
    # hidden (LMCORE_SANDBOX_LOG, for debugging the sandbox and for its tests)
    log = os.open(os.environ.get(LOG_ENV) or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if mode != "limits":
        _build_view(spec, limits["tmp_bytes"], other_user=owner is not None)
        work, home = Path(WORK), Path(HOME)
    else:  # no namespaces: the grader's private scratch directory
        work, home = Path(spec["scratch"]) / "submission", Path(spec["scratch"]) / "home"
    shutil.copytree(spec["submission"], work, dirs_exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    if owner:
        for path in [work, home, *work.rglob("*")]:
            os.chown(path, *owner, follow_symlinks=False)
    argv = _connection_file(argv, connection, owner) if mode != "limits" else argv
    env = _kernel_env()
    if mode == "limits":
        env.update(HOME=str(home), MPLCONFIGDIR=str(home / ".matplotlib"))
    pid = os.fork()
    if pid == 0:  # the kernel
        try:
            if owner:
                _drop_privileges(*owner)
            _apply_limits(limits)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(work)
            os.execve(argv[0], argv, env)
        except BaseException as exc:  # nothing to report to but the exit status
            os.write(2, f"lmcore.course.sandbox: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(127)
    # process 1 of the namespace: reap every orphan, leave with the kernel. The interrupt that
    # jupyter_client sends the kernel's process group is for the kernel, not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            return 0
        if child == pid:
            return os.waitstatus_to_exitcode(status)


def _loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: SIOCSIFFLAGS with IFF_UP | IFF_LOOPBACK."""
    import fcntl

    siocsifflags, iff_up, iff_loopback, iff_running = 0x8914, 0x1, 0x8, 0x40
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", iff_up | iff_loopback | iff_running))


def main(argv: list[str]) -> int:
    if argv[:1] == ["netns"] and argv[1:2] == ["--"]:
        _loopback_up()
        os.execvp(argv[2], argv[2:])
    if argv[:1] == ["kernel"] and argv[1:2] in (["root"], ["userns"], ["limits"]) and argv[3:4] == ["--"]:
        return _launch_kernel(argv[1], argv[2], argv[4:])
    info = isolation()
    print(f"isolation: {info.mode}" + (f" (student code runs as {info.user})" if info.user else ""))
    if info.why:
        print(f"  {info.why}")
    print(f"limits per kernel: {Limits()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
