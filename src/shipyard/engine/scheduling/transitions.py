"""Task state transitions the scheduler applies inside one store write each.

Each function changes one task record in place (through ``Store.mutate``), so a state and
everything that must move with it (times, counts, dependency action, run bookkeeping)
change together or not at all.
"""

from __future__ import annotations

import time

from shipyard.engine.agent import runs
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.agent.taskrun import Instance, TaskRun
from shipyard.engine.model import docs, wire
from shipyard.engine.model.states import ErrorCategory, TaskResult, TaskState
from shipyard.engine.store import Json, Record


def started(record: Record, instances: list[Instance], base_url: str) -> None:
    docs.set_state(record.doc, TaskState.RUNNING)
    info = record.doc.setdefault("executionInfo", {})
    # The run began when its instances were laid out, not when the last coordination
    # launch returned (seconds later on a busy machine with many instances).
    info["startTime"] = instances[0].start if instances else docs.now()
    run = TaskRun.of(record)
    if run.retry_pending:
        info["retryCount"] = int(info.get("retryCount") or 0) + 1
        info["lastRetryTime"] = info["startTime"]
    for key in ("endTime", "exitCode", "result", "failureInfo"):
        info.pop(key, None)
    if instances:
        record.doc["nodeInfo"] = runs.node_info(instances[0], base_url)
    run.retry_pending, run.instances, run.assigned = False, instances, []
    run.deadline = runs.deadline_for(record.doc)
    run.save(record)


def retry(record: Record) -> None:
    # retryCount counts retries that started, so it moves when the task runs again.
    docs.set_state(record.doc, TaskState.ACTIVE)
    run = TaskRun.of(record)
    run.retry_pending, run.instances = True, []
    run.save(record)


def to_active(record: Record, requeue: bool) -> None:
    """Back to the queue without a retry; a requeue (the node's fault) is counted."""
    docs.set_state(record.doc, TaskState.ACTIVE)
    info = record.doc.setdefault("executionInfo", {})
    if requeue:
        info["requeueCount"] = int(info.get("requeueCount") or 0) + 1
    run = TaskRun.of(record)
    run.instances, run.assigned = [], []
    run.save(record)


def prepare(record: Record, nodes: list[tuple[str, str]]) -> None:
    """Placed on ``nodes``, waiting for the job preparation task there."""
    docs.set_state(record.doc, TaskState.PREPARING)
    run = TaskRun.of(record)
    run.assigned = nodes
    run.save(record)


def complete(record: Record, outcome: Outcome | None, subtasks: list[Json],
             dependency: str) -> None:
    docs.set_state(record.doc, TaskState.COMPLETED)
    info = record.doc.setdefault("executionInfo", {})
    info["endTime"] = docs.now()
    run = TaskRun.of(record)
    run.dependency, run.subtasks = dependency, subtasks
    _ended(info, outcome)
    if outcome is not None:  # a task ended while queued gets no retention clock
        run.retain_until = time.time() + wire.parse_duration(
            (record.doc.get("constraints") or {}).get("retentionTime", "P7D")).total_seconds()
    run.save(record)


def _ended(info: Json, outcome: Outcome | None) -> None:
    """A completed task's result, exit code and failure in its ``executionInfo``."""
    if outcome is None:
        info["result"] = TaskResult.FAILURE
        info["failureInfo"] = {"category": ErrorCategory.USER_ERROR, "code": "TaskEnded",
                               "message": "The task was terminated before it ran"}
        return
    if outcome.exit_code is not None:
        info["exitCode"] = outcome.exit_code
    info["result"] = TaskResult.SUCCESS if outcome.success else TaskResult.FAILURE
    if not outcome.success:
        code = outcome.failure_code or "FailureExitCode"
        message = outcome.message or f"The task process exited with exit code {outcome.exit_code}"
        info["failureInfo"] = {"category": outcome.category, "code": code, "message": message}
        if outcome.details:
            info["failureInfo"]["details"] = [{"name": k, "value": v}
                                              for k, v in outcome.details]
    else:
        info.pop("failureInfo", None)
