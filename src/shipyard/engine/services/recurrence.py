"""The clock of job schedules: when a schedule makes its next job, and how it ends.

Each schedule record keeps, in its private part, the moment its next job is due (``due``,
seconds since the epoch, or None when no run is left), how many jobs it made and the id
of the most recent one. That state lives in the store, so a restarted engine goes on where
it stopped. On every scheduler tick (under the scheduler's lock) an active schedule whose
due time has come makes job ``<schedule>:job-<N>`` from its ``jobSpecification``, unless
its previous job is still open: a schedule has at most one active job. A due run that
cannot start within ``startWindow`` (with a recurrence, at most one interval) is skipped.
Past ``doNotRunAfter``, or after its only run, the schedule completes once its last job
has. Terminating and deleting schedules end or delete their jobs first.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import UTC, datetime

from shipyard.engine.model import docs, wire
from shipyard.engine.model.states import JOB_OPEN, JOB_TERMINAL, JobScheduleState, JobState
from shipyard.engine.scheduling.scheduler import JOB, Scheduler
from shipyard.engine.services import autopool
from shipyard.engine.services.autopool import SCHEDULE, AutoPools
from shipyard.engine.store import Json, Record, Store

log = logging.getLogger(__name__)

#: A schedule's job in one of these still counts as its one job: it has not completed.
_JOB_NOT_DONE = frozenset(JobState) - JOB_TERMINAL


def seconds(schedule: Json, key: str) -> float | None:
    """A duration of the ``schedule`` object in seconds; None when absent or infinite."""
    raw = schedule.get(key)
    if raw is None:
        return None
    value = wire.parse_duration(raw)
    return None if wire.is_infinite(value) else value.total_seconds()


def moment(schedule: Json, key: str) -> float | None:
    raw = schedule.get(key)
    return None if raw is None else wire.parse_datetime(raw).timestamp()


def first_due(schedule: Json, now: float) -> float:
    """A new (or newly set) schedule is due at ``doNotRunUntil``, or at once.

    A ``doNotRunUntil`` already past counts from then: its ``startWindow`` may be over.
    """
    until = moment(schedule, "doNotRunUntil")
    return now if until is None else until


def set_due(record: Record, due: float | None) -> None:
    """The next run, in the private clock and as ``executionInfo.nextRunTime``."""
    record.private["due"] = due
    info = record.doc.setdefault("executionInfo", {})
    if due is None:
        info.pop("nextRunTime", None)
    else:
        info["nextRunTime"] = wire.format_datetime(datetime.fromtimestamp(due, UTC))


def jobs_of(store: Store, schedule_id: str) -> list[Record]:
    return [j for j in store.list(JOB)
            if str(j.private.get("schedule", "")).lower() == schedule_id.lower()]


class Recurrence:
    """Advances every job schedule by the clock; the scheduler's hook."""

    def __init__(self, store: Store, scheduler: Scheduler, autopools: AutoPools) -> None:
        self.store = store
        self.scheduler = scheduler
        self.autopools = autopools

    def tick(self, now: float | None = None) -> None:
        """Advance every schedule to ``now`` (the clock, unless a test gives one)."""
        for record in self.store.list(SCHEDULE):
            state = record.doc["state"]
            if state == JobScheduleState.ACTIVE:
                self._advance(record, time.time() if now is None else now)
            elif state == JobScheduleState.TERMINATING:
                self._terminating(record)
            elif state == JobScheduleState.DELETING:
                self._deleting(record)

    # -- active schedules --------------------------------------------------------------
    def _advance(self, record: Record, now: float) -> None:
        schedule = record.doc.get("schedule") or {}
        due = record.private.get("due")
        after = moment(schedule, "doNotRunAfter")
        if due is None or (after is not None and max(now, due) > after):
            if not self._recent_open(record):
                self._complete(record)
            return
        if now < due:
            return
        interval = seconds(schedule, "recurrenceInterval")
        window = seconds(schedule, "startWindow") or interval
        if interval is not None and window is not None:
            window = min(window, interval)
        if window is not None and now > due + window:
            self._skip(record, due, now, interval)
        elif not self._recent_open(record):
            self._run(record, interval)

    def _skip(self, record: Record, due: float, now: float, interval: float | None) -> None:
        """The chance to run passed: no job for that run (the service's rule)."""
        next_due: float | None = None
        if interval is not None:
            next_due = due + interval * (1 + int((now - due) // interval))
        log.info("job schedule %s missed its start window", record.doc["id"])
        self._save(record, next_due)

    def _run(self, record: Record, interval: float | None) -> None:
        number = int(record.private.get("count") or 0) + 1
        job_id = f"{record.doc['id']}:job-{number}"
        self._create_job(record, job_id)
        due = record.private["due"]

        def made(r: Record) -> None:
            r.private["count"] = number
            r.private["recent"] = job_id
            r.doc.setdefault("executionInfo", {})["recentJob"] = {
                "id": job_id, "url": f"{_base(r.doc)}/jobs/{job_id}"}

        self.store.mutate(SCHEDULE, "", record.doc["id"], made)
        self._save(record, None if interval is None else due + interval)
        log.info("job schedule %s created job %s", record.doc["id"], job_id)

    def _create_job(self, record: Record, job_id: str) -> None:
        spec = copy.deepcopy(record.doc["jobSpecification"])
        body: Json = {**spec, "id": job_id}
        doc = docs.new_job_doc(body, _base(record.doc))
        auto = autopool.auto_spec(spec.get("poolInfo"))
        if auto and auto.get("poolLifetimeOption") == "jobschedule":
            doc["executionInfo"]["poolId"] = self._schedule_pool(record, auto)
        seq = len(self.store.list(JOB, None)) + 1
        self.store.insert(JOB, "", job_id, Record(
            doc, {"seq": seq, "nodes": [], "schedule": record.doc["id"]}))
        self.scheduler.kick()

    def _schedule_pool(self, record: Record, spec: Json) -> str:
        """The one pool every job of the schedule shares (lifetime ``jobschedule``)."""
        existing = record.private.get("autopool")
        if existing and self.store.get(autopool.AUTOPOOL, "", existing) is not None:
            return str(existing)
        pool_id = self.autopools.create(spec, SCHEDULE, record.doc["id"])
        self.store.mutate(SCHEDULE, "", record.doc["id"],
                          lambda r: r.private.__setitem__("autopool", pool_id))
        return pool_id

    def _save(self, record: Record, due: float | None) -> None:
        updated = self.store.mutate(SCHEDULE, "", record.doc["id"],
                                    lambda r: set_due(r, due))
        record.doc, record.private = updated.doc, updated.private

    def _recent_open(self, record: Record) -> bool:
        recent = record.private.get("recent")
        job = self.store.get(JOB, "", recent) if recent else None
        return job is not None and job.doc["state"] in _JOB_NOT_DONE

    # -- ends --------------------------------------------------------------------------
    def _terminating(self, record: Record) -> None:
        for job in jobs_of(self.store, record.doc["id"]):
            if job.doc["state"] in JOB_OPEN:
                self.scheduler.terminate_job(job.doc["id"], "TerminateJobSchedule")
        if not self._recent_open(record):
            self._complete(record)

    def _deleting(self, record: Record) -> None:
        remaining = jobs_of(self.store, record.doc["id"])
        for job in remaining:
            if job.doc["state"] != JobState.DELETING:
                self.scheduler.delete_job(job.doc["id"])
        if not remaining:
            self.store.delete(SCHEDULE, "", record.doc["id"])
            log.info("job schedule %s deleted", record.doc["id"])

    def _complete(self, record: Record) -> None:
        def done(r: Record) -> None:
            docs.set_state(r.doc, JobScheduleState.COMPLETED)
            info = r.doc.setdefault("executionInfo", {})
            info["endTime"] = docs.now()
            info.pop("nextRunTime", None)
            r.private["due"] = None

        self.store.mutate(SCHEDULE, "", record.doc["id"], done)


def _base(doc: Json) -> str:
    return str(doc["url"]).rsplit("/jobschedules/", 1)[0]
