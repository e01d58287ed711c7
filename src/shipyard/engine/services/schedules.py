"""Job schedule operations as the REST API exposes them: checks, then state changes.

A schedule is a stored document like a job; the jobs it makes and when are the work of
``recurrence`` on the scheduler's tick. Terminate and delete only mark the schedule here:
its jobs end (or go) on the next ticks, and the pollers of the SDK wait for that.
"""

from __future__ import annotations

import time
from typing import Any

from azure.batch import models

from shipyard.engine.model import docs, requests, wire
from shipyard.engine.model.states import SCHEDULE_CLOSED, JobScheduleState
from shipyard.engine.scheduling.scheduler import JOB, Scheduler
from shipyard.engine.services import autopool, jobmanager
from shipyard.engine.services.autopool import SCHEDULE
from shipyard.engine.services.jobcontrol import set_or_drop
from shipyard.engine.services.jobs import check_priority
from shipyard.engine.services.lookup import Lookup
from shipyard.engine.services.recurrence import first_due, jobs_of, seconds, set_due
from shipyard.engine.settings import EngineSettings
from shipyard.engine.store import Json, Record, RecordExists, Store
from shipyard.errors import BatchError, ConfigError

MIN_INTERVAL = 60.0


SCHEDULES = Lookup(SCHEDULE, "JobScheduleNotFound", "The specified job schedule does not exist.")


def _state_error(state: str) -> BatchError:
    if state == JobScheduleState.DELETING:
        return BatchError(409, "JobScheduleBeingDeleted",
                          "The specified job schedule has been marked for deletion and is "
                          "being garbage collected.")
    if state == JobScheduleState.TERMINATING:
        return BatchError(409, "JobScheduleBeingTerminated",
                          "The specified job schedule is being terminated.")
    return BatchError(409, "JobScheduleCompleted",
                      "The specified job schedule is already in a completed state.")


class ScheduleService:
    """The job schedule part of the engine's API."""

    def __init__(self, settings: EngineSettings, store: Store, scheduler: Scheduler) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler

    def create(self, body: dict[str, Any]) -> Json:
        requests.check_id(body.get("id"))
        for required in ("schedule", "jobSpecification"):
            if body.get(required) is None:
                raise requests.missing(required)
        requests.parse(models.BatchJobScheduleCreateOptions, body)
        _check_parts(body)
        doc = _new_doc(body, self.settings.url)
        with self.scheduler.lock:
            if self.store.get(JOB, "", doc["id"]) is not None:
                raise BatchError(409, "JobWithSameIdExists",
                                 "A job with the specified job schedule id exists.")
            record = Record(doc, {"count": 0})
            set_due(record, first_due(doc["schedule"], time.time()))
            try:
                self.store.insert(SCHEDULE, "", doc["id"], record)
            except RecordExists as exc:
                raise BatchError(409, "JobScheduleExists",
                                 "The specified job schedule already exists.") from exc
        self.scheduler.kick()
        return doc

    def get(self, schedule_id: str) -> Record:
        return SCHEDULES.get(self.store, "", schedule_id)

    def all(self) -> list[Json]:
        return [r.doc for r in self.store.list(SCHEDULE)]

    def jobs(self, schedule_id: str) -> list[Json]:
        self.get(schedule_id)
        return [j.doc for j in jobs_of(self.store, schedule_id)]

    def update(self, schedule_id: str, body: dict[str, Any], if_match: str | None,
               replace: bool) -> Json:
        """PATCH (only what is given changes) or PUT (what is left out is reset)."""
        model = models.BatchJobSchedule if replace else models.BatchJobScheduleUpdateOptions
        requests.parse(model, body)
        if replace:
            for required in ("schedule", "jobSpecification"):
                if body.get(required) is None:
                    raise requests.missing(required)
        _check_parts(body)

        def apply(record: Record) -> None:
            _check_open(record.doc, if_match)
            if "schedule" in body:
                record.doc["schedule"] = body["schedule"]
                set_due(record, _due_after_change(record, time.time()))
            if "jobSpecification" in body:
                record.doc["jobSpecification"] = body["jobSpecification"]
            if replace or "metadata" in body:
                set_or_drop(record.doc, "metadata", body.get("metadata"))
            docs.touch(record.doc)

        return self._mutate(schedule_id, apply)

    def disable(self, schedule_id: str, if_match: str | None) -> Json:
        def apply(record: Record) -> None:
            _check_open(record.doc, if_match)
            if record.doc["state"] == JobScheduleState.ACTIVE:
                docs.set_state(record.doc, JobScheduleState.DISABLED)
                docs.touch(record.doc)

        return self._mutate(schedule_id, apply)

    def enable(self, schedule_id: str, if_match: str | None) -> Json:
        def apply(record: Record) -> None:
            _check_open(record.doc, if_match)
            if record.doc["state"] == JobScheduleState.DISABLED:
                docs.set_state(record.doc, JobScheduleState.ACTIVE)
                docs.touch(record.doc)

        return self._mutate(schedule_id, apply)

    def terminate(self, schedule_id: str, if_match: str | None) -> Json:
        def apply(record: Record) -> None:
            _check_open(record.doc, if_match)
            docs.set_state(record.doc, JobScheduleState.TERMINATING)
            docs.touch(record.doc)

        return self._mutate(schedule_id, apply)

    def delete(self, schedule_id: str, if_match: str | None) -> None:
        def apply(record: Record) -> None:
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] == JobScheduleState.DELETING:
                raise _state_error(JobScheduleState.DELETING)
            docs.set_state(record.doc, JobScheduleState.DELETING)
            docs.touch(record.doc)

        self._mutate(schedule_id, apply)

    def _mutate(self, schedule_id: str, change: Any) -> Json:
        with self.scheduler.lock:
            self.get(schedule_id)
            doc = self.store.mutate(SCHEDULE, "", schedule_id, change).doc
        self.scheduler.kick()
        return doc


