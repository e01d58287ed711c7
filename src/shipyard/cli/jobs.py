"""``shipyard jobs``: add the jobs of jobs.yaml (optionally tailing a file), list, end them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial

import click
from azure.batch import BatchClient, models
from azure.batch.models import _models as sdk_models  # the terminate options are not exported
from azure.core.exceptions import ResourceNotFoundError

from shipyard.batch import waiting
from shipyard.batch.errors import translated
from shipyard.cli import cleanup, render, scratch, storage
from shipyard.cli.app import abort, console, reported
from shipyard.cli.context import App, pass_app
from shipyard.config import JobSpec
from shipyard.errors import BatchError
from shipyard.factory.job import auto_complete_patch, job_options
from shipyard.factory.ssh import new_ssh_material
from shipyard.factory.tasks import PoolContext, task_options
from shipyard.factory.volumes import volume_context

JOB_TIMEOUT = 7 * 24 * 3600.0
END_TIMEOUT = 900.0


@click.group()
def jobs() -> None:
    """Jobs and their tasks."""


@jobs.command("add")
@click.option("--tail", "tail", metavar="FILE",
              help="Stream this file of the last task (e.g. stdout.txt) until it completes.")
@click.option("--recreate", is_flag=True, help="Delete jobs that already exist first.")
@pass_app
def add(app: App, tail: str | None, recreate: bool) -> None:
    """Add every job of jobs.yaml with its tasks to the pool of pool.yaml."""
    with reported(), translated(app.endpoint.url):
        pool_id = app.config.pool.id
        context = _pool_context(app, pool_id)
        app.warn_local_hardware()
        last: tuple[str, str] | None = None
        for job in app.config.jobs:
            last = _add_job(app, job, pool_id, context, recreate) or last
        if tail and last:
            _tail(app, *last, tail)


def _add_job(app: App, job: JobSpec, pool_id: str, context: PoolContext,
             recreate: bool) -> tuple[str, str] | None:
    client = app.client
    if _exists(client, job.id):
        if not recreate:
            raise BatchError(409, "JobExists", f"job {job.id} already exists",
                             hint="pass --recreate to replace it, or delete it first")
        client.begin_delete_job(job.id, polling_interval=1)
        with console.status(f"deleting the old job {job.id}"):
            waiting.gone(f"job {job.id} to be deleted", lambda: client.get_job(job.id),
                         END_TIMEOUT)
    data = storage.plan(app)  # input_data, output_data, task_factory.file
    job = data.expand(job)
    multi = any(t.multi_instance for t in job.tasks)
    ssh = new_ssh_material() if multi else None
    ids = app.config.task_id_format(job)
    tasks = data.task_options(job, task_options(job, context, ssh, id_format=ids), ids)
    client.create_job(data.job_options(job, job_options(job, pool_id)))
    client.create_tasks(job.id, scratch.add_setup_first(client, job, tasks))
    if job.auto_complete:
        client.update_job(job.id, auto_complete_patch())
    app.say(f"job [bold]{job.id}[/bold]: {len(tasks)} task(s) added to pool {pool_id}")
    return (job.id, tasks[-1].id) if tasks else None


def _tail(app: App, job_id: str, task_id: str, name: str) -> None:
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    app.say(f"[dim]streaming {name} of {job_id}/{task_id}[/dim]")
    task = waiting.tail_task_file(app.client, job_id, task_id, name, write, JOB_TIMEOUT)
    info = task.execution_info
    if info is not None and info.result == "failure":
        why = info.failure_info.message if info.failure_info else f"exit code {info.exit_code}"
        abort(f"task {job_id}/{task_id} failed: {why}",
              hint=f"see 'shipyard data files stream --filespec {job_id},{task_id},stderr.txt'")
    app.say(f"task {job_id}/{task_id} completed (exit code "
            f"{info.exit_code if info else '?'})")


@jobs.command("list")
@pass_app
def list_jobs(app: App) -> None:
    """List jobs with their state and task counts."""
    with reported(), translated(app.endpoint.url):
        found = list(app.client.list_jobs())
        counts = {j.id: app.client.get_job_task_counts(j.id).task_counts for j in found}
    if app.raw:
        app.emit_raw([j.as_dict() for j in found])
        return
    console.print(render.table("jobs", ("job", "state", "pool", "active", "running",
                                        "succeeded", "failed"), (
        (j.id, j.state, j.pool_info.pool_id if j.pool_info else "-", counts[j.id].active,
         counts[j.id].running, counts[j.id].succeeded, counts[j.id].failed) for j in found)))


@jobs.command("term")
@click.option("--wait", is_flag=True, help="Wait until the jobs completed.")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@click.option("--reason", default="UserTerminate", show_default=True)
@pass_app
def term(app: App, wait: bool, jobid: str | None, reason: str) -> None:
    """Terminate jobs: running tasks stop and job release tasks clean the nodes."""
    # SDK 15.1 refuses a terminate without a body, so a reason is always sent.
    options = sdk_models.BatchJobTerminateOptions(termination_reason=reason)
    _end_jobs(app, jobid, "Terminate", "terminating", wait,
              start=lambda job_id: app.client.begin_terminate_job(
                  job_id, options, polling_interval=1),
              done=lambda job_id: waiting.poll(
                  f"job {job_id} to complete", partial(_completed, app.client, job_id),
                  END_TIMEOUT))


@jobs.command("del")
@click.option("--wait", is_flag=True, help="Wait until the jobs are gone.")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@pass_app
def delete(app: App, wait: bool, jobid: str | None) -> None:
    """Delete jobs and their tasks (job release tasks still run)."""
    _end_jobs(app, jobid, "Delete", "deleting", wait,
              start=lambda job_id: app.client.begin_delete_job(job_id, polling_interval=1),
              done=lambda job_id: waiting.gone(
                  f"job {job_id} to be deleted", partial(app.client.get_job, job_id),
                  END_TIMEOUT))


def _end_jobs(app: App, jobid: str | None, verb: str, state: str, wait: bool,
              start: Callable[[str], object], done: Callable[[str], object]) -> None:
    """Confirm, start ending every named job, then optionally wait for each to end."""
    with reported(), translated(app.endpoint.url):
        ids = [jobid] if jobid else [j.id for j in app.config.jobs]
        app.confirm(f"{verb} {', '.join(ids)} and stop all their tasks?")
        for job_id in ids:
            start(job_id)
            app.say(f"job {job_id} {state}")
        if wait:
            for job_id in ids:
                done(job_id)
                app.say(f"job {job_id} {'completed' if verb == 'Terminate' else 'deleted'}")


@jobs.group("tasks")
def tasks() -> None:
    """Tasks of a job."""


@tasks.command("list")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@pass_app
def list_tasks(app: App, jobid: str | None) -> None:
    """List tasks with state, exit code and node."""
    with reported(), translated(app.endpoint.url):
        ids = [jobid] if jobid else [j.id for j in app.config.jobs]
        found = {job_id: list(app.client.list_tasks(job_id)) for job_id in ids}
    if app.raw:
        app.emit_raw({j: [t.as_dict() for t in ts] for j, ts in found.items()})
        return
    for job_id, job_tasks in found.items():
        console.print(render.tasks_table(job_id, job_tasks))


@tasks.command("term")
@click.option("--jobid", required=True)
@click.option("--taskid", required=True)
@click.option("--wait", is_flag=True, help="Wait until its containers are removed.")
@pass_app
def term_task(app: App, jobid: str, taskid: str, wait: bool) -> None:
    """Terminate a task; a multi-instance task's containers are removed on every node."""
    with reported(), translated(app.endpoint.url):
        app.confirm(f"Terminate task {jobid}/{taskid}?")
        task = app.client.get_task(jobid, taskid)
        app.client.terminate_task(jobid, taskid)
        app.say(f"task {jobid}/{taskid} terminated")
        if task.multi_instance_settings is not None:
            cleanup.remove_containers(app, jobid, wait=wait)


