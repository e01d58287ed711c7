"""Bringing one allocated node to ``idle``: image preload, then the pool's start task.

The start task runs on the node as the service runs it: its command line split into argv
and executed without a shell, in ``startup/wd``, with the ``AZ_BATCH_*`` environment, its
output in ``startup/stdout.txt`` and ``startup/stderr.txt``. The launched command outlives
the engine, so a restarted engine re-adopts it by its pid and exit file.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.engine import nodes
from shipyard.engine.docs import now
from shipyard.engine.store import Json
from shipyard.errors import NodeError

log = logging.getLogger(__name__)

NODE_ROOT = Path("/mnt/batch/tasks")
#: Directories every Linux node has under its root, in the order the service lists them.
NODE_DIRS = ("applications", "workitems", "fsmounts", "volatile", "startup", "shared")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Launched:
    """A command started on a node: the supervisor's pid and where its exit code lands."""

    pid: int
    exit_file: Path


def node_environment(account: str, account_url: str, pool_id: str, node_id: str,
                     dedicated: bool) -> dict[str, str]:
    """The part of ``AZ_BATCH_*`` every command on a node sees."""
    return {
        "PATH": DEFAULT_PATH,
        "HOME": "/root",
        "AZ_BATCH_ACCOUNT_NAME": account,
        "AZ_BATCH_ACCOUNT_URL": account_url,
        "AZ_BATCH_POOL_ID": pool_id,
        "AZ_BATCH_NODE_ID": node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if dedicated else "false",
        "AZ_BATCH_NODE_ROOT_DIR": str(NODE_ROOT),
        "AZ_BATCH_NODE_SHARED_DIR": str(NODE_ROOT / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(NODE_ROOT / "startup"),
        "AZ_BATCH_NODE_MOUNTS_DIR": str(NODE_ROOT / "fsmounts"),
    }


def start_task_environment(base: dict[str, str], start_task: Json) -> dict[str, str]:
    env = dict(base)
    env["AZ_BATCH_TASK_DIR"] = str(NODE_ROOT / "startup")
    env["AZ_BATCH_TASK_WORKING_DIR"] = str(NODE_ROOT / "startup" / "wd")
    env["AZ_BATCH_NODE_STARTUP_WORKING_DIR"] = str(NODE_ROOT / "startup" / "wd")
    for setting in start_task.get("environmentSettings") or []:
        env[setting["name"]] = setting.get("value") or ""
    return env


def prepare_node_dirs(batch_dir: Path) -> None:
    """Create the node's ``/mnt/batch/tasks`` layout on the host side of its bind mount."""
    root = batch_dir / "tasks"
    for name in NODE_DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)


def launch_start_task(spec: nodes.NodeSpec, daemon_pid: int, start_task: Json,
                      env: dict[str, str]) -> Launched:
    startup = spec.batch_dir / "tasks" / "startup"
    (startup / "wd").mkdir(parents=True, exist_ok=True)
    exit_file = startup / ".exitcode"
    exit_file.unlink(missing_ok=True)
    argv = split_command_line(start_task.get("commandLine", ""))
    pid = nodes.launch(
        daemon_pid, argv, env, NODE_ROOT / "startup" / "wd",
        NODE_ROOT / "startup" / "stdout.txt", NODE_ROOT / "startup" / "stderr.txt",
        NODE_ROOT / "startup" / ".exitcode",
    )
    return Launched(pid, exit_file)


def split_command_line(command_line: str) -> list[str]:
    """Split as the node agent does: POSIX words, no shell, no expansion."""
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise NodeError(f"the command line cannot be split into words: {exc}") from exc
    if not argv:
        raise NodeError("the command line is empty")
    return argv


def wait_exit(launched: Launched, should_stop: Callable[[], bool],
              poll: float = 0.2) -> int | None:
    """Wait until the launched command has exited; None if it vanished without an exit code."""
    while True:
        code = nodes.read_exit(launched.exit_file)
        if code is not None:
            return code
        if not _pid_alive(launched.pid):
            # The supervisor writes the file before exiting; read once more to close the race.
            return nodes.read_exit(launched.exit_file)
        if should_stop():
            return None
        time.sleep(poll)


def start_task_info(state: str, code: int | None = None, started: str | None = None,
                    retries: int = 0) -> Json:
    info: Json = {"state": state, "startTime": started or now(), "retryCount": retries}
    if state == "completed":
        info["endTime"] = now()
        if code is not None:
            info["exitCode"] = code
        info["result"] = "success" if code == 0 else "failure"
        if code != 0:
            info["failureInfo"] = {
                "category": "usererror",
                "code": "FailureExitCode" if code is not None else "ProcessLost",
                "message": f"The task exited with exit code {code}" if code is not None
                else "The start task's process ended without an exit code",
            }
    return info


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # A zombie is as good as gone: its exit file is already written.
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
