"""Job schedules for ``shipyard jobs``: a recurring job's schedule, and what acts on schedules.

``jobs add`` makes a job schedule (of the job's id) for a job with ``recurrence``; the
request is built in ``shipyard.factory.schedule``, sent by ``cli.submit``. ``jobs del``,
``term``, ``disable``, ``enable`` and ``migrate`` act on schedules named by
``--jobscheduleid`` (``--all-jobschedules`` for every schedule of the account with
``del`` and ``term``); without ids they act on the schedules of jobs.yaml's recurring
jobs, as Batch Shipyard does. ``jobs list`` shows the account's schedules after its jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from shipyard.batch import waiting
from shipyard.cli import render
from shipyard.cli.app import console
from shipyard.cli.context import App
from shipyard.errors import BatchError

if TYPE_CHECKING:
    from azure.batch import models
    from rich.table import Table

    from shipyard.config import JobSpec
    from shipyard.factory.tasks import PoolContext

END_TIMEOUT = 900.0
#: Schedule states from which disabling has nothing left to do.
_DISABLED = ("disabled", "completed", "deleting")


def jobscheduleid_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--jobscheduleid``: one job schedule instead of jobs.yaml's jobs."""
    return click.option("--jobscheduleid", help="Only this job schedule "
                                                "[default: jobs.yaml's recurring jobs].")(function)


def planned_context(app: App) -> PoolContext:
    """The pool as pool.yaml plans it: the node counts of an auto pool (or a dry run)."""
    from shipyard.factory.tasks import PoolContext
    from shipyard.factory.volumes import volume_context

    spec = app.config.pool
    return PoolContext(current_dedicated=spec.vm_count.dedicated,
                       current_low_priority=spec.vm_count.low_priority, spec=spec,
                       local=app.config.is_local, volumes=volume_context(app.config))


def recurring_ids(app: App) -> list[str]:
    """The ids of jobs.yaml's recurring jobs: the ids of their schedules."""
    return [job.id for job in app.config.jobs if job.recurrence is not None]


def scoped(app: App, jobid: str | None, jobscheduleid: str | None, all_jobs: bool = False,
           all_jobschedules: bool = False) -> tuple[list[str], list[str]]:
    """The jobs and the job schedules a command acts on (see the module docstring)."""
    if jobid or jobscheduleid or all_jobs or all_jobschedules:
        schedules = [jobscheduleid] if jobscheduleid else []
        if all_jobschedules:
            schedules += [s.id for s in app.client.list_job_schedules() if s.id not in schedules]
        jobs = [jobid] if jobid else []
        if all_jobs:
            # A schedule's jobs end with it: acting on them too would find them gone.
            made = {j.id for s in schedules for j in app.client.list_jobs_from_schedule(s)}
            jobs += [j.id for j in app.client.list_jobs() if j.id not in {*jobs, *made}]
        return jobs, schedules
    plain = [job.id for job in app.config.jobs if job.recurrence is None]
    return plain, recurring_ids(app)


def confirm_never_ending(app: App, job: JobSpec) -> None:
    """Ask before adding a recurring ``job`` whose first job would never end."""
    from shipyard.factory.schedule import never_ends

    if never_ends(job):
        app.confirm(f"job schedule {job.id}: neither auto_complete nor recurrence.job_manager."
                    "monitor_task_completion is set, so its first job stays open after its "
                    "task and no further job is made. Add it anyway?")


def send(app: App, options: models.BatchJobScheduleCreateOptions, recreate: bool) -> None:
    """Create a recurring job's schedule (deleting an old one with recreate)."""
    _create(app, options, recreate)
    interval = options.schedule.recurrence_interval if options.schedule else None
    manager = options.job_specification.job_manager_task
    app.say(f"job schedule [bold]{options.id}[/bold]: a job every {interval}, its task "
            f"{manager.id if manager else '?'} run as the job manager")


