"""``shipyard jobs disable|enable|stats``: a job's scheduling and its figures.

Disabling stops new tasks from starting; ``--requeue`` (the default), ``--terminate`` or
``--wait`` say what becomes of the running ones (``jobs migrate``, in ``migrate``, uses
the same flags and steps).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import click

from shipyard.batch import waiting
from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.schedules import jobscheduleid_option
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from azure.batch import models

STATE_TIMEOUT = 3600.0
#: ``jobs stats`` rows (wall_time_KEY_s) and the figures.Durations field each shows.
WALL_TIMES = (("min", "shortest"), ("mean", "mean"), ("max", "longest"), ("total", "total"))
F = TypeVar("F", bound=Callable[..., Any])

jobid_option = click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")


def running_tasks_action(function: F) -> F:
    """``--requeue``, ``--terminate`` and ``--wait``: what happens to running tasks."""
    for option in reversed((
        click.option("--requeue", is_flag=True, help="Requeue running tasks [default]."),
        click.option("--terminate", is_flag=True, help="Terminate running tasks."),
        click.option("--wait", is_flag=True, help="Let running tasks complete."),
    )):
        function = option(function)
    return function


def tasks_action(requeue: bool, terminate: bool, wait: bool) -> str:
    chosen = [name for name, on in (("requeue", requeue), ("terminate", terminate),
                                    ("wait", wait)) if on]
    if len(chosen) > 1:
        raise ConfigError(f"give only one of --requeue, --terminate and --wait "
                          f"(got {', '.join('--' + c for c in chosen)})")
    return chosen[0] if chosen else "requeue"


def _ids(app: App, jobid: str | None) -> list[str]:
    from shipyard.cli.jobs import job_ids

    return job_ids(app, jobid)


def _in_state(app: App, job_id: str, state: str) -> models.BatchJob | None:
    job = app.client.get_job(job_id)
    return job if render.value(job.state) == state else None


def disable_job(app: App, job_id: str, action: str) -> None:
    """Disable ``job_id`` and wait until the service says it is disabled."""
    from azure.batch import models

    app.client.begin_disable_job(job_id, models.BatchJobDisableOptions(disable_tasks=action),
                                 polling_interval=1)
    waiting.poll(f"job {job_id} to be disabled", partial(_in_state, app, job_id, "disabled"),
                 STATE_TIMEOUT)
    app.say(f"job {job_id} disabled (running tasks: {action})")


def enable_job(app: App, job_id: str) -> None:
    """Enable ``job_id`` and wait until it is active again."""
    app.client.begin_enable_job(job_id, polling_interval=1)
    waiting.poll(f"job {job_id} to be enabled", partial(_in_state, app, job_id, "active"),
                 STATE_TIMEOUT)
    app.say(f"job {job_id} enabled")


@click.command("disable")
@jobid_option
@jobscheduleid_option
@running_tasks_action
@pass_app
@reported
def disable(app: App, jobid: str | None, jobscheduleid: str | None, requeue: bool,
            terminate: bool, wait: bool) -> None:
    """Disable jobs and job schedules until they are enabled.

    A disabled job starts no new tasks; a disabled job schedule makes no new jobs.
    """
    from shipyard.cli import schedules

    action = tasks_action(requeue, terminate, wait)
    ids, schedule_ids = schedules.scoped(app, jobid, jobscheduleid)
    for schedule_id in schedule_ids:
        schedules.disable(app, schedule_id)
    for job_id in ids:
        disable_job(app, job_id, action)


@click.command("enable")
@jobid_option
@jobscheduleid_option
@pass_app
@reported
def enable(app: App, jobid: str | None, jobscheduleid: str | None) -> None:
    """Enable jobs and job schedules."""
    from shipyard.cli import schedules

    ids, schedule_ids = schedules.scoped(app, jobid, jobscheduleid)
    for schedule_id in schedule_ids:
        schedules.enable(app, schedule_id)
    for job_id in ids:
        enable_job(app, job_id)


@click.command("stats")
@click.option("--jobid", help="Only this job [default: every job in the account].")
@pass_app
@reported
def stats(app: App, jobid: str | None) -> None:
    """Get statistics about jobs: tasks by state and result, run times."""
    ids = [jobid] if jobid else [j.id for j in app.client.list_jobs()]
    found = [task for job_id in ids for task in app.client.list_tasks(job_id)]
    summary = task_summary(len(ids), found)
    if app.raw:
        app.emit_raw(summary)
        return
    title = f"job {jobid}" if jobid else f"{len(ids)} job(s)"
    console.print(render.table(title, ("statistic", "value"), summary.items()))


def task_summary(jobs: int, found: list[models.BatchTask]) -> dict[str, object]:
    """Counts by state and result, and wall times (seconds) of the tasks that ran."""
    from shipyard.batch import figures  # the SDK's models: loaded by the command, not --help

    summary: dict[str, object] = {"jobs": jobs, "tasks": len(found)}
    summary |= render.counted("tasks_", figures.state_counts(found))
    summary |= render.counted("tasks_", figures.task_result_counts(found))
    runs = figures.task_durations(found)["run"]
    if runs.count:
        walls = runs.as_json()
        summary |= {f"wall_time_{key}_s": walls[name] for key, name in WALL_TIMES}
    return summary
