"""Task operations as the REST API exposes them: checks, create, read, end.

Creating a task only stores it and wakes the scheduler; terminating and deleting go
through the scheduler under its lock, since a running task has processes on nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azure.batch import models

from shipyard.engine.agent import containers, runs
from shipyard.engine.agent.files import file_not_found
from shipyard.engine.agent.taskrun import TaskRun
from shipyard.engine.allocation.allocator import NODE
from shipyard.engine.model import docs, requests
from shipyard.engine.model.multiinstance import MultiInstance, private_of
from shipyard.engine.model.states import JOB_CLOSED, TaskState
from shipyard.engine.scheduling.scheduler import TASK, Scheduler
from shipyard.engine.services.jobs import JobService
from shipyard.engine.services.lookup import Lookup
from shipyard.engine.storage.checks import check_task_files
from shipyard.engine.store import Json, Record, RecordExists, Store
from shipyard.errors import BatchError

MAX_COLLECTION = 100


TASKS = Lookup(TASK, "TaskNotFound", "The specified task does not exist.")


class TaskService:
    """The task half of the engine's API."""

    def __init__(self, store: Store, scheduler: Scheduler, jobs: JobService) -> None:
        self.store = store
        self.scheduler = scheduler
        self.jobs = jobs

    def create(self, job_id: str, body: dict[str, Any]) -> Json:
        with self.scheduler.lock:
            job = self._open_job(job_id)
            doc = self._insert(job, body)
        self.scheduler.kick()
        return doc

    def add_collection(self, job_id: str, body: dict[str, Any]) -> list[Json]:
        items = body.get("value")
        if not isinstance(items, list):
            raise requests.missing("value")
        if len(items) > MAX_COLLECTION:
            raise requests.bad_value("value", len(items),
                                     f"at most {MAX_COLLECTION} tasks can be added at once")
        results = []
        with self.scheduler.lock:
            job = self._open_job(job_id)
            for item in items:
                results.append(self._add_one(job, item))
        self.scheduler.kick()
        return results

    def get(self, job_id: str, task_id: str) -> Record:
        self.jobs.get(job_id)
        return TASKS.get(self.store, job_id, task_id)

    def page(self, job_id: str, offset: int, limit: int) -> list[Json]:
        """Tasks of the job in submission order; ``limit`` -1 means all."""
        self.jobs.get(job_id)
        return [r.doc for r in self.store.page(TASK, job_id, offset, limit)]

    def terminate(self, job_id: str, task_id: str, if_match: str | None) -> None:
        with self.scheduler.lock:
            job, task = self.jobs.get(job_id), self.get(job_id, task_id)
            requests.check_etag(task.doc, if_match)
            if task.doc["state"] != TaskState.COMPLETED:
                self.scheduler.terminate_task(job, task)
                self.store.mutate(TASK, job_id, task_id, lambda r: docs.touch(r.doc))

    def delete(self, job_id: str, task_id: str, if_match: str | None) -> None:
        with self.scheduler.lock:
            job, task = self.jobs.get(job_id), self.get(job_id, task_id)
            requests.check_etag(task.doc, if_match)
            if task.doc["state"] != TaskState.COMPLETED:
                self.scheduler.terminate_task(job, task)
            task = self.get(job_id, task_id)
            self.scheduler.flow.remove_task_dirs(task)
            self.store.delete(TASK, job_id, task_id)

    def subtasks(self, job_id: str, task_id: str, base_url: str) -> list[Json]:
        task = self.get(job_id, task_id)
        run = TaskRun.of(task)
        if task.doc["state"] == TaskState.COMPLETED:
            return run.subtasks
        return runs.subtask_docs(run.instances, base_url, False)

    def files_root(self, job_id: str, task_id: str) -> Path:
        """The host directory of the task on its primary's node."""
        task = self.get(job_id, task_id)
        info = task.doc.get("nodeInfo")
        if not info:
            raise file_not_found()
        node = self.store.get(NODE, info["poolId"], info["nodeId"])
        if node is None:
            raise file_not_found()
        spec = self.scheduler.allocator.node_spec(node)
        return Path(spec.batch_dir) / "tasks" / str(info["taskRootDirectory"])

    # -- creating ----------------------------------------------------------------------
    def _open_job(self, job_id: str) -> Record:
        job = self.jobs.get(job_id)
        if job.doc["state"] in JOB_CLOSED:
            raise BatchError(409, "JobCompleted",
                             "The specified job is already in a completed state.")
        return job

    def _insert(self, job: Record, body: dict[str, Any]) -> Json:
        multi = _check_task(job.doc, body)
        doc = docs.new_task_doc(body, job.doc["id"], job.doc["url"].rsplit("/jobs/", 1)[0],
                                job.doc.get("constraints") or {})
        try:
            # The store keeps insertion order; nothing here may scan the job's tasks.
            self.store.insert(TASK, job.doc["id"], doc["id"], Record(doc, private_of(multi)))
        except RecordExists as exc:
            raise BatchError(409, "TaskExists", "The specified task already exists.") from exc
        return doc

    def _add_one(self, job: Record, item: Any) -> Json:
        task_id = item.get("id") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise requests.bad_value("value", item, "each task must be a JSON object")
            doc = self._insert(job, item)
        except BatchError as exc:
            error: Json = {"code": exc.code, "message": {"lang": "en-US", "value": exc.detail}}
            if exc.values:
                error["values"] = [{"key": k, "value": v} for k, v in exc.values]
            return {"status": "ClientError", "taskId": task_id, "error": error}
        return {"status": "Success", "taskId": doc["id"], "eTag": doc["eTag"],
                "lastModified": doc["lastModified"], "location": doc["url"]}


def _check_task(job: Json, body: dict[str, Any]) -> MultiInstance | None:
    """Refuse what the service refuses; the task's multi-instance settings, parsed."""
    requests.check_id(body.get("id"))
    if "commandLine" not in body:
        raise requests.missing("commandLine")
    requests.parse(models.BatchTaskCreateOptions, body)
    check_task_files(body)
    requests.check_constraints(body.get("constraints"), "constraints")
    slots = body.get("requiredSlots")
    if slots is not None and (not isinstance(slots, int) or slots < 1):
        raise requests.bad_value("requiredSlots", slots, "must be a positive integer")
    multi = MultiInstance.parse(body.get("multiInstanceSettings"))
    if body.get("containerSettings"):
        containers.check_settings(body["containerSettings"])
    if body.get("dependsOn") and not job.get("usesTaskDependencies"):
        raise BatchError(409, "TaskDependenciesNotSpecifiedOnJob",
                         "The job does not allow task dependencies; set usesTaskDependencies.")
    if not body.get("commandLine", "").strip() and not body.get("containerSettings"):
        raise requests.bad_value("commandLine", "", "the command line is empty")
    return multi