def _create(app: App, options: models.BatchJobScheduleCreateOptions, recreate: bool) -> None:
    from azure.core.exceptions import ResourceExistsError

    client, schedule_id = app.client, str(options.id)
    try:
        client.create_job_schedule(options)
        return
    except ResourceExistsError as exc:
        if getattr(exc.error, "code", None) != "JobScheduleExists":
            raise
        if not recreate:
            raise BatchError(409, "JobScheduleExists",
                             f"job schedule {schedule_id} already exists",
                             hint="pass --recreate to replace it, or delete it first: "
                                  f"shipyard jobs del --jobscheduleid {schedule_id}") from None
    client.begin_delete_job_schedule(schedule_id, polling_interval=1)
    with console.status(f"deleting the old job schedule {schedule_id}"):
        waiting.gone(f"job schedule {schedule_id} to be deleted",
                     partial(client.get_job_schedule, schedule_id), END_TIMEOUT)
    client.create_job_schedule(options)


def end(app: App, ids: list[str], verb: str, wait: bool, termtasks: bool) -> None:
    """Terminate or delete (``verb``) schedules; their jobs end or go with them."""
    client = app.client
    for schedule_id in ids:
        if termtasks:
            _terminate_open_tasks(app, schedule_id)
        if verb == "Terminate":
            client.begin_terminate_job_schedule(schedule_id, polling_interval=1)
        else:
            client.begin_delete_job_schedule(schedule_id, polling_interval=1)
        app.say(f"job schedule {schedule_id} "
                f"{'terminating' if verb == 'Terminate' else 'deleting'}")
    if not wait:
        return
    for schedule_id in ids:
        if verb == "Terminate":
            waiting.poll(f"job schedule {schedule_id} to complete",
                         partial(_in_state, app, schedule_id, ("completed",)), END_TIMEOUT)
            app.say(f"job schedule {schedule_id} completed")
        else:
            waiting.gone(f"job schedule {schedule_id} to be deleted",
                         partial(client.get_job_schedule, schedule_id), END_TIMEOUT)
            app.say(f"job schedule {schedule_id} deleted")


def _terminate_open_tasks(app: App, schedule_id: str) -> None:
    from shipyard.cli.jobs import terminate_tasks

    for job in app.client.list_jobs_from_schedule(schedule_id):
        if render.value(job.state) in ("active", "disabling", "disabled", "enabling"):
            terminate_tasks(app, str(job.id))


def _in_state(app: App, schedule_id: str, states: tuple[str, ...]
              ) -> models.BatchJobSchedule | None:
    found = app.client.get_job_schedule(schedule_id)
    return found if render.value(found.state) in states else None


def disable(app: App, schedule_id: str) -> None:
    """Disable a schedule (it makes no jobs until enabled) and wait until it is."""
    app.client.disable_job_schedule(schedule_id)
    waiting.poll(f"job schedule {schedule_id} to be disabled",
                 partial(_in_state, app, schedule_id, _DISABLED), END_TIMEOUT)
    app.say(f"job schedule {schedule_id} disabled")


def enable(app: App, schedule_id: str) -> None:
    app.client.enable_job_schedule(schedule_id)
    app.say(f"job schedule {schedule_id} enabled")


def table(app: App) -> Table | None:
    """The account's job schedules, or None when it has none."""
    found = list(app.client.list_job_schedules())
    if not found:
        return None
    return render.table("job schedules", ("job schedule", "state", "pool", "every",
                                          "next run", "recent job"), (
        (s.id, s.state, _pool_of(s), s.schedule.recurrence_interval if s.schedule else "-",
         _info(s, "next_run_time"), getattr(_info(s, "recent_job"), "id", "-"))
        for s in found))


def _info(found: models.BatchJobSchedule, name: str) -> Any:
    return getattr(found.execution_info, name, None) or "-"


def _pool_of(found: models.BatchJobSchedule) -> str:
    info = found.job_specification.pool_info if found.job_specification else None
    if info is None:
        return "-"
    return str(info.pool_id) if info.pool_id else "auto pool"
