"""One task's run on its node(s): start, watch, stop, as the node agent would.

A run is a list of ``Instance``s (one for a plain task, N for a multi-instance task), each
a launched command with an exit file. The task record's private part holds them
(``taskrun``), so a restarted engine picks every run up where it was. ``progress`` looks
at the exit files and says how the run ended (an ``Outcome``) once it has; it never blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shipyard.engine.agent import containers, execution
from shipyard.engine.agent.execution import NODE_ROOT, Node
from shipyard.engine.agent.taskrun import Instance, Phase
from shipyard.engine.model import wire
from shipyard.engine.model.docs import now
from shipyard.engine.model.multiinstance import MultiInstance
from shipyard.engine.model.states import ErrorCategory, SubtaskState, TaskResult
from shipyard.engine.store import Json
from shipyard.errors import NodeUnusableError, ShipyardError, StorageError

#: Port of the service's own agent in ``AZ_BATCH_MASTER_NODE`` (not for MPI).
MASTER_PORT = 6000

NodeLookup = Callable[[str, str], Node | None]


@dataclass(frozen=True)
class Outcome:
    """How a run ended: an exit code, or a failure with the service's code."""

    exit_code: int | None
    failure_code: str | None = None
    message: str = ""
    category: ErrorCategory = ErrorCategory.USER_ERROR
    retry: bool = True
    requeue: bool = False
    details: tuple[tuple[str, str], ...] = ()

    @property
    def success(self) -> bool:
        return self.exit_code == 0 and self.failure_code is None


def start_failure(error: BaseException) -> Outcome:
    """How a task that could not start ends: a transfer's own code, else a preparation one."""
    if isinstance(error, StorageError):
        return Outcome(None, error.code, error.message, retry=False,
                       details=tuple(error.details))
    return Outcome(None, "TaskPreparationFailed", str(error), retry=False)


def task_dir(job_id: str, task_id: str) -> PurePosixPath:
    return NODE_ROOT / "workitems" / job_id / "job-1" / task_id


