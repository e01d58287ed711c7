"""``shipyard jobs``: add the jobs of jobs.yaml (optionally tailing a file), list, end them.

Disabling, enabling and statistics are in ``jobctl``, migrating in ``migrate``, building
and sending in ``submit``; ``jobs tasks`` in ``tasks``, ``jobs timeline`` in
``dashboard``: ``ELSEWHERE`` loads them when they run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import click

from shipyard.batch import waiting
from shipyard.cli import cleanup, render
from shipyard.cli.app import abort, console, err_console, escape, reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.lazy import Lazy, LazyGroup
from shipyard.errors import BatchError

if TYPE_CHECKING:
    from azure.batch import BatchClient, models

    from shipyard.factory.tasks import PoolContext

JOB_TIMEOUT = 7 * 24 * 3600.0
END_TIMEOUT = 900.0


#: Subcommands kept in other modules, imported when they run.
ELSEWHERE = {
    "disable": Lazy("shipyard.cli.jobctl:disable",
                    "Disable jobs and job schedules until they are enabled."),
    "enable": Lazy("shipyard.cli.jobctl:enable", "Enable jobs and job schedules."),
    "migrate": Lazy("shipyard.cli.migrate:migrate",
                    "Migrate jobs and job schedules to another pool (disable, change the "
                    "pool, enable)."),
    "stats": Lazy("shipyard.cli.jobctl:stats",
                  "Get statistics about jobs: tasks by state and result, run times."),
    "tasks": Lazy("shipyard.cli.tasks:tasks", "Tasks actions."),
    "timeline": Lazy("shipyard.cli.dashboard:timeline",
                     "Where the time of a (multi-instance) task went, node by node."),
}


@click.group(cls=LazyGroup, lazy=ELSEWHERE)
def jobs() -> None:
    """Jobs actions."""


@jobs.command("add")
@click.option("--tail", "tail", metavar="FILE",
              help="Stream this file of the last task (e.g. stdout.txt) until it completes.")
@click.option("--recreate", is_flag=True, help="Delete jobs that already exist first.")
@click.option("--dry-run", is_flag=True, help="Check the config and print every request; "
                                              "send nothing.")
@pass_app
@reported
def add(app: App, tail: str | None, recreate: bool, dry_run: bool) -> None:
    """Add jobs (every job of jobs.yaml with its tasks, to pool.yaml's pool).

    Every job is built and checked before the first is created (see ``cli.submit``).
    """
    if dry_run:
        from shipyard.cli import dryrun

        dryrun.show_jobs(app)
        return
    from shipyard.cli import storage, submit
    from shipyard.cli.schedules import planned_context

    pool_id = app.config.pool.id
    # An auto pool does not exist yet: its node counts are pool.yaml's. Both are known
    # before anything is created, so a missing pool changes nothing.
    contexts = {auto: planned_context(app) if auto else _pool_context(app, pool_id)
                for auto in {job.auto_pool is not None for job in app.config.jobs}}
    app.warn_local_hardware()
    data = storage.plan(app)  # input_data, output_data, task_factory.file
    plans = [submit.build(app, job, contexts[job.auto_pool is not None], data)
             for job in app.config.jobs]
    submit.check(app, plans, recreate)
    submit.send(app, plans, data, recreate)
    last = next((p for p in reversed(plans) if p.schedule is None and p.tasks), None)
    if tail and last:
        _tail(app, last.job.id, str(last.tasks[-1].id), tail)
    elif tail:
        app.say(f"[dim]not streaming {tail}: a job schedule's tasks run later[/dim]")


def _tail(app: App, job_id: str, task_id: str, name: str) -> None:
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    def waits(reason: str) -> None:
        err_console.print(f"[yellow]waiting:[/yellow] {escape(reason)}")

    app.say(f"[dim]streaming {name} of {job_id}/{task_id}[/dim]")
    task = waiting.tail_task_file(app.client, job_id, task_id, name, write, JOB_TIMEOUT,
                                  note=waits)
    info = task.execution_info
    if info is not None and info.result == "failure":
        why = info.failure_info.message if info.failure_info else f"exit code {info.exit_code}"
        abort(f"task {job_id}/{task_id} failed: {why}",
              hint=f"see 'shipyard data files stream --filespec {job_id},{task_id},stderr.txt'")
    app.say(f"task {job_id}/{task_id} completed (exit code "
            f"{info.exit_code if info else '?'})")


@jobs.command("list")
@pass_app
@reported
def list_jobs(app: App) -> None:
    """List jobs with their state and task counts (then the job schedules, if any)."""
    from shipyard.cli import schedules

    found = list(app.client.list_jobs())
    counts = {j.id: app.client.get_job_task_counts(j.id).task_counts for j in found}
    if app.raw:
        app.emit_raw([j.as_dict() for j in found])
        return
    console.print(render.table("jobs", ("job", "state", "pool", "active", "running",
                                        "succeeded", "failed"), (
        (j.id, j.state, j.pool_info.pool_id if j.pool_info else "-", counts[j.id].active,
         counts[j.id].running, counts[j.id].succeeded, counts[j.id].failed) for j in found)))
    made = schedules.table(app)
    if made is not None:
        console.print(made)


def _scope(function: Callable[..., None]) -> Callable[..., None]:
    """The scoping flags of ``jobs term`` and ``jobs del``."""
    for option in reversed((
        click.option("--all-jobs", is_flag=True, help="Every job in the Batch account."),
        click.option("--all-jobschedules", is_flag=True,
                     help="Every job schedule in the Batch account."),
        click.option("--jobid", help="Only this job [default: every job of jobs.yaml]."),
        click.option("--jobscheduleid", help="Only this job schedule [default: the "
                                             "schedules of jobs.yaml's recurring jobs]."),
        click.option("--termtasks", is_flag=True, help="Terminate the tasks first."),
        click.option("--wait", is_flag=True, help="Wait until it is done."),
    )):
        function = option(function)
    return function


@jobs.command("term")
@_scope
@click.option("--reason", default="UserTerminate", show_default=True)
@pass_app
@reported
def term(app: App, all_jobs: bool, all_jobschedules: bool, jobid: str | None,
         jobscheduleid: str | None, termtasks: bool, wait: bool, reason: str) -> None:
    """Terminate jobs and job schedules: running tasks stop and job release tasks clean
    the nodes."""
    from azure.batch.models import _models as sdk_models  # not exported by SDK 15.1

    # SDK 15.1 refuses a terminate without a body, so a reason is always sent.
    options = sdk_models.BatchJobTerminateOptions(termination_reason=reason)
    ids, schedule_ids = _targets(app, jobid, jobscheduleid, all_jobs, all_jobschedules)
    _end_jobs(app, ids, schedule_ids, "Terminate", "terminating", wait, termtasks,
              start=lambda job_id: app.client.begin_terminate_job(
                  job_id, options, polling_interval=1),
              done=lambda job_id: waiting.poll(
                  f"job {job_id} to complete", partial(_completed, app.client, job_id),
                  END_TIMEOUT))


@jobs.command("del")
@_scope
@pass_app
@reported
def delete(app: App, all_jobs: bool, all_jobschedules: bool, jobid: str | None,
           jobscheduleid: str | None, termtasks: bool, wait: bool) -> None:
    """Delete jobs and job schedules, with their tasks (job release tasks still run)."""
    ids, schedule_ids = _targets(app, jobid, jobscheduleid, all_jobs, all_jobschedules)
    _end_jobs(app, ids, schedule_ids, "Delete", "deleting", wait, termtasks,
              start=lambda job_id: app.client.begin_delete_job(job_id, polling_interval=1),
              done=partial(wait_deleted, app))


def job_ids(app: App, jobid: str | None, all_jobs: bool = False) -> list[str]:
    """The jobs a command acts on: ``--jobid``, ``--all-jobs``, else jobs.yaml's (but the
    recurring ones, whose ids name job schedules)."""
    if jobid:
        return [jobid]
    if all_jobs:
        return [j.id for j in app.client.list_jobs()]
    return [j.id for j in app.config.jobs if j.recurrence is None]


def _targets(app: App, jobid: str | None, jobscheduleid: str | None, all_jobs: bool,
             all_jobschedules: bool) -> tuple[list[str], list[str]]:
    from shipyard.cli.schedules import scoped

    return scoped(app, jobid, jobscheduleid, all_jobs, all_jobschedules)


def _end_jobs(app: App, ids: list[str], schedule_ids: list[str], verb: str, state: str,
              wait: bool, termtasks: bool, start: Callable[[str], object],
              done: Callable[[str], object]) -> None:
    """Confirm, start ending every named job and schedule, then optionally wait for each."""
    if not ids and not schedule_ids:
        app.say("no jobs")
        return
    named = [*ids, *(f"job schedule {s}" for s in schedule_ids)]
    app.confirm(f"{verb} {', '.join(named)} and stop all their tasks?")
    if schedule_ids:
        from shipyard.cli import schedules

        schedules.end(app, schedule_ids, verb, wait, termtasks)
    for job_id in ids:
        if termtasks:
            terminate_tasks(app, job_id)
        app.say(f"job {job_id} {_started(start, job_id) or state}")
    if wait:
        for job_id in ids:
            done(job_id)
            app.say(f"job {job_id} {'completed' if verb == 'Terminate' else 'deleted'}")


#: Refusals that mean the job is already on its way to where the command takes it.
_UNDER_WAY = {"JobCompleted": "already completed", "JobBeingTerminated": "already terminating",
              "JobBeingDeleted": "already being deleted"}


def _started(start: Callable[[str], object], job_id: str) -> str | None:
    """Start ending the job; what it already was doing instead, if the service says so."""
    from azure.core.exceptions import HttpResponseError

    try:
        start(job_id)
    except HttpResponseError as exc:
        under_way = _UNDER_WAY.get(str(getattr(exc.error, "code", "")))
        if under_way is None:
            raise
        return under_way
    return None


def terminate_tasks(app: App, job_id: str) -> None:
    """Terminate the job's tasks that have not completed."""
    for task in app.client.list_tasks(job_id):
        if render.value(task.state) in ("active", "running", "preparing"):
            app.client.terminate_task(job_id, task.id)
            app.say(f"task {job_id}/{task.id} terminated")