@jobs.command("cmi")
@click.option("--delete", "delete_cleanup", is_flag=True,
              help="Delete the cleanup jobs made by earlier runs instead.")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@click.option("--wait", is_flag=True, help="Wait until the containers are removed.")
@pass_app
def cmi(app: App, delete_cleanup: bool, jobid: str | None, wait: bool) -> None:
    """Remove the containers multi-instance tasks left on the nodes (or the cleanup jobs)."""
    with reported(), translated(app.endpoint.url):
        ids = [jobid] if jobid else [j.id for j in app.config.jobs]
        for job_id in ids:
            if delete_cleanup:
                cleanup.delete_cleanup_job(app, job_id)
            else:
                cleanup.remove_containers(app, job_id, wait=wait)


def _pool_context(app: App, pool_id: str) -> PoolContext:
    found = app.client.get_pool(pool_id)
    return PoolContext(spec=app.config.pool,
                       current_dedicated=found.current_dedicated_nodes or 0,
                       current_low_priority=found.current_low_priority_nodes or 0,
                       local=app.config.is_local, volumes=volume_context(app.config))


def _exists(client: BatchClient, job_id: str) -> bool:
    try:
        client.get_job(job_id)
    except ResourceNotFoundError:
        return False
    return True


def _completed(client: BatchClient, job_id: str) -> models.BatchJob | None:
    job = client.get_job(job_id)
    return job if job.state == "completed" else None
