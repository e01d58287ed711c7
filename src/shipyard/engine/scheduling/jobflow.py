"""The life of a job around its tasks: preparation, release, terminate, delete, limits.

Job preparation runs once per node before the job's first task there; its record (one per
job and node) is what ``jobpreparationandreleasetaskstatus`` serves. Terminating or
deleting a job stops its running tasks and runs the job release task once on every node
that ran any part of the job; the job completes (or disappears) when those have ended.
"""

from __future__ import annotations

import logging
import shutil
import time
from enum import Enum
from typing import Any, Protocol

from shipyard.engine.agent import execution, runs
from shipyard.engine.agent.execution import Launched, Node
from shipyard.engine.agent.exits import ExitWatch
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.agent.taskrun import RETAIN_UNTIL, TaskRun
from shipyard.engine.allocation.health import NodeHealth
from shipyard.engine.model import docs, wire
from shipyard.engine.model.states import (
    JOB_ENDING,
    TASK_LIVE,
    TASK_OPEN,
    DependencyAction,
    ErrorCategory,
    JobState,
    PrepReleaseState,
    TaskResult,
)
from shipyard.engine.settings import EngineSettings
from shipyard.engine.store import Json, Record, Store
from shipyard.errors import NodeUnusableError, StorageError

log = logging.getLogger(__name__)

JOB, TASK, PREP = "job", "task", "prep"
RETENTION_EVERY = 2.0


class PrepProgress(Enum):
    """Where the job preparation on one node leaves the tasks waiting for it there."""

    DONE = "done"
    """Succeeded, or still running without ``waitForSuccess``: tasks may start."""
    RUNNING = "running"
    """Not started, or running with ``waitForSuccess``: tasks wait."""
    FAILED = "failed"
    """Failed: tasks go elsewhere, never to this node."""


class FlowHost(Protocol):
    """What job flow uses of the scheduler that owns it, so this module need not import it."""

    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> EngineSettings: ...
    @property
    def exits(self) -> ExitWatch: ...
    @property
    def health(self) -> NodeHealth: ...
    def kick(self) -> None: ...
    def node(self, pool_id: str, node_id: str) -> Node | None: ...
    def base_env(self, node: Node) -> dict[str, str]: ...
    def terminate_task(self, job: Record, task: Record) -> None: ...


