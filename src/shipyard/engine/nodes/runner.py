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
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from typing import Any, NoReturn

_CANNOT_EXECUTE = (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.ETXTBSY)


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


def supervise(req: dict[str, Any]) -> int:
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
    print(f"started {child}", flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # closes the engine's pipes: it may be gone by now
    _, status = os.waitpid(child, 0)
    write_exit(req["exit_file"], exit_code(status))
    return 0


def main() -> int:
    os.chdir("/")  # never pin a directory the engine may remove
    try:
        req = json.load(sys.stdin)
        return supervise(req)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