def _check_open(doc: Json, if_match: str | None) -> None:
    requests.check_etag(doc, if_match)
    if doc["state"] in SCHEDULE_CLOSED:
        raise _state_error(doc["state"])


def _check_parts(body: dict[str, Any]) -> None:
    if body.get("schedule") is not None:
        _check_schedule(body["schedule"])
    spec = body.get("jobSpecification")
    if spec is not None:
        autopool.check_pool_info(spec.get("poolInfo"), "jobSpecification.poolInfo",
                                 schedule=True)
        requests.check_constraints(spec.get("constraints"), "jobSpecification.constraints")
        jobmanager.check_manager(spec.get("jobManagerTask"), "jobSpecification.jobManagerTask")
        check_priority(spec.get("priority"))


def _check_schedule(schedule: Json) -> None:
    """Durations parse and are at least a minute (the service's 400 otherwise)."""
    for key in ("recurrenceInterval", "startWindow"):
        try:
            value = seconds(schedule, key)
        except ConfigError as exc:
            raise requests.bad_value(f"schedule.{key}", schedule[key], str(exc)) from exc
        if value is not None and value < MIN_INTERVAL:
            raise requests.bad_value(f"schedule.{key}", schedule[key],
                                     "the minimum is 1 minute")
        if value is not None:
            schedule[key] = wire.format_duration(wire.parse_duration(schedule[key]))


def _new_doc(body: Json, base_url: str) -> Json:
    moment = wire.utcnow()
    stamp = wire.format_datetime(moment)
    doc: Json = dict(body)
    doc.update(url=f"{base_url}/jobschedules/{body['id']}", eTag=wire.new_etag(moment),
               lastModified=stamp, creationTime=stamp, state=JobScheduleState.ACTIVE,
               stateTransitionTime=stamp, executionInfo={})
    return doc


def _due_after_change(record: Record, now: float) -> float | None:
    """A changed schedule: its first run if none happened yet, else the next recurrence."""
    schedule = record.doc["schedule"]
    if not record.private.get("count"):
        return first_due(schedule, now)
    interval = seconds(schedule, "recurrenceInterval")
    return None if interval is None else max(first_due(schedule, now), now + interval)