class JobFlow:
    """Preparation and release tasks, job ends, job limits, retention."""

    def __init__(self, scheduler: FlowHost) -> None:
        self.s = scheduler
        self._retention_at = 0.0

    # -- preparation -------------------------------------------------------------------
    def ensure_prep(self, job: Record, node: Node) -> None:
        """Start the job's preparation task on ``node`` unless it ran there already."""
        record = self._prep_record(job, node)
        if (record.doc.get("jobPreparationTaskExecutionInfo") or {}).get("state"):
            return
        prep = job.doc["jobPreparationTask"]
        info, launched = self._launch_special(job, node, prep, "jobpreparation")
        self._save_prep(job, node, "jobPreparationTaskExecutionInfo", info, launched)

    def prep_state(self, job: Record, pool_id: str, node_id: str) -> PrepProgress:
        """How far the job's preparation on that node is, for the tasks waiting there."""
        record = self.s.store.get(PREP, job.doc["id"], node_id)
        info = (record.doc.get("jobPreparationTaskExecutionInfo") or {}) if record else {}
        if info.get("state") != PrepReleaseState.COMPLETED:
            waits = job.doc["jobPreparationTask"].get("waitForSuccess", True)
            return PrepProgress.RUNNING if waits or not info else PrepProgress.DONE
        return PrepProgress.DONE if info.get("result") == TaskResult.SUCCESS \
            else PrepProgress.FAILED

    def progress_preps(self, job: Record) -> None:
        for record in self.s.store.list(PREP, job.doc["id"]):
            for kind in ("jobPreparationTaskExecutionInfo", "jobReleaseTaskExecutionInfo"):
                self._progress_special(job, record, kind)

    def _progress_special(self, job: Record, record: Record, kind: str) -> None:
        info = record.doc.get(kind) or {}
        held = record.private.get(kind)
        if info.get("state") != PrepReleaseState.RUNNING or not held:
            return
        launched = Launched.from_json(held)
        ended, code = execution.observe(launched)
        if not ended:
            self.s.exits.watch(launched.pid)
            return
        retries = int(((job.doc.get("jobPreparationTask") or {}).get("constraints") or {})
                      .get("maxTaskRetryCount") or 0) if kind.startswith("jobPrep") else 0
        if code != 0 and int(info.get("retryCount") or 0) < retries:
            node = self.s.node(record.doc["poolId"], record.doc["nodeId"])
            if node is not None:
                self._relaunch_prep(job, node, int(info.get("retryCount") or 0) + 1)
                return

        def done(r: Record) -> None:
            r.doc[kind] = _special_done(r.doc.get(kind) or {}, code)

        self.s.store.mutate(PREP, job.doc["id"], record.doc["nodeId"], done)
        self.s.kick()

    def _relaunch_prep(self, job: Record, node: Node, attempt: int) -> None:
        info, launched = self._launch_special(job, node, job.doc["jobPreparationTask"],
                                              "jobpreparation")
        info["retryCount"] = attempt
        self._save_prep(job, node, "jobPreparationTaskExecutionInfo", info, launched)

    def _launch_special(self, job: Record, node: Node, spec: Json, name: str
                        ) -> tuple[Json, Launched | None]:
        directory = runs.task_dir(job.doc["id"], name)
        env = runs.task_environment(self.s.base_env(node), job.doc, spec, directory)
        info: Json = {"startTime": docs.now(), "state": PrepReleaseState.RUNNING, "retryCount": 0,
                      "taskRootDirectory": str(directory.relative_to(execution.NODE_ROOT)),
                      "taskRootDirectoryUrl": f"{self.s.settings.url}/pools/{node.pool_id}/"
                      f"nodes/{node.node_id}/files/{directory.relative_to(execution.NODE_ROOT)}"}
        try:
            execution.prepare_dir(node, directory)
            execution.fetch_resource_files(node, spec.get("resourceFiles"), directory / "wd")
            launched = execution.launch(node, spec.get("commandLine", ""), env, directory,
                                        spec.get("containerSettings"))
        except NodeUnusableError as exc:
            # The node's fault, not the job's: nothing is recorded as run there (it runs
            # when the node is usable again) and the tasks waiting on it are requeued.
            self.s.health.mark_unusable(node.pool_id, node.node_id, str(exc))
            return {}, None
        except Exception as exc:  # shown in the status, never fatal to the engine
            log.warning("job %s: %s on %s failed to start: %s", job.doc["id"], name,
                        node.node_id, exc)
            failure = exc.code if isinstance(exc, StorageError) else None
            return _special_done(info, None, str(exc), failure), None
        return info, launched

    def _prep_record(self, job: Record, node: Node) -> Record:
        existing = self.s.store.get(PREP, job.doc["id"], node.node_id)
        if existing is not None:
            return existing
        doc = {"poolId": node.pool_id, "nodeId": node.node_id,
               "nodeUrl": f"{self.s.settings.url}/pools/{node.pool_id}/nodes/{node.node_id}"}
        record = Record(doc, {})
        self.s.store.insert(PREP, job.doc["id"], node.node_id, record)
        return record

    def _save_prep(self, job: Record, node: Node, kind: str, info: Json,
                   launched: Launched | None) -> None:
        if not info.get("state"):
            return  # never started: see _launch_special

        def save(record: Record) -> None:
            record.doc[kind] = info
            record.private[kind] = launched.as_json() if launched else None

        self.s.store.mutate(PREP, job.doc["id"], node.node_id, save)

    # -- task consequences -------------------------------------------------------------
    def after_task(self, job: Record, task: Record, outcome: Outcome) -> None:
        """Apply the job action of the task's exit conditions."""
        options = exit_options(task.doc, outcome)
        if job.doc.get("onTaskFailure", "noaction").lower() != "performexitoptionsjobaction":
            return
        action = options.get("jobAction") or ("none" if outcome.success else "terminate")
        if action == "terminate" and job.doc["state"] == JobState.ACTIVE:
            self.terminate(job.doc["id"], "TaskFailed")
        elif action == "disable" and job.doc["state"] == JobState.ACTIVE:
            self.s.store.mutate(JOB, "", job.doc["id"],
                                lambda r: docs.set_state(r.doc, JobState.DISABLED))

    # -- job ends ----------------------------------------------------------------------
    def terminate(self, job_id: str, reason: str, user: bool = False) -> Json:
        def mark(record: Record) -> None:
            docs.set_state(record.doc, JobState.TERMINATING)
            record.doc.setdefault("executionInfo", {})["terminateReason"] = reason
            if user:
                docs.touch(record.doc)

        job = self.s.store.mutate(JOB, "", job_id, mark)
        self._stop_tasks(job)
        self._start_releases(job)
        self.s.kick()
        return job.doc

    def delete(self, job_id: str) -> None:
        def mark(record: Record) -> None:
            docs.set_state(record.doc, JobState.DELETING)
            docs.touch(record.doc)

        job = self.s.store.mutate(JOB, "", job_id, mark)
        self._stop_tasks(job)
        self._start_releases(job)
        self.s.kick()

    def _stop_tasks(self, job: Record) -> None:
        for task in self.s.store.in_states(TASK, job.doc["id"], TASK_LIVE):
            self.s.terminate_task(job, task)

    def _start_releases(self, job: Record) -> None:
        release = job.doc.get("jobReleaseTask")
        if not release:
            return
        for pool_id, node_id in job.private.get("nodes", []):
            node = self.s.node(pool_id, node_id)
            if node is None:
                continue
            record = self._prep_record(job, node)
            if record.doc.get("jobReleaseTaskExecutionInfo"):
                continue  # a release runs once per node, whatever happens next
            info, launched = self._launch_special(job, node, release, "jobrelease")
            self._save_prep(job, node, "jobReleaseTaskExecutionInfo", info, launched)

    def progress_end(self, job: Record) -> None:
        state = job.doc["state"]
        if state not in JOB_ENDING:
            return
        releases = [(r.doc.get("jobReleaseTaskExecutionInfo") or {}).get("state")
                    for r in self.s.store.list(PREP, job.doc["id"])]
        if PrepReleaseState.RUNNING in releases:
            return
        if state == JobState.TERMINATING:
            def complete(record: Record) -> None:
                docs.set_state(record.doc, JobState.COMPLETED)
                record.doc.setdefault("executionInfo", {})["endTime"] = docs.now()

            self.s.store.mutate(JOB, "", job.doc["id"], complete)
        else:
            self._remove(job)

    def _remove(self, job: Record) -> None:
        for pool_id, node_id in job.private.get("nodes", []):
            node = self.s.node(pool_id, node_id)
            if node is not None:
                workitems = runs.task_dir(job.doc["id"], "x").parent.parent
                shutil.rmtree(node.host_path(workitems), ignore_errors=True)
        with self.s.store.transaction():
            self.s.store.delete_children(TASK, job.doc["id"])
            self.s.store.delete_children(PREP, job.doc["id"])
            self.s.store.delete(JOB, "", job.doc["id"])
        log.info("job %s deleted", job.doc["id"])

    # -- limits ------------------------------------------------------------------------
    def check_job_limits(self, jobs: list[Record]) -> None:
        for job in jobs:
            if job.doc["state"] != JobState.ACTIVE:
                continue
            if _wall_clock_expired(job.doc):
                self.terminate(job.doc["id"], "MaxWallClockTimeExpiry")
            elif _terminates_when_done(job.doc) and not self.s.store.count_states(
                    TASK, job.doc["id"], TASK_OPEN):
                self.terminate(job.doc["id"], "AllTasksComplete")

    def retention(self) -> None:
        """Remove the directories of completed tasks whose retention time has passed."""
        if time.monotonic() < self._retention_at:
            return
        self._retention_at = time.monotonic() + RETENTION_EVERY
        for job_id, task in self.s.store.due(TASK, RETAIN_UNTIL, time.time()):
            self.remove_task_dirs(task)
            self.s.store.mutate(TASK, job_id, task.doc["id"], _retained)

    def remove_task_dirs(self, task: Record) -> None:
        for item in TaskRun.of(task).instances:
            node = self.s.node(item.pool_id, item.node_id)
            if node is not None:
                directory = runs.task_dir(item.job_id, item.task_id)
                shutil.rmtree(node.host_path(directory), ignore_errors=True)


