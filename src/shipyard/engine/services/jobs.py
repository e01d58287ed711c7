"""Job operations as the REST API exposes them: checks, then state changes.

Creating, reading and updating a job is quick and happens here; ending one (terminate,
delete) is the scheduler's work, since running tasks must stop and release tasks run.
"""

from __future__ import annotations

from typing import Any

from azure.batch import models

from shipyard.engine.model import docs, requests
from shipyard.engine.model.states import JOB_CLOSED, JobState, TaskResult, TaskState
from shipyard.engine.scheduling.scheduler import JOB, PREP, TASK, Scheduler
from shipyard.engine.services import autopool, jobmanager
from shipyard.engine.services.lookup import Lookup
from shipyard.engine.settings import EngineSettings
from shipyard.engine.store import Json, Record, RecordExists, Store
from shipyard.errors import BatchError

#: Job properties a PATCH may change.
_UPDATABLE = ("priority", "maxParallelTasks", "allowTaskPreemption", "onAllTasksComplete",
              "constraints", "metadata", "networkConfiguration")
#: The members of ``taskCounts`` and ``taskSlotCounts`` (count names, not states).
_COUNTED = ("active", "running", "completed", "succeeded", "failed")


JOBS = Lookup(JOB, "JobNotFound", "The specified job does not exist.")


class JobService:
    """The job half of the engine's API."""

    def __init__(self, settings: EngineSettings, store: Store, scheduler: Scheduler) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler

    def create(self, body: dict[str, Any]) -> Json:
        requests.check_id(body.get("id"))
        autopool.check_pool_info(body.get("poolInfo"))
        jobmanager.check_manager(body.get("jobManagerTask"))
        requests.parse(models.BatchJobCreateOptions, body)
        requests.check_constraints(body.get("constraints"), "constraints")
        check_priority(body.get("priority"))
        doc = docs.new_job_doc(body, self.settings.url)
        with self.scheduler.lock:
            if self.store.get(autopool.SCHEDULE, "", doc["id"]) is not None:
                raise BatchError(409, "JobScheduleWithSameIdExists",
                                 "A job schedule with the specified job id exists.")
            seq = len(self.store.list(JOB, None)) + 1
            try:
                self.store.insert(JOB, "", doc["id"], Record(doc, {"seq": seq, "nodes": []}))
            except RecordExists as exc:
                raise BatchError(409, "JobExists", "The specified job already exists.") from exc
        self.scheduler.kick()
        return doc

    def get(self, job_id: str) -> Record:
        return JOBS.get(self.store, "", job_id)

    def all(self) -> list[Json]:
        return [r.doc for r in self.store.list(JOB)]

    def update(self, job_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        requests.parse(models.BatchJobUpdateOptions, body)
        requests.check_constraints(body.get("constraints"), "constraints")
        check_priority(body.get("priority"))
        if "poolInfo" in body:
            autopool.check_pool_info(body["poolInfo"])

        def apply(record: Record) -> None:
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] in JOB_CLOSED:
                raise job_ended(record.doc["state"])
            if "poolInfo" in body:
                autopool.check_pool_change(record.doc, body["poolInfo"])
                autopool.apply_pool_change(record.doc, body["poolInfo"])
            for key in _UPDATABLE:
                if key in body:
                    value = body[key]
                    record.doc[key] = ({**record.doc.get(key, {}), **value}
                                       if key == "constraints" else value)
            docs.touch(record.doc)

        with self.scheduler.lock:
            self.get(job_id)
            record = self.store.mutate(JOB, "", job_id, apply)
        self.scheduler.kick()
        return record.doc

    def terminate(self, job_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        unknown = set(body) - {"terminateReason", "force"}
        if unknown:
            raise requests.unsupported(sorted(unknown)[0])
        reason = body.get("terminateReason") or "UserTerminate"
        with self.scheduler.lock:
            record = self.get(job_id)
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] in JOB_CLOSED:
                raise job_ended(record.doc["state"])
            return self.scheduler.terminate_job(job_id, reason, user=True)

    def delete(self, job_id: str, if_match: str | None) -> None:
        with self.scheduler.lock:
            record = self.get(job_id)
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] == JobState.DELETING:
                raise BatchError(409, "JobBeingDeleted",
                                 "The specified job has been marked for deletion and is being "
                                 "garbage collected.")
            self.scheduler.delete_job(job_id)

    def task_counts(self, job_id: str) -> Json:
        self.get(job_id)
        counts = dict.fromkeys(_COUNTED, 0)
        slots = dict.fromkeys(_COUNTED, 0)
        groups = self.store.tally(TASK, job_id, ("$.state", "$.executionInfo.result"),
                                  "$.requiredSlots")
        for state, result, number, slot_sum in groups:
            # A preparing task counts as running, as on the service.
            bucket = "running" if state == TaskState.PREPARING else state
            extra = []
            if state == TaskState.COMPLETED:
                extra = ["failed" if result == TaskResult.FAILURE else "succeeded"]
            for key in (bucket, *extra):
                counts[key] += number
                slots[key] += int(slot_sum)
        return {"taskCounts": counts, "taskSlotCounts": slots}

    def prep_release_status(self, job_id: str) -> list[Json]:
        self.get(job_id)
        return [r.doc for r in self.store.list(PREP, job_id)]


def job_ended(state: str) -> BatchError:
    """The 409 for a change to a job in one of ``JOB_CLOSED``."""
    if state == JobState.DELETING:
        return BatchError(409, "JobBeingDeleted", "The specified job is being deleted.")
    if state == JobState.TERMINATING:
        return BatchError(409, "JobBeingTerminated", "The specified job is being terminated.")
    return BatchError(409, "JobCompleted", "The specified job is already in a completed state.")


def check_priority(value: object) -> None:
    if value is not None and (not isinstance(value, int) or not -1000 <= value <= 1000):
        raise requests.bad_value("priority", value, "priority is an integer from -1000 to 1000")
