"""Running commands "on a node": detached, exec'd directly, with an exit file.

``launch`` enters the node's network, mount and UTS namespaces through its dockerd pid and
starts ``runner.py`` (see there) as a session leader, so the command outlives the engine.
Given the node's home, it asks the node's launch agent instead (the same runner, kept
running in the node and reached through a unix socket in the home), which saves entering
the node and starting Python for every command; when the agent cannot be used, the direct
way is taken. The engine keeps the returned supervisor pid, polls ``read_exit`` and may
``kill_launched``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shipyard.engine.nodes import host, procs
from shipyard.engine.nodes.daemon import NODE_PRIVATE
from shipyard.engine.nodes.images import key_lock
from shipyard.engine.nodes.nodeinit import under
from shipyard.errors import CommandError, NodeError, NodeUnusableError

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("runner.py")
#: The runner's source travels in argv (``python -c``): inside a node its file may be
#: hidden, since the node mounts its own /tmp, /run and /dev/shm over wherever the project
#: lives. The mark identifies our runners in /proc before anything is signalled.
RUNNER_SOURCE = RUNNER.read_text()
RUNNER_MARK = "shipyard-node-runner"
HANDSHAKE_TIMEOUT = 30.0
#: The agent's socket is named after the runner's source, so an engine with another
#: runner never talks to an agent of the old one (which leaves when idle).
AGENT_SOCKET = f"agent-{hashlib.sha256(RUNNER_SOURCE.encode()).hexdigest()[:12]}.sock"
#: Agents that would not start (monotonic time): launches go direct for a while instead
#: of trying again for every command. Single dict reads and writes need no lock.
_agent_failed: dict[Path, float] = {}
AGENT_RETRY_AFTER = 60.0


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
    home: Path | None = None,
) -> int:
    """Start ``argv`` on the node whose dockerd is ``spec_pid``; return the supervisor pid.

    Paths are resolved on the node (``/mnt/batch/...``, or host paths under the node's
    home, which the node sees too). A missing command is not an error here: it exits 127
    with the reason in ``stderr``. With ``home``, the node's launch agent there is used
    (started if needed). NodeUnusableError means the node could not take the command:
    nothing of the command ran, and that is the node's fault, never the command's.
    """
    what = f"cannot launch {argv[:1]} on node pid {spec_pid}"
    if procs.gone(spec_pid):
        raise NodeUnusableError(f"{what}: the node's daemon is not running")
    try:
        return _launch(spec_pid, argv, what, home, json.dumps({
            "argv": argv, "env": env, "cwd": str(cwd), "stdout": str(stdout),
            "stderr": str(stderr), "exit_file": str(exit_file), "append": append}).encode())
    except NodeUnusableError:
        raise
    except (NodeError, OSError) as exc:  # OSError: e.g. the agent's socket path broken
        raise NodeUnusableError(f"{what}: {exc}") from exc


def _launch(spec_pid: int, argv: list[str], what: str, home: Path | None,
            request: bytes) -> int:
    answer = _via_agent(spec_pid, home / AGENT_SOCKET, request) if home else None
    if answer is not None:
        pid = _started_pid(answer, what)
    else:
        pid, answer = _direct(spec_pid, request, what)
    log.debug("launched %s as supervisor %d (%s)", argv[:1], pid, answer.strip())
    return pid


def _direct(spec_pid: int, request: bytes, what: str) -> tuple[int, str]:
    """Enter the node and start a runner for this one request."""
    try:
        pid, answer = _start_runner(_runner_argv(spec_pid), request)
    except (CommandError, OSError) as exc:
        raise NodeError(f"{what}: {exc}") from exc
    if not answer.startswith("started "):
        procs.terminate([pid], grace=1)
        raise NodeError(f"{what}: {answer.strip() or 'no answer from the runner'}")
    return pid, answer


def _started_pid(answer: str, what: str) -> int:
    """The supervisor pid in an agent's ``started <command> supervisor <pid>``."""
    words = answer.split()
    if len(words) != 4 or words[0] != "started" or words[2] != "supervisor":
        raise NodeError(f"{what}: {answer.strip() or 'no answer from the launch agent'}")
    return int(words[3])


def _runner_argv(spec_pid: int, *extra: str) -> list[str]:
    return ["nsenter", f"--target={spec_pid}", "--net", "--mount", "--uts", "--",
            node_python(), "-I", "-S", "-c", RUNNER_SOURCE, RUNNER_MARK, *extra]


def _via_agent(spec_pid: int, path: Path, request: bytes) -> str | None:
    """The agent's answer to ``request``; None if no agent could take it (go direct)."""
    if time.monotonic() < _agent_failed.get(path, 0.0):
        return None
    for attempt in range(2):
        try:
            return _ask_agent(path, request)
        except (FileNotFoundError, ConnectionRefusedError):
            if attempt == 0:
                with key_lock(str(path)):  # one start per agent, whichever thread asks
                    if not agent_answers(path) and not _start_agent(spec_pid, path):
                        _give_up_on(path)
                        return None
        except OSError as exc:  # e.g. a socket path longer than AF_UNIX allows
            log.warning("launch agent %s failed (%s); launching directly", path, exc)
            _give_up_on(path)
            return None
    return None


def _give_up_on(path: Path) -> None:
    _agent_failed[path] = time.monotonic() + AGENT_RETRY_AFTER


def _ask_agent(path: Path, request: bytes) -> str:
    """The agent's answer. Errors while connecting are OSError (nothing was started, going
    direct is safe); once the request is sent, a failure is a NodeError, since the command
    may have started and must not be launched a second time."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(HANDSHAKE_TIMEOUT)
        conn.connect(str(path))
        try:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
            return b"".join(iter(lambda: conn.recv(4096), b"")).decode(errors="replace")
        except OSError as exc:
            raise NodeError(f"the launch agent {path} took the request but did not answer: "
                            f"{exc}") from exc


def agent_answers(path: Path) -> bool:
    """Whether a launch agent accepts connections on ``path`` (the chaos soak asks it too)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(path))
        except OSError:
            return False
    return True


def _start_agent(spec_pid: int, path: Path) -> bool:
    """Start the node's agent; whether it said it is ready."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a dead agent's socket
    try:
        proc = host.spawn_detached(_runner_argv(spec_pid, "agent", str(path)),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except CommandError as exc:
        log.warning("cannot start the launch agent %s: %s", path, exc)
        return False
    assert proc.stdout is not None
    with proc.stdout:
        answer = _read_until_eof(proc.stdout.fileno(), HANDSHAKE_TIMEOUT)
    if answer.strip() != "ready":
        log.warning("launch agent %s did not start: %s", path, answer.strip()[-300:])
        procs.terminate([proc.pid], grace=1)
        return False
    return True


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
    except (FileNotFoundError, NotADirectoryError):  # not yet, or the node's home went
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
    if not _group_exists(pid):
        return  # the usual end of a finished task: one syscall instead of scanning /proc
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


def _group_exists(pgid: int) -> bool:
    """Whether any process (a zombie included) is in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
