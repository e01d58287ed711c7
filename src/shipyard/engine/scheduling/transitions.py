"""Task state transitions the scheduler applies inside one store write each.

Each function changes one task record in place (through ``Store.mutate``), so a state and
everything that must move with it (times, counts, dependency action, run bookkeeping)
change together or not at all.
"""

from __future__ import annotations

import time

from shipyard.engine.agent import runs
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.model import docs, wire
from shipyard.engine.model.states import ErrorCategory, TaskResult, TaskState
from shipyard.engine.store import Json, Record


def started(record: Record, instances: list[Json], base_url: str) -> None:
    docs.set_state(record.doc, TaskState.RUNNING)
    info = record.doc.setdefault("executionInfo", {})
    info["startTime"] = docs.now()
    if record.private.pop("retry_pending", False):
        info["retryCount"] = int(info.get("retryCount") or 0) + 1
        info["lastRetryTime"] = info["startTime"]
    for key in ("endTime", "exitCode", "result", "failureInfo"):
        info.pop(key, None)
    if instances:
        record.doc["nodeInfo"] = runs.node_info(instances[0], base_url)
    record.private["instances"] = instances
    record.private.pop("assigned", None)
    record.private["deadline"] = runs.deadline_for(record.doc)


def retry(record: Record) -> None:
    # retryCount counts retries that started, so it moves when the task runs again.
    record.private["retry_pending"] = True
    docs.set_state(record.doc, TaskState.ACTIVE)
    record.private.pop("instances", None)


def complete(record: Record, outcome: Outcome | None, subtasks: list[Json],
              dependency: str) -> None:
    docs.set_state(record.doc, TaskState.COMPLETED)
    record.private["dependency"] = dependency
    info = record.doc.setdefault("executionInfo", {})
    info["endTime"] = docs.now()
    record.private["subtasks"] = subtasks
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
    record.private["retain_until"] = time.time() + wire.parse_duration(
        (record.doc.get("constraints") or {}).get("retentionTime", "P7D")).total_seconds()