def task_environment(base: dict[str, str], job: Json, task: Json,
                     directory: PurePosixPath) -> dict[str, str]:
    env = dict(base)
    env.update({
        "AZ_BATCH_JOB_ID": job["id"],
        "AZ_BATCH_TASK_ID": task["id"],
        "AZ_BATCH_TASK_DIR": str(directory),
        "AZ_BATCH_TASK_WORKING_DIR": str(directory / "wd"),
    })
    if job.get("jobPreparationTask"):
        prep = task_dir(job["id"], "jobpreparation")
        env["AZ_BATCH_JOB_PREP_DIR"] = str(prep)
        env["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(prep / "wd")
    env.update(execution.settings_env(job.get("commonEnvironmentSettings")))
    env.update(execution.settings_env(task.get("environmentSettings")))
    return env


def multi_instance_environment(nodes: list[Node], me: int,
                               directory: PurePosixPath) -> dict[str, str]:
    ips = [n.ip for n in nodes]
    return {
        "AZ_BATCH_HOST_LIST": ",".join(ips),
        "AZ_BATCH_NODE_LIST": ";".join(ips),
        "AZ_BATCH_MASTER_NODE": f"{ips[0]}:{MASTER_PORT}",
        "AZ_BATCH_IS_CURRENT_NODE_MASTER": "true" if me == 0 else "false",
        "CCP_NODES": " ".join([str(len(ips)), *(f"{ip} 1" for ip in ips)]),
        "AZ_BATCH_TASK_SHARED_DIR": str(directory),
        "AZ_BATCH_INSTANCE_ID": str(me),
    }


def start(job: Json, task: Json, multi: MultiInstance | None, nodes: list[Node],
          base_env: Callable[[Node], dict[str, str]]) -> list[Instance]:
    """Lay out the task dirs, fetch files and launch the first phase; the new instances."""
    directory = task_dir(job["id"], task["id"])
    instances: list[Instance] = []
    for index, node in enumerate(nodes):
        env = task_environment(base_env(node), job, task, directory)
        if multi:
            env.update(multi_instance_environment(nodes, index, directory))
        instances.append(Instance(index, node.pool_id, node.node_id, node.ip, env, now(),
                                  job["id"], task["id"]))
        try:
            execution.check_node(node)
            _prepare(node, index, task, multi, directory)
        except NodeUnusableError as exc:
            # Nothing runs anywhere: the task goes back to the queue (see node_faults).
            instances[-1].node_fault = str(exc)
            return instances
    coordination = multi.coordination if multi else None
    if not coordination:
        _launch(instances[0], nodes[0], task.get("commandLine", ""), directory,
                task.get("containerSettings"), Phase.APPLICATION)
        return instances
    # Every node's coordination command starts at once, as on the service.
    settings = task.get("containerSettings")
    with ThreadPoolExecutor(max_workers=len(nodes)) as workers:
        list(workers.map(lambda i: _launch(instances[i], nodes[i], coordination, directory,
                                           settings, Phase.COORDINATION, instance=True),
                         range(len(nodes))))
    return instances


def _prepare(node: Node, index: int, task: Json, multi: MultiInstance | None,
             directory: PurePosixPath) -> None:
    execution.prepare_dir(node, directory)
    if multi:
        execution.fetch_resource_files(node, list(multi.common_files), directory)
    if index == 0:
        execution.fetch_resource_files(node, task.get("resourceFiles"), directory / "wd")


def node_faults(instances: list[Instance]) -> list[Instance]:
    """Instances whose command never started because their node could not take it."""
    return [i for i in instances if i.node_fault]


def progress(task: Json, instances: list[Instance], lookup: NodeLookup) -> Outcome | None:
    """Advance a running task by what its exit files say; its Outcome once it has ended."""
    for item in instances:
        _observe(item)
    if node_faults(instances):
        return _node_fault_outcome(instances)
    if any(item.lost for item in instances):
        return Outcome(None, "NodeProcessLost", "A process of the task vanished without an "
                       "exit code (node or engine failure); the task is requeued",
                       category=ErrorCategory.SERVER_ERROR, requeue=True)
    primary = instances[0]
    coordinating = [i for i in instances if i.phase == Phase.COORDINATION]
    failed = [i for i in coordinating if i.code not in (None, 0)]
    if failed:
        code = failed[0].code
        return Outcome(code, "FailureExitCode", f"The coordination command of instance "
                       f"{failed[0].instance} exited with code {code}")
    if primary.phase == Phase.COORDINATION and all(i.code == 0 for i in coordinating):
        return _start_application(task, instances, lookup)
    if primary.phase == Phase.APPLICATION and primary.code is not None:
        return Outcome(primary.code)
    return None


def _start_application(task: Json, instances: list[Instance], lookup: NodeLookup
                       ) -> Outcome | None:
    """Every coordination command succeeded: the primary runs the task's command line."""
    primary = instances[0]
    node = lookup(primary.pool_id, primary.node_id)
    if node is None:
        return Outcome(None, "NodeUnusable", "The primary's node went away",
                       category=ErrorCategory.SERVER_ERROR, requeue=True)
    directory = task_dir(primary.job_id, primary.task_id)
    _launch(primary, node, task.get("commandLine", ""), directory,
            task.get("containerSettings"), Phase.APPLICATION, append=True, instance=True)
    return _node_fault_outcome(instances) if node_faults(instances) else None


def _node_fault_outcome(instances: list[Instance]) -> Outcome:
    return Outcome(None, "NodeUnusable", "A node of the task could not start its command "
                   f"({node_faults(instances)[0].node_fault}); the task is requeued",
                   category=ErrorCategory.SERVER_ERROR, requeue=True)


def deadline_passed(deadline: float | None) -> bool:
    return deadline is not None and time.time() > deadline


def deadline_for(task: Json) -> float | None:
    limit = wire.parse_duration((task.get("constraints") or {}).get(
        "maxWallClockTime", wire.INFINITE_WIRE))
    return None if wire.is_infinite(limit) else time.time() + limit.total_seconds()


def stop(instances: list[Instance], lookup: NodeLookup) -> None:
    """End every instance and whatever its commands left running; idempotent.

    An instance whose command already exited may still have background processes in its
    process group (a coordination command that started a daemon): they end with the task.
    """
    for item in instances:
        if item.launched is None:
            continue
        node = lookup(item.pool_id, item.node_id)
        for earlier in item.history:
            execution.kill(node, earlier)
        execution.kill(node, item.launched)
        if item.code is None:
            item.code = execution.read_exit(item.launched)
            item.end = now()


def remove_containers(instances: list[Instance], lookup: NodeLookup) -> None:
    """Remove what containers each instance's commands started on its (still usable) node."""
    for item in instances:
        node = lookup(item.pool_id, item.node_id)
        if node is not None and item.launched is not None:
            since = wire.parse_datetime(item.start).timestamp()
            execution.remove_containers_since(node, since)


def subtask_docs(instances: list[Instance], base_url: str, outcome_done: bool) -> list[Json]:
    """``subtasksinfo`` entries: every instance but the primary."""
    out = []
    for item in instances[1:]:
        # A subtask runs until the primary ends the task, unless it failed on its own.
        done = outcome_done or item.code not in (None, 0)
        entry: Json = {"id": item.instance, "nodeInfo": node_info(item, base_url),
                       "startTime": item.start,
                       "state": SubtaskState.COMPLETED if done else SubtaskState.RUNNING}
        if done:
            entry["endTime"] = item.end or now()
            entry["result"] = TaskResult.SUCCESS if item.code in (0, None) \
                else TaskResult.FAILURE
            if item.code is not None:
                entry["exitCode"] = item.code
        out.append(entry)
    return out


def node_info(item: Instance, base_url: str) -> Json:
    directory = task_dir(item.job_id, item.task_id).relative_to(NODE_ROOT)
    node_url = f"{base_url}/pools/{item.pool_id}/nodes/{item.node_id}"
    return {"affinityId": f"TVM:{item.node_id}", "nodeUrl": node_url,
            "poolId": item.pool_id, "nodeId": item.node_id,
            "taskRootDirectory": str(directory),
            "taskRootDirectoryUrl": f"{node_url}/files/{directory}"}


def _launch(item: Instance, node: Node, command: str, directory: PurePosixPath,
            container: dict[str, Any] | None, phase: Phase, append: bool = False,
            instance: bool = False) -> None:
    item.phase = phase
    item.code = None
    # A multi-instance container task runs both phases in the instance's own container.
    joined = ((containers.instance_name(item.job_id, item.task_id, item.instance),
               phase == Phase.COORDINATION) if instance and container else None)
    try:
        launched = execution.launch(node, command, item.env, directory, container, append,
                                    joined)
    except NodeUnusableError as exc:
        # Not the command's failure: it never ran. No exit code is made up for it.
        item.node_fault = str(exc)
        return
    except ShipyardError as exc:
        item.code = 127
        item.error = str(exc)
        return
    if item.launched is not None:
        # The primary's coordination run may have left processes behind: remember it.
        item.history.append(item.launched)
    item.launched = launched


def _observe(item: Instance) -> None:
    if item.code is not None or item.launched is None:
        return
    ended, code = execution.observe(item.launched)
    if not ended:
        return
    if code is None:
        item.lost = True
        return
    item.code = code
    item.end = now()
