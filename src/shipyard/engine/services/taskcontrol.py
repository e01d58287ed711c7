"""Task operations after the fact: reactivate a failed task, replace its constraints, and
delete files of a task or a node.

Reactivation puts a task that completed with a failure back to active with its retry
count reset, as the service does; the scheduler places it again on its next tick. File
deletion is confined to the task's or node's directory like every file API (``..`` and
symlinks never lead outside), and a directory goes only empty or with ``recursive``.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from azure.batch import models

from shipyard.engine.agent import runs
from shipyard.engine.agent.files import file_not_found
from shipyard.engine.agent.taskrun import TaskRun
from shipyard.engine.model import docs, requests, wire
from shipyard.engine.model.states import JOB_CLOSED, TaskResult, TaskState
from shipyard.engine.scheduling.scheduler import TASK
from shipyard.engine.services.jobs import job_ended
from shipyard.engine.services.tasks import TaskService
from shipyard.engine.store import Json, Record
from shipyard.errors import BatchError


def invalid_state(reason: str) -> BatchError:
    return BatchError(409, "OperationInvalidForCurrentState",
                      "The specified operation is not valid for the current state of the "
                      "resource.", [("Reason", reason)])


class TaskControl:
    """Reactivate and replace (PUT) of tasks."""

    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks
        self.store = tasks.store
        self.scheduler = tasks.scheduler

    def reactivate(self, job_id: str, task_id: str, if_match: str | None) -> Json:
        with self.scheduler.lock:
            job, task = self.tasks.jobs.get(job_id), self.tasks.get(job_id, task_id)
            requests.check_etag(task.doc, if_match)
            if job.doc["state"] in JOB_CLOSED:
                raise job_ended(job.doc["state"])
            info = task.doc.get("executionInfo") or {}
            if task.doc["state"] != TaskState.COMPLETED or info.get("result") != TaskResult.FAILURE:
                raise invalid_state("only a task that completed with a failure can be "
                                    "reactivated")
            doc = self.store.mutate(TASK, job_id, task_id, _reactivated).doc
        self.scheduler.kick()
        return doc

    def replace(self, job_id: str, task_id: str, body: dict[str, Any],
                if_match: str | None) -> Json:
        """PUT: the constraints are replaced; members left out get their defaults."""
        requests.parse(models.BatchTask, body)
        unknown = set(body) - {"constraints"}
        if unknown:
            name = sorted(unknown)[0]
            raise requests.bad_value(name, body[name],
                                     "only the constraints of an existing task can be changed")
        requests.check_constraints(body.get("constraints"), "constraints")
        with self.scheduler.lock:
            job, task = self.tasks.jobs.get(job_id), self.tasks.get(job_id, task_id)
            requests.check_etag(task.doc, if_match)
            if task.doc["state"] == TaskState.COMPLETED:
                raise BatchError(409, "TaskCompleted",
                                 "The specified task is already in a completed state.")
            retries = (job.doc.get("constraints") or {}).get("maxTaskRetryCount", 0)
            constraints = {"maxWallClockTime": wire.INFINITE_WIRE, "retentionTime": "P7D",
                           "maxTaskRetryCount": retries, **(body.get("constraints") or {})}

            def apply(record: Record) -> None:
                record.doc["constraints"] = constraints
                if record.doc["state"] == TaskState.RUNNING:
                    run = TaskRun.of(record)
                    run.deadline = _deadline(record.doc)
                    run.save(record)
                docs.touch(record.doc)

            return self.store.mutate(TASK, job_id, task_id, apply).doc


def _reactivated(record: Record) -> None:
    docs.set_state(record.doc, TaskState.ACTIVE)
    info = record.doc.get("executionInfo") or {}
    # Exit code, failure and times of the last run are gone; the retry count starts again.
    record.doc["executionInfo"] = {"retryCount": 0,
                                   "requeueCount": int(info.get("requeueCount") or 0)}
    record.doc.pop("nodeInfo", None)
    TaskRun().save(record)  # a reactivated task starts without any run bookkeeping
    docs.touch(record.doc)


def _deadline(task: Json) -> float | None:
    """The wall-clock deadline of a running task, counted from its start."""
    limit = runs.deadline_for(task)
    started = (task.get("executionInfo") or {}).get("startTime")
    if limit is None or not started:
        return limit
    elapsed = (wire.utcnow() - wire.parse_datetime(started)).total_seconds()
    return limit - elapsed


def delete_file(root: Path, relative: str, recursive: bool) -> None:
    """Delete ``relative`` below ``root`` (a symlink itself, never what it points to)."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise file_not_found()
    try:
        parent = root.joinpath(*parts[:-1]).resolve(strict=True)
    except OSError as exc:
        raise file_not_found() from exc
    top = root.resolve()
    if parent != top and top not in parent.parents:
        raise file_not_found()
    target = parent / parts[-1]
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif not target.is_dir():
        raise file_not_found()
    elif recursive:
        shutil.rmtree(target)
    else:
        _remove_empty_dir(target)


def _remove_empty_dir(target: Path) -> None:
    try:
        target.rmdir()
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise invalid_state("the directory is not empty: set recursive to delete it "
                                "with its contents") from exc
        raise
