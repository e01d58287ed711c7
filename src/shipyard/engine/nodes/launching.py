"""Running commands "on a node": detached, exec'd directly, with an exit file.

``launch`` enters the node's network, mount and UTS namespaces through its dockerd pid and
starts ``runner.py`` (see there) as a session leader, so the command outlives the engine.
The engine keeps the returned supervisor pid, polls ``read_exit`` and may ``kill_launched``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from shipyard.engine.nodes import host, procs
from shipyard.engine.nodes.daemon import NODE_PRIVATE
from shipyard.engine.nodes.nodeinit import under
from shipyard.errors import CommandError, NodeError

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("runner.py")
#: The runner's source travels in argv (``python -c``): inside a node its file may be
#: hidden, since the node mounts its own /tmp, /run and /dev/shm over wherever the project
#: lives. The mark identifies our runners in /proc before anything is signalled.
RUNNER_SOURCE = RUNNER.read_text()
RUNNER_MARK = "shipyard-node-runner"
HANDSHAKE_TIMEOUT = 30.0


def node_python() -> str:
    """A Python the node can see: the interpreter behind this one, unless the node hides it."""
    real = os.path.realpath(sys.executable)
    if not any(under(real, private) for private in NODE_PRIVATE):
        return real
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    raise NodeError(f"the engine's Python ({real}) lies where nodes mount their own "
                    "directories and no system python3 exists",
                    hint="install python3 from Debian's packages (scripts/setup)")


def launch(
    spec_pid: int,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    stdout: Path,
    stderr: Path,
    exit_file: Path,
    append: bool = False,
) -> int:
    """Start ``argv`` on the node whose dockerd is ``spec_pid``; return the supervisor pid.

    Paths are resolved on the node (``/mnt/batch/...``, or host paths under the node's
    home, which the node sees too). A missing command is not an error here: it exits 127
    with the reason in ``stderr``. NodeError means the node could not be entered.
    """
    what = f"cannot launch {argv[:1]} on node pid {spec_pid}"
    if procs.gone(spec_pid):
        raise NodeError(f"{what}: the node's daemon is not running")
    request = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(stdout),
               "stderr": str(stderr), "exit_file": str(exit_file), "append": append}
    command = ["nsenter", f"--target={spec_pid}", "--net", "--mount", "--uts", "--",
               node_python(), "-I", "-S", "-c", RUNNER_SOURCE, RUNNER_MARK]
    try:
        pid, answer = _start_runner(command, json.dumps(request).encode())
    except (CommandError, OSError) as exc:
        raise NodeError(f"{what}: {exc}") from exc
    if not answer.startswith("started "):
        procs.terminate([pid], grace=1)
        raise NodeError(f"{what}: {answer.strip() or 'no answer from the runner'}")
    log.debug("launched %s as supervisor %d (%s)", argv[:1], pid, answer.strip())
    return pid


def _start_runner(command: list[str], request: bytes) -> tuple[int, str]:
    """Spawn the runner, hand it ``request``; its pid and its handshake answer."""
    proc = host.spawn_detached(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               pipe_stdin=True)
    assert proc.stdin is not None and proc.stdout is not None
    # The request goes through a pipe, not argv: /proc/<pid>/cmdline is world-readable
    # and task environments carry secrets.
    try:
        with proc.stdin:
            proc.stdin.write(request)
    except BrokenPipeError:
        pass  # it died before reading: its output below says why
    with proc.stdout:
        return proc.pid, _read_until_eof(proc.stdout.fileno(), HANDSHAKE_TIMEOUT)


def _read_until_eof(fd: int, timeout: float) -> str:
    """Everything written to ``fd`` until its writer closes it, at most ``timeout``."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def read_exit(exit_file: Path) -> int | None:
    """The exit code a finished command left in ``exit_file``; None while it runs."""
    try:
        text = exit_file.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError as exc:
        # The runner renames a complete file into place, so this is corruption.
        raise NodeError(f"exit file {exit_file} holds {text!r}, not an exit code") from exc


def group_members(pgid: int) -> set[int]:
    """Live processes in process group ``pgid``."""
    return {p.pid for p in procs.all_procs() if p.pgrp == pgid and p.state not in "ZX"}


def kill_launched(pid: int, grace: float = 10) -> None:
    """End the command launched under supervisor ``pid`` and its whole process group.

    SIGTERM to the group, then SIGKILL to what is left of the group except the supervisor,
    so the supervisor still writes the exit code (137) before it ends. Idempotent.
    """
    leader = procs.proc_stat(pid)
    if leader is not None and leader.state not in "ZX" and RUNNER_MARK not in procs.cmdline(pid):
        # While any member lives a pgid cannot be reused, but a live leader could be a
        # new process that got the number: only our runner may be signalled.
        log.warning("pid %d is not a shipyard runner; not killing it", pid)
        return
    _killpg(pid, signal.SIGTERM)
    left = procs.wait_gone(group_members(pid) - {pid}, grace)
    if left:
        procs.signal_all(left, signal.SIGKILL)
    if procs.wait_gone({pid} | group_members(pid), 10):
        _killpg(pid, signal.SIGKILL)
        procs.wait_gone({pid} | group_members(pid), 5)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