def _retained(record: Record) -> None:
    """A completed task whose directories went: its retention clock stops."""
    run = TaskRun.of(record)
    run.retain_until, run.retained = None, True
    run.save(record)


def _special_done(info: Json, code: int | None, error: str | None = None,
                  failure: str | None = None) -> Json:
    done: Json = {**info, "state": PrepReleaseState.COMPLETED, "endTime": docs.now(),
                  "result": TaskResult.SUCCESS if code == 0 else TaskResult.FAILURE}
    if code is not None:
        done["exitCode"] = code
    if code != 0:
        done["failureInfo"] = {"category": ErrorCategory.USER_ERROR,
                               "code": "FailureExitCode" if code is not None else
                               failure or "TaskPreparationFailed",
                               "message": error or f"The task exited with exit code {code}"}
    return done


def dependency_action(task: Json, outcome: Outcome) -> str:
    """``satisfy`` or ``block``: what the task's end means for tasks that depend on it.

    An exit option's own spelling is kept as given (it is compared as given).
    """
    chosen = exit_options(task, outcome).get("dependencyAction")
    if chosen:
        return str(chosen)
    return DependencyAction.SATISFY if outcome.success else DependencyAction.BLOCK


def exit_options(task: Json, outcome: Outcome) -> dict[str, Any]:
    conditions = task.get("exitConditions") or {}
    if outcome.failure_code == "TaskPreparationFailed" and conditions.get("preProcessingError"):
        return dict(conditions["preProcessingError"])
    code = outcome.exit_code
    for entry in conditions.get("exitCodes") or []:
        if code is not None and entry.get("code") == code:
            return dict(entry.get("exitOptions") or {})
    for span in conditions.get("exitCodeRanges") or []:
        if code is not None and span.get("start", 0) <= code <= span.get("end", 0):
            return dict(span.get("exitOptions") or {})
    if outcome.success:
        return {}
    return dict(conditions.get("default") or {})


def _terminates_when_done(job: Json) -> bool:
    return str(job.get("onAllTasksComplete", "noaction")).lower() == "terminatejob"


def _wall_clock_expired(job: Json) -> bool:
    limit = wire.parse_duration((job.get("constraints") or {}).get(
        "maxWallClockTime", wire.INFINITE_WIRE))
    if wire.is_infinite(limit):
        return False
    created = wire.parse_datetime(job["creationTime"])
    return bool(wire.utcnow() - created > limit)
