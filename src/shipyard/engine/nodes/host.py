"""The one chokepoint for subprocesses of the node runtime (ip, iptables, nsenter, umount).

Every command is logged at debug level before it runs, and every failure becomes a
``CommandError`` carrying argv, exit code and the output tail, so a failed pool or node
operation always says which command broke and what it printed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from shipyard.errors import CommandError

log = logging.getLogger(__name__)

#: Detached children by pid, kept so that they are reaped (not left as zombies) once they
#: end; pruned on every spawn, as subprocess itself does for dropped Popen objects.
_detached: dict[int, subprocess.Popen[bytes]] = {}
_detached_lock = threading.Lock()

#: What processes we start get instead of the engine's environment: a daemon or a task
#: must not depend on whatever the engine happened to be started with.
CLEAN_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 60,
    input: str | None = None,
) -> str:
    """Run ``argv`` to completion and return its stdout and stderr, interleaved.

    Raises ``CommandError`` if it cannot start, times out, or (with ``check``) exits
    non-zero; without ``check`` a non-zero exit just returns the output.
    """
    log.debug("run: %s", " ".join(argv))
    try:
        done = subprocess.run(
            list(argv),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=dict(CLEAN_ENV),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else ""
        raise CommandError(argv, None, f"timed out after {timeout:g}s\n{out}") from exc
    except OSError as exc:
        raise CommandError(argv, None, str(exc)) from exc
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stdout)
    return done.stdout


def succeeds(argv: Sequence[str], *, timeout: float = 60) -> bool:
    """Whether ``argv`` exits 0; for probes such as ``iptables -C``."""
    log.debug("probe: %s", " ".join(argv))
    try:
        done = subprocess.run(
            list(argv),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            env=dict(CLEAN_ENV),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError(argv, None, str(exc)) from exc
    return done.returncode == 0


def spawn_detached(
    argv: Sequence[str],
    *,
    stdout: IO[bytes] | int,
    stderr: IO[bytes] | int,
    env: Mapping[str, str] | None = None,
    pipe_stdin: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session so it outlives the engine (even a ``kill -9``).

    The session makes it immune to the engine's process group and terminal signals; its
    cwd is ``/`` so it never pins a directory the engine later removes.
    """
    log.debug("spawn: %s", " ".join(argv))
    with _detached_lock:
        known = list(_detached)
    for pid in known:
        reap(pid)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if pipe_stdin else subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=dict(env if env is not None else CLEAN_ENV),
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise CommandError(argv, None, str(exc)) from exc
    with _detached_lock:
        _detached[proc.pid] = proc
    return proc


def reap(pid: int) -> bool:
    """If ``pid`` is a detached child of ours that ended, reap it; whether it ended.

    False for any pid we did not spawn (it may well have ended; see procs.gone).
    """
    with _detached_lock:
        proc = _detached.get(pid)
        if proc is None or proc.poll() is None:
            return False
        del _detached[pid]
    return True


def link_exists(name: str) -> bool:
    """Whether a network interface ``name`` exists in the host's namespace."""
    # /sys/class/net is the kernel's own list: no subprocess needed for a probe.
    return os.path.lexists(f"/sys/class/net/{name}")


def netns_path(name: str) -> Path:
    """Where ``ip netns`` keeps the bind mount that names a network namespace."""
    return Path("/var/run/netns") / name
