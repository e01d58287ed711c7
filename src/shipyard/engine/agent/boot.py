"""Bringing one allocated node to ``idle``: its directories, then the pool's start task.

The start task runs on the node as the service runs it (see ``execution``): in
``startup/wd``, with the ``AZ_BATCH_*`` environment, its output in
``startup/stdout.txt`` and ``startup/stderr.txt``. The launched command outlives the
engine, so a restarted engine re-adopts it by its pid and exit file.
"""

from __future__ import annotations

import grp
import os
import time
from collections.abc import Callable
from pathlib import Path

from shipyard.engine.agent import execution
from shipyard.engine.agent.execution import NODE_ROOT, Launched, Node
from shipyard.engine.model.docs import now, set_node_state
from shipyard.engine.model.states import ErrorCategory, NodeState, StartTaskState, TaskResult
from shipyard.engine.nodes.users import ADMIN_GROUP
from shipyard.engine.store import Json, Record
from shipyard.errors import StorageError

#: Directories every Linux node has under its root, in the order the service lists them.
NODE_DIRS = ("applications", "workitems", "fsmounts", "volatile", "startup", "shared")
STARTUP = NODE_ROOT / "startup"


def prepare_node_dirs(batch_dir: Path) -> None:
    """Create the node's ``/mnt/batch/tasks`` layout on the host side of its bind mount.

    The root is writable by the node's admin users (the ``sudo`` group they join, see
    nodes/users.py): Batch Shipyard's ``data ingress`` with ``relative_destination_path``
    writes under ``$AZ_BATCH_NODE_ROOT_DIR`` as the pool's SSH user, an admin.
    """
    root = batch_dir / "tasks"
    for name in NODE_DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    admins_may_write(root)


def admins_may_write(directory: Path) -> None:
    """Let the node's admin users (group ``sudo``) write in ``directory``, as root's.

    Nodes copy the host's system groups (nodes/users.py), so the host's gid is the node's.
    """
    try:
        admins = grp.getgrnam(ADMIN_GROUP).gr_gid
    except KeyError:  # a host without the group: only root writes there
        return
    os.chown(directory, 0, admins)
    directory.chmod(0o775)


def start_task_environment(base: dict[str, str], start_task: Json) -> dict[str, str]:
    env = dict(base)
    env["AZ_BATCH_TASK_DIR"] = str(STARTUP)
    env["AZ_BATCH_TASK_WORKING_DIR"] = str(STARTUP / "wd")
    env["AZ_BATCH_NODE_STARTUP_WORKING_DIR"] = str(STARTUP / "wd")
    env.update(execution.settings_env(start_task.get("environmentSettings")))
    return env


def launch_start_task(node: Node, start_task: Json, env: dict[str, str]
                      ) -> Launched | StorageError:
    """The started start task, or the transfer error that kept it from starting."""
    execution.prepare_dir(node, STARTUP)
    try:
        execution.fetch_resource_files(node, start_task.get("resourceFiles"), STARTUP / "wd")
    except StorageError as exc:
        return exc
    return execution.launch(node, start_task.get("commandLine", ""), env, STARTUP,
                            start_task.get("containerSettings"))


def start_task_unfetched(record: Record, error: StorageError, wait: bool) -> None:
    """A start task whose resource files failed: completed with the service's failureInfo."""
    info = start_task_info(StartTaskState.COMPLETED, None, retries=0)
    info["failureInfo"] = {"category": ErrorCategory.USER_ERROR, "code": error.code,
                           "message": error.message,
                           "details": [{"name": k, "value": v} for k, v in error.details]}
    record.doc["startTaskInfo"] = info
    set_node_state(record.doc, NodeState.START_TASK_FAILED if wait else NodeState.IDLE)


def wait_exit(launched: Launched, should_stop: Callable[[], bool],
              poll: float = 0.2) -> int | None:
    """Wait until the launched command has exited; None if it vanished without an exit code."""
    while True:
        ended, code = execution.observe(launched)
        if ended:
            return code
        if should_stop():
            return None
        time.sleep(poll)


def start_task_info(state: StartTaskState, code: int | None = None,
                    started: str | None = None, retries: int = 0) -> Json:
    info: Json = {"state": state, "startTime": started or now(), "retryCount": retries}
    if state == StartTaskState.COMPLETED:
        info["endTime"] = now()
        if code is not None:
            info["exitCode"] = code
        info["result"] = TaskResult.SUCCESS if code == 0 else TaskResult.FAILURE
        if code != 0:
            info["failureInfo"] = {
                "category": ErrorCategory.USER_ERROR,
                "code": "FailureExitCode" if code is not None else "ProcessLost",
                "message": f"The task exited with exit code {code}" if code is not None
                else "The start task's process ended without an exit code",
            }
    return info


def mark_running(record: Record, launched: Launched, wait: bool, attempt: int) -> None:
    """A node record whose start task was just launched (attempt ``attempt``)."""
    record.private["start_task"] = launched.as_json()
    record.doc["startTaskInfo"] = start_task_info(StartTaskState.RUNNING, retries=attempt)
    set_node_state(record.doc, NodeState.WAITING_FOR_START_TASK if wait else NodeState.IDLE)


def mark_done(record: Record, code: int | None, wait: bool) -> None:
    """A node record whose start task ended with ``code``: idle, or starttaskfailed."""
    info = record.doc.get("startTaskInfo") or {}
    done = start_task_info(StartTaskState.COMPLETED, code, info.get("startTime"),
                           info.get("retryCount", 0))
    record.doc["startTaskInfo"] = done
    if record.doc["state"] == NodeState.WAITING_FOR_START_TASK or not wait:
        failed = code != 0 and wait
        set_node_state(record.doc, NodeState.START_TASK_FAILED if failed else NodeState.IDLE)
