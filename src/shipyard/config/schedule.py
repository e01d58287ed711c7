"""jobs.yaml: a job's ``auto_pool`` and ``recurrence`` (a job schedule), as Batch Shipyard
writes them.

An empty mapping is "off", as Batch Shipyard reads it. Times: ``do_not_run_until`` and
``do_not_run_after`` are ISO 8601 date-times (``2026-12-24T18:00:00Z``; a time without a
zone is UTC); ``start_window`` and ``recurrence_interval`` are time spans ``d.HH:mm:ss``
of at least a minute, the service's minimum.

A recurring job is one task: its schedule's job manager task (see
``shipyard.factory.schedule`` for why), so :func:`check_recurring_job` refuses what a job
manager cannot be.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from shipyard.config.base import Model, TimeSpan, problem, shown

if TYPE_CHECKING:  # jobs.py imports this module
    from shipyard.config.jobs import JobSpec

#: The service's smallest recurrence interval and start window.
MIN_SPAN = timedelta(minutes=1)


def empty_as_none(value: object) -> object:
    """``auto_pool: {}`` and ``recurrence: {}`` are "off", as in Batch Shipyard."""
    return None if value == {} else value


def _moment(value: object) -> object:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise problem("must be an ISO 8601 date and time such as 2026-12-24T18:00:00Z "
                      f"(got {shown(value)})")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: A moment in time, always with a zone (UTC when the text has none).
Moment = Annotated[datetime, BeforeValidator(_moment)]


class AutoPool(Model):
    """``auto_pool``: the job (or its schedule) brings pool.yaml's pool and takes it away."""

    pool_lifetime: Literal["job", "job_schedule"] = "job"
    keep_alive: bool = False


class Schedule(Model):
    """``recurrence.schedule``: when the schedule makes its jobs."""

    do_not_run_until: Moment | None = None
    do_not_run_after: Moment | None = None
    start_window: TimeSpan | None = None
    recurrence_interval: TimeSpan

    @model_validator(mode="after")
    def _service_limits(self) -> Schedule:
        for key in ("recurrence_interval", "start_window"):
            span = getattr(self, key)
            if span is not None and span < MIN_SPAN:
                raise problem(f"must be at least 00:01:00, the service's minimum (got {span})",
                              key)
        until, after = self.do_not_run_until, self.do_not_run_after
        if until is not None and after is not None and after <= until:
            raise problem("must be later than do_not_run_until", "do_not_run_after")
        return self


class JobManager(Model):
    """``recurrence.job_manager``: how the schedule's job manager task runs."""

    allow_low_priority_node: bool = True
    run_exclusive: bool = False
    monitor_task_completion: bool = False


class Recurrence(Model):
    """``recurrence``: ``jobs add`` makes a job schedule (of the job's id) instead of a job."""

    schedule: Schedule
    job_manager: JobManager = Field(default_factory=JobManager)


#: Job keys a recurring job may not set: its one task is a job manager, which has none of
#: them (``auto_scratch`` Batch Shipyard refuses with recurrences too).
RECURRING_FORBIDDEN = ("merge_task", "auto_scratch")
#: Task keys a job manager task cannot carry.
MANAGER_FORBIDDEN = ("multi_instance", "depends_on", "depends_on_range", "exit_conditions")


def check_recurring_job(job: JobSpec) -> None:
    """Refuse ``pool_lifetime: job_schedule`` without a recurrence, and a recurring job
    that is not one plain task."""
    recurrence, auto_pool = job.recurrence, job.auto_pool
    if auto_pool is not None and auto_pool.pool_lifetime == "job_schedule" and not recurrence:
        raise problem("job_schedule applies only to a job with recurrence; use job",
                      "auto_pool", "pool_lifetime")
    if recurrence is None:
        return
    for key in RECURRING_FORBIDDEN:
        if getattr(job, key) is not None:
            raise problem("not allowed with recurrence (a recurring job is one task, run as "
                          "its schedule's job manager)", key)
    tasks = job.tasks
    if len(tasks) != 1:
        raise problem(f"a recurring job has exactly one task, run as its schedule's job "
                      f"manager (got {len(tasks)}); give each task its own job", "tasks")
    for key in MANAGER_FORBIDDEN:
        if key in tasks[0].model_fields_set and getattr(tasks[0], key) not in (None, ()):
            raise problem("not allowed in the task of a recurring job (it runs as the "
                          "schedule's job manager task, which has no such setting)",
                          "tasks", 0, key)