@jobs.command("cmi")
@click.option("--delete", "delete_cleanup", is_flag=True,
              help="Delete the cleanup jobs made by earlier runs instead.")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@click.option("--wait", is_flag=True, help="Wait until the containers are removed.")
@pass_app
@reported
def cmi(app: App, delete_cleanup: bool, jobid: str | None, wait: bool) -> None:
    """Cleanup multi-instance jobs: remove the containers they left (or the cleanup jobs)."""
    for job_id in job_ids(app, jobid):
        if delete_cleanup:
            cleanup.delete_cleanup_job(app, job_id)
        else:
            cleanup.remove_containers(app, job_id, wait=wait)


def _pool_context(app: App, pool_id: str) -> PoolContext:
    from shipyard.factory.tasks import PoolContext
    from shipyard.factory.volumes import volume_context

    found = app.client.get_pool(pool_id)
    return PoolContext(spec=app.config.pool,
                       current_dedicated=found.current_dedicated_nodes or 0,
                       current_low_priority=found.current_low_priority_nodes or 0,
                       local=app.config.is_local, volumes=volume_context(app.config))


def create_job(app: App, options: models.BatchJobCreateOptions, recreate: bool) -> None:
    """Create the job; one that exists is refused, or deleted first with ``--recreate``.

    ``jobs add`` has asked whether every id is free before it made anything
    (``submit.check``); the create still refuses an id taken since then, and with
    ``--recreate`` (where nothing was asked) it is what finds the old job to delete.
    """
    from azure.core.exceptions import ResourceExistsError

    try:
        app.client.create_job(options)
        return
    except ResourceExistsError as exc:
        if getattr(exc.error, "code", None) != "JobExists":
            raise
        if not recreate:
            raise BatchError(409, "JobExists", f"job {options.id} already exists",
                             hint="pass --recreate to replace it, or delete it first") from None
    delete_job(app, str(options.id), "deleting the old job")
    app.client.create_job(options)


def delete_job(app: App, job_id: str, doing: str) -> None:
    """Delete the job and wait until it is gone, ``doing`` on the status line."""
    app.client.begin_delete_job(job_id, polling_interval=1)
    with console.status(f"{doing} {job_id}"):
        wait_deleted(app, job_id)


def wait_deleted(app: App, job_id: str) -> None:
    waiting.gone(f"job {job_id} to be deleted", partial(app.client.get_job, job_id),
                 END_TIMEOUT)


def _completed(client: BatchClient, job_id: str) -> models.BatchJob | None:
    job = client.get_job(job_id)
    return job if job.state == "completed" else None
