"""``shipyard jobs tasks``: list, count, terminate and delete the tasks of jobs.

Without ``--jobid`` a command acts on every job of jobs.yaml (``list --all``: every job in
the account); without ``--taskid`` on every task of those jobs.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import click

from shipyard.batch import waiting
from shipyard.cli import cleanup, render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app

if TYPE_CHECKING:
    from azure.batch import models

TASK_TIMEOUT = 7 * 24 * 3600.0
END_TIMEOUT = 900.0
LIVE = ("active", "preparing", "running")

jobid_option = click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
taskid_option = click.option("--taskid", help="Only this task [default: every task].")


@click.group("tasks")
def tasks() -> None:
    """Tasks actions."""


def _job_ids(app: App, jobid: str | None, every: bool = False) -> list[str]:
    from shipyard.cli.jobs import job_ids

    return job_ids(app, jobid, every)


def _tasks_of(app: App, job_id: str, taskid: str | None) -> list[models.BatchTask]:
    if taskid:
        return [app.client.get_task(job_id, taskid)]
    return list(app.client.list_tasks(job_id))


@tasks.command("list")
@click.option("--all", "every", is_flag=True, help="Every task of every job in the account.")
@jobid_option
@click.option("--poll-until-tasks-complete", "poll", is_flag=True,
              help="Poll until every task has completed.")
@pass_app
@reported
def list_tasks(app: App, every: bool, jobid: str | None, poll: bool) -> None:
    """List tasks within jobs with state, exit code and node."""
    ids = _job_ids(app, jobid, every)
    if poll:
        for job_id in ids:
            _poll_until_complete(app, job_id)
    found = {job_id: list(app.client.list_tasks(job_id)) for job_id in ids}
    if app.raw:
        app.emit_raw({j: [t.as_dict() for t in ts] for j, ts in found.items()})
        return
    for job_id, job_tasks in found.items():
        console.print(render.tasks_table(job_id, job_tasks))


def _poll_until_complete(app: App, job_id: str) -> None:
    with render.live(app.raw) as show:
        def report(found: list[models.BatchTask]) -> None:
            show(render.tasks_table(f"{job_id} ({render.summary(found)})", found))

        waiting.tasks_done(app.client, job_id, report, TASK_TIMEOUT)


@tasks.command("count")
@jobid_option
@pass_app
@reported
def count(app: App, jobid: str | None) -> None:
    """Count tasks of jobs by state, and succeeded and failed ones."""
    counts = {job_id: app.client.get_job_task_counts(job_id).task_counts
              for job_id in _job_ids(app, jobid)}
    rows = {job_id: {"active": c.active, "running": c.running, "completed": c.completed,
                     "succeeded": c.succeeded, "failed": c.failed}
            for job_id, c in counts.items()}
    if app.raw:
        app.emit_raw(rows)
        return
    console.print(render.table("task counts", ("job", "active", "running", "completed",
                                               "succeeded", "failed"),
                               ((job_id, *row.values()) for job_id, row in rows.items())))


@tasks.command("term")
@jobid_option
@taskid_option
@click.option("--force", is_flag=True, help="Also tasks that are no longer running (their "
                                            "containers are removed).")
@click.option("--wait", is_flag=True, help="Wait until the tasks completed.")
@pass_app
@reported
def term(app: App, jobid: str | None, taskid: str | None, force: bool, wait: bool) -> None:
    """Terminate specified tasks in jobs."""
    for job_id in _job_ids(app, jobid):
        chosen = [t for t in _tasks_of(app, job_id, taskid)
                  if force or render.value(t.state) in LIVE]
        if not chosen:
            app.say(f"no running tasks in {job_id}")
            continue
        app.confirm(f"Terminate {len(chosen)} task(s) of {job_id}?")
        for task in chosen:
            app.client.terminate_task(job_id, task.id)
            app.say(f"task {job_id}/{task.id} terminated")
        if any(t.multi_instance_settings is not None for t in chosen):
            cleanup.remove_containers(app, job_id, wait=wait)
        if wait:
            for task in chosen:
                waiting.poll(f"task {job_id}/{task.id} to complete",
                             partial(_completed, app, job_id, task.id), END_TIMEOUT)


@tasks.command("del")
@jobid_option
@taskid_option
@click.option("--wait", is_flag=True, help="Wait until the tasks are gone.")
@pass_app
@reported
def delete(app: App, jobid: str | None, taskid: str | None, wait: bool) -> None:
    """Delete specified tasks in jobs."""
    for job_id in _job_ids(app, jobid):
        chosen = [t.id for t in _tasks_of(app, job_id, taskid)]
        if not chosen:
            app.say(f"no tasks in {job_id}")
            continue
        app.confirm(f"Delete {len(chosen)} task(s) of {job_id}?")
        for task_id in chosen:
            app.client.delete_task(job_id, task_id)
            app.say(f"task {job_id}/{task_id} deleted")
        if wait:
            for task_id in chosen:
                waiting.gone(f"task {job_id}/{task_id} to be deleted",
                             partial(app.client.get_task, job_id, task_id), END_TIMEOUT)


def _completed(app: App, job_id: str, task_id: str) -> models.BatchTask | None:
    task = app.client.get_task(job_id, task_id)
    return task if render.value(task.state) == "completed" else None
