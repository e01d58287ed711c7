"""Supervisor of one command launched on a node; stdlib only, run as ``python -c``.

Started detached as ``nsenter --target <dockerd> --net --mount --uts -- python -I -S -c
<this source> shipyard-node-runner`` (by source, not path: a node may hide the path) with
a JSON request on stdin::

    {"argv": [...], "env": {...}, "cwd": "...", "stdout": "...", "stderr": "...",
     "exit_file": "..."}

It opens the output files, forks the command (exec'd directly, no shell, with exactly
``env``), answers ``started <pid>`` on stdout (the engine's handshake) and then detaches
from the engine's pipes. It stays the leader of the process group it shares with the
command, so ``killpg`` reaches both; it survives SIGTERM itself to be able to record the
outcome. When the command ends, its exit code (128+N if killed by signal N, 127 if it could
not be found or its cwd is missing, 126 if it could not be executed) is written to
``exit_file`` atomically (tmp file + rename) as decimal text.

With the arguments ``agent <socket>`` it is the node's launch agent instead: started once
the same way, it stays in the node's namespaces and takes requests on a unix socket (the
JSON, then end of input), forking one supervisor per request that answers on that
connection. A fork costs about a millisecond where entering the node and starting Python
cost tens; the agent leaves by itself after ``AGENT_IDLE`` seconds without a request.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

_CANNOT_EXECUTE = (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.ETXTBSY)
AGENT_IDLE = 600.0


def exec_command(req: dict[str, Any], out_fd: int, err_fd: int) -> NoReturn:
    """In the forked child: wire up fds, reset signals, chdir, exec; never returns."""
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # Python ignores SIGPIPE and SIGXFSZ; exec keeps ignored signals, a task must not.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        argv = [str(a) for a in req["argv"]]
        os.chdir(req["cwd"])
        # execvpe searches the PATH of ``env`` (not ours), like a Batch node would.
        os.execvpe(argv[0], argv, {str(k): str(v) for k, v in req["env"].items()})
    except (OSError, IndexError) as exc:
        code = 126 if isinstance(exc, OSError) and exc.errno in _CANNOT_EXECUTE else 127
        what = req["argv"][0] if req["argv"] else "(empty command)"
        os.write(2, f"shipyard: cannot run {what!r} in {req['cwd']!r}: {exc}\n".encode())
        os._exit(code)
    os._exit(127)  # unreachable: exec either replaced us or raised


def open_output(path: str, append: bool) -> int:
    # Appending lets a multi-instance primary keep its coordination output before the
    # application's, in one stdout.txt.
    mode = os.O_APPEND if append else os.O_TRUNC
    return os.open(path, os.O_WRONLY | os.O_CREAT | mode | os.O_CLOEXEC, 0o644)


def write_exit(path: str, code: int) -> None:
    """Write ``code`` so a reader sees either no file or the whole number."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{code}\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def supervise(req: dict[str, Any], answer: Callable[[str], None]) -> int:
    append = bool(req.get("append", False))
    out_fd = open_output(req["stdout"], append)
    err_fd = out_fd if req["stderr"] == req["stdout"] else open_output(req["stderr"], append)
    # A no-op handler (not SIG_IGN, which exec would pass on) keeps us alive through the
    # group's SIGTERM so the exit code still gets recorded.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    child = os.fork()
    if child == 0:
        exec_command(req, out_fd, err_fd)
    answer(f"started {child}")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # closes the engine's pipes: it may be gone by now
    _, status = os.waitpid(child, 0)
    write_exit(req["exit_file"], exit_code(status))
    return 0


def say(text: str) -> None:
    print(text, flush=True)


def serve(path: str) -> int:
    """The launch agent: one supervisor per request on the unix socket ``path``."""
    # Supervisors are reaped by the kernel; each sets SIGCHLD back before it forks.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    server.bind(tmp)
    os.chmod(tmp, 0o600)
    server.listen(64)
    os.rename(tmp, path)  # the socket appears ready to take connections, or not at all
    server.settimeout(AGENT_IDLE)
    say("ready")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            break
        with conn:
            handle(conn, server)
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == os.fstat(server.fileno()).st_ino:
            os.unlink(path)
    return 0


def handle(conn: socket.socket, server: socket.socket) -> None:
    """Read one request from ``conn`` and fork its supervisor, which answers on ``conn``."""
    conn.settimeout(30)
    try:
        data = b"".join(iter(lambda: conn.recv(65536), b""))
        req = json.loads(data)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            conn.sendall(f"error: {exc}\n".encode())
        return
    if os.fork() != 0:
        return
    # The supervisor: its own session and process group, like a runner started by nsenter.
    code = 1
    try:
        server.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()

        def answer(text: str) -> None:
            # The engine keeps the supervisor's pid (ours), as it keeps a direct runner's.
            conn.sendall(f"{text} supervisor {os.getpid()}\n".encode())
            conn.close()

        code = supervise(req, answer)
    except (OSError, ValueError, KeyError) as exc:
        with contextlib.suppress(OSError):
            conn.sendall(f"error: {exc}\n".encode())
    finally:
        os._exit(code)


def main() -> int:
    os.chdir("/")  # never pin a directory the engine may remove
    if sys.argv[-2:-1] == ["agent"]:
        return serve(sys.argv[-1])
    try:
        req = json.load(sys.stdin)
        return supervise(req, say)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
