"""``shipyard jobs migrate``: jobs and job schedules moved to another pool.

Azure Batch changes a job's ``poolInfo`` only while the job is disabled: disable (running
tasks requeued, terminated or waited for), update, enable. A job schedule is moved the
same way: disabled, its ``jobSpecification.poolInfo`` replaced, enabled; the service
gives the new pool only to the jobs made after that, so the schedule's active job is
migrated as well (Batch Shipyard leaves it on the old pool). Every target is checked
first, as Batch Shipyard checks them: one that has ended, runs on an auto pool or is on
the pool already is refused before anything changes. What was disabled is enabled again
when a later step fails (or the warning says how to enable it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import click
from azure.core.exceptions import AzureError

from shipyard.cli import render, schedules
from shipyard.cli.app import err_console, escape, reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.jobctl import (
    disable_job,
    enable_job,
    jobid_option,
    running_tasks_action,
    tasks_action,
)
from shipyard.errors import ConfigError, ShipyardError

if TYPE_CHECKING:
    from azure.batch import models

#: States from which nothing can be migrated (Batch Shipyard's list).
ENDED = ("completed", "deleting", "terminating")
#: States of a schedule's job that still runs tasks, so it moves with its schedule.
OPEN = ("active", "disabling", "disabled", "enabling")
#: The service writes "no limit" as the largest duration it has; sent back, it is refused.
UNLIMITED = timedelta(days=900_000)


@click.command("migrate")
@jobid_option
@schedules.jobscheduleid_option
@click.option("--poolid", required=True, help="The pool to move the jobs to.")
@running_tasks_action
@pass_app
@reported
def migrate(app: App, jobid: str | None, jobscheduleid: str | None, poolid: str,
            requeue: bool, terminate: bool, wait: bool) -> None:
    """Migrate jobs and job schedules to another pool (disable, change the pool, enable).

    A job schedule's active job moves with it.
    """
    if jobid and jobscheduleid:
        raise ConfigError("give --jobid or --jobscheduleid, not both")
    action = tasks_action(requeue, terminate, wait)
    app.client.get_pool(poolid)  # a missing pool fails before anything is touched
    ids, schedule_ids = schedules.scoped(app, jobid, jobscheduleid)
    for job_id in ids:
        found = app.client.get_job(job_id)
        _check("job", job_id, render.value(found.state), found.pool_info, poolid)
    active = {schedule_id: _checked_schedule(app, schedule_id, poolid)
              for schedule_id in schedule_ids}
    for schedule_id, open_job in active.items():
        _migrate_schedule(app, schedule_id, open_job, poolid, action)
    for job_id in ids:
        _migrate_job(app, job_id, poolid, action)
        app.say(f"job {job_id} migrated to pool {poolid}")


def _check(kind: str, name: str, state: str, info: models.BatchPoolInfo | None,
           poolid: str) -> None:
    if state in ENDED:
        raise ConfigError(f"cannot migrate {kind} {name}: it is {state}")
    if info is None or info.auto_pool_specification is not None:
        raise ConfigError(f"cannot migrate {kind} {name}: it runs on an auto pool, made for "
                          "it and gone with it", hint="add it again without auto_pool")
    if info.pool_id == poolid:
        raise ConfigError(f"cannot migrate {kind} {name}: it is on pool {poolid} already")


def _checked_schedule(app: App, schedule_id: str, poolid: str) -> str | None:
    """Check the schedule; the id of its job that still runs (to move with it), if any."""
    found = app.client.get_job_schedule(schedule_id)
    spec = found.job_specification
    _check("job schedule", schedule_id, render.value(found.state),
           spec.pool_info if spec else None, poolid)
    recent = found.execution_info.recent_job if found.execution_info else None
    if recent is None or recent.id is None:
        return None
    job = app.client.get_job(recent.id)
    return str(job.id) if render.value(job.state) in OPEN else None


@contextmanager
def _enabled_after(app: App, what: str, enable: Callable[[], None], option: str
                   ) -> Iterator[None]:
    """Enable ``what`` again after the block, also when the block fails: a failed
    migration must not leave a job or schedule disabled unsaid. If enabling fails too,
    the warning says how to enable it, and the block's error is the one raised."""
    try:
        yield
    except BaseException:
        try:
            enable()
        except (AzureError, ShipyardError) as exc:
            err_console.print(f"[yellow]warning:[/yellow] {what} stays disabled "
                              f"({escape(str(exc))})\n[dim]enable it with 'shipyard jobs "
                              f"enable {option}'[/dim]")
        raise
    enable()


def _migrate_job(app: App, job_id: str, poolid: str, action: str) -> None:
    from azure.batch import models

    disable_job(app, job_id, action)
    with _enabled_after(app, f"job {job_id}", partial(enable_job, app, job_id),
                        f"--jobid {job_id}"):
        app.client.update_job(job_id, models.BatchJobUpdateOptions(
            pool_info=models.BatchPoolInfo(pool_id=poolid)))


def _migrate_schedule(app: App, schedule_id: str, job_id: str | None, poolid: str,
                      action: str) -> None:
    from azure.batch import models

    schedules.disable(app, schedule_id)  # no new job on the old pool meanwhile
    with _enabled_after(app, f"job schedule {schedule_id}",
                        partial(schedules.enable, app, schedule_id),
                        f"--jobscheduleid {schedule_id}"):
        spec = app.client.get_job_schedule(schedule_id).job_specification
        spec.pool_info = models.BatchPoolInfo(pool_id=poolid)
        _drop_unlimited(spec)
        app.client.update_job_schedule(schedule_id, models.BatchJobScheduleUpdateOptions(
            job_specification=spec))
        if job_id is not None:
            _migrate_job(app, job_id, poolid, action)
    with_job = f" with its job {job_id}" if job_id else ""
    app.say(f"job schedule {schedule_id} migrated to pool {poolid}{with_job}")


def _drop_unlimited(spec: models.BatchJobSpecification) -> None:
    """Unset the durations the service reports as "no limit" (it refuses them back)."""
    holders = (spec.constraints,
               spec.job_manager_task.constraints if spec.job_manager_task else None,
               spec.job_preparation_task.constraints if spec.job_preparation_task else None,
               spec.job_release_task)
    for holder in holders:
        for name in ("max_wall_clock_time", "retention_time"):
            value = getattr(holder, name, None)
            if isinstance(value, timedelta) and value >= UNLIMITED:
                setattr(holder, name, None)
