"""Disabling, enabling and replacing jobs, as ``jobs disable|enable|migrate`` use them.

Disable moves a job to ``disabling`` at once and deals with its running tasks by
``disableTasks``: ``requeue`` stops them and puts them back to active, ``terminate`` ends
them (failureInfo ``TaskEnded``), ``wait`` lets them finish. The job is ``disabled`` once
none runs (at once for requeue and terminate, on a later tick for wait). A disabled job
starts no task; only then may its ``poolInfo`` change. Enable makes it active again and
its tasks are placed on the next tick.
"""

from __future__ import annotations

from typing import Any

from azure.batch import models

from shipyard.engine.agent.runs import Outcome
from shipyard.engine.model import docs, requests, wire
from shipyard.engine.model.states import JOB_CLOSED, TASK_LIVE, JobState, TaskState
from shipyard.engine.scheduling.scheduler import JOB, TASK, Scheduler
from shipyard.engine.services import autopool
from shipyard.engine.services.jobs import JobService, check_priority, job_ended
from shipyard.engine.store import Json, Record

DISABLE_OPTIONS = ("requeue", "terminate", "wait")
#: What a PUT resets when it leaves a property out (the service's defaults).
_REPLACE_DEFAULTS: Json = {"priority": 0, "maxParallelTasks": -1,
                           "allowTaskPreemption": False, "onAllTasksComplete": "noaction"}


class JobControl:
    """Disable, enable and replace (PUT) of jobs."""

    def __init__(self, jobs: JobService, scheduler: Scheduler) -> None:
        self.jobs = jobs
        self.scheduler = scheduler
        self.store = jobs.store

    def disable(self, job_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        requests.parse(models.BatchJobDisableOptions, body)
        option = body.get("disableTasks")
        if option is None:
            raise requests.missing("disableTasks")
        if str(option).lower() not in DISABLE_OPTIONS:
            raise requests.bad_value("disableTasks", option, "must be requeue, terminate or wait")
        with self.scheduler.lock:
            job = self.jobs.get(job_id)
            requests.check_etag(job.doc, if_match)
            if job.doc["state"] in JOB_CLOSED:
                raise job_ended(job.doc["state"])
            if job.doc["state"] in (JobState.DISABLING, JobState.DISABLED):
                return job.doc
            self._mutate(job_id, _to_disabling)
            self._deal_with_tasks(job_id, str(option).lower())
            self.settle(self.jobs.get(job_id))
            doc = self.jobs.get(job_id).doc
        self.scheduler.kick()
        return doc

    def enable(self, job_id: str, if_match: str | None) -> Json:
        with self.scheduler.lock:
            job = self.jobs.get(job_id)
            requests.check_etag(job.doc, if_match)
            if job.doc["state"] in JOB_CLOSED:
                raise job_ended(job.doc["state"])
            if job.doc["state"] not in (JobState.ACTIVE, JobState.ENABLING):
                def enable(record: Record) -> None:
                    # Enabling is over as soon as the scheduler may place tasks again.
                    docs.set_state(record.doc, JobState.ACTIVE)
                    docs.touch(record.doc)

                self._mutate(job_id, enable)
            doc = self.jobs.get(job_id).doc
        self.scheduler.kick()
        return doc

    def replace(self, job_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        """PUT: every updatable property is replaced; those left out get their defaults."""
        requests.parse(models.BatchJob, body)
        unknown = set(body) - {*_REPLACE_DEFAULTS, "constraints", "poolInfo", "metadata",
                               "networkConfiguration"}
        if unknown:
            raise requests.bad_value(sorted(unknown)[0], body[sorted(unknown)[0]],
                                     "this property cannot be changed on an existing job")
        autopool.check_pool_info(body.get("poolInfo"))
        requests.check_constraints(body.get("constraints"), "constraints")
        check_priority(body.get("priority"))

        def apply(record: Record) -> None:
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] in JOB_CLOSED:
                raise job_ended(record.doc["state"])
            _check_completion_mode(record.doc, body.get("onAllTasksComplete", "noaction"))
            autopool.check_pool_change(record.doc, body["poolInfo"])
            autopool.apply_pool_change(record.doc, body["poolInfo"])
            for key, default in _REPLACE_DEFAULTS.items():
                record.doc[key] = body.get(key, default)
            record.doc["constraints"] = _job_constraints(body.get("constraints"))
            set_or_drop(record.doc, "metadata", body.get("metadata"))
            docs.touch(record.doc)

        with self.scheduler.lock:
            self.jobs.get(job_id)
            doc = self.store.mutate(JOB, "", job_id, apply).doc
        self.scheduler.kick()
        return doc

    # -- the tick ------------------------------------------------------------------------
    def tick(self) -> None:
        """Finish disabling jobs whose last running task has ended."""
        for job in self.store.in_states(JOB, "", JobState.DISABLING):
            self.settle(job)

    def settle(self, job: Record) -> None:
        if not self.store.count_states(TASK, job.doc["id"], TASK_LIVE):
            self._mutate(job.doc["id"], _disabled)

    def _deal_with_tasks(self, job_id: str, option: str) -> None:
        job = self.jobs.get(job_id)
        for task in self.store.in_states(TASK, job_id, TASK_LIVE):
            if option == "terminate":
                self.scheduler.terminate_task(job, task)
            elif option == "requeue" or task.doc["state"] == TaskState.PREPARING:
                # A task still preparing has not started: it waits for the job, whatever
                # the option, rather than starting on a disabled job.
                self.scheduler.finish(job, task, Outcome(
                    None, "TaskRequeued", "The job was disabled", requeue=True))

    def _mutate(self, job_id: str, change: Any) -> None:
        self.store.mutate(JOB, "", job_id, change)


def _to_disabling(record: Record) -> None:
    docs.set_state(record.doc, JobState.DISABLING)
    docs.touch(record.doc)


def _disabled(record: Record) -> None:
    # The service shows previousState "active" after a disable: "disabling" is the passage,
    # not a state the job is said to have left.
    record.doc["state"] = JobState.DISABLED
    record.doc["stateTransitionTime"] = docs.now()


def _check_completion_mode(job: Json, wanted: str) -> None:
    current = str(job.get("onAllTasksComplete", "noaction")).lower()
    if current == "terminatejob" and str(wanted).lower() == "noaction":
        raise requests.bad_value("onAllTasksComplete", wanted,
                                 "a job that terminates when its tasks complete cannot be "
                                 "changed back to noaction")


def _job_constraints(given: Json | None) -> Json:
    constraints = dict(given or {})
    constraints.setdefault("maxWallClockTime", wire.INFINITE_WIRE)
    constraints.setdefault("maxTaskRetryCount", 0)
    return constraints


def set_or_drop(doc: Json, key: str, value: object) -> None:
    """A PUT's list property: set when given and not empty, otherwise gone."""
    if value:
        doc[key] = value
    else:
        doc.pop(key, None)

