"""``jobs add``: every job of jobs.yaml built and checked first, then sent in order.

Bad input changes nothing. The first pass builds each job's requests (the job or its job
schedule, its tasks with their storage resolved, its auto pool), asks what a recurring
job needs asked, and asks the service whether each id is free (unless ``--recreate``).
Only then is anything created: the output containers, then job after job.

What only the service can refuse after that (a task too large for a request, an id
taken in the meantime) stops at that job. A job without all its tasks would run part of
the work, so it is deleted again; the error names the jobs made before it (they stay:
their tasks may be running) and the ones not made. A failed ``auto_scratch`` setup task
is the exception: its job stays so that its stderr.txt can be read, and the error says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shipyard.cli import schedules, scratch
from shipyard.cli.context import App
from shipyard.errors import BatchError, ShipyardError

if TYPE_CHECKING:
    from azure.batch import models

    from shipyard.config import JobSpec
    from shipyard.factory.tasks import PoolContext
    from shipyard.storage.plan import StoragePlan

@dataclass
class Planned:
    """One job of jobs.yaml, built: what is sent for it, and how far sending got."""

    job: JobSpec
    options: models.BatchJobCreateOptions
    tasks: list[models.BatchTaskCreateOptions]
    where: str
    schedule: models.BatchJobScheduleCreateOptions | None = None
    created: bool = False
    keep: bool = False  # a failed auto scratch setup: the job stays to be looked at

    @property
    def kind(self) -> str:
        return "job schedule" if self.schedule is not None else "job"


def build(app: App, job: JobSpec, context: PoolContext, data: StoragePlan) -> Planned:
    """Every request of ``job``, built without sending anything."""
    from shipyard.factory.job import job_options
    from shipyard.factory.schedule import job_schedule_options
    from shipyard.factory.ssh import new_ssh_material
    from shipyard.factory.tasks import task_options

    pool_id = app.config.pool.id
    job = data.expand(job)
    ssh = new_ssh_material() if any(t.multi_instance for t in job.tasks) else None
    ids = app.config.task_id_format(job)
    tasks = data.task_options(job, task_options(job, context, ssh, id_format=ids), ids)
    options = data.job_options(job, job_options(job, pool_id))
    where = f"pool {pool_id}"
    if job.auto_pool is not None:
        from shipyard.factory.pool import pool_options
        from shipyard.factory.schedule import auto_pool_info

        options.pool_info = auto_pool_info(job, data.pool_options(pool_options(app.config)))
        where = f"an auto pool of {pool_id} ({job.auto_pool.pool_lifetime} lifetime)"
    planned = Planned(job, options, tasks, where)
    if job.recurrence is not None:
        planned.schedule = job_schedule_options(job, options, tasks)
    return planned


def check(app: App, plans: list[Planned], recreate: bool) -> None:
    """What can be asked before anything is made: the questions, then the ids' owners."""
    for plan in plans:
        if plan.schedule is not None:
            schedules.confirm_never_ending(app, plan.job)
    if recreate:
        return
    taken = [plan for plan in plans if _exists(app, plan)]
    if taken:
        first = taken[0]
        code = "JobScheduleExists" if first.schedule is not None else "JobExists"
        named = ", ".join(f"{p.kind} {p.job.id}" for p in taken)
        one = len(taken) == 1
        raise BatchError(409, code, f"{named} already exist{'s' if one else ''} (nothing was "
                         "created)", hint=f"pass --recreate to replace {'it' if one else 'them'}"
                                          f", or delete {'it' if one else 'them'} first")


def _exists(app: App, plan: Planned) -> bool:
    get = app.client.get_job_schedule if plan.schedule is not None else app.client.get_job
    try:
        get(plan.job.id)
    except ResourceNotFoundError:
        return False
    return True


def send(app: App, plans: list[Planned], data: StoragePlan, recreate: bool) -> None:
    """Create the output containers, then each job in order (see the module docstring)."""
    data.create_outputs()
    for index, plan in enumerate(plans):
        try:
            if plan.schedule is not None:
                schedules.send(app, plan.schedule, recreate)
            else:
                _send_job(app, plan, recreate)
        except (AzureError, ShipyardError) as exc:
            raise _stopped(app, plan, plans[:index], plans[index + 1:], exc) from exc


def _send_job(app: App, plan: Planned, recreate: bool) -> None:
    from shipyard.cli.jobs import create_job
    from shipyard.factory.job import auto_complete_patch

    client, job = app.client, plan.job
    create_job(app, plan.options, recreate)
    plan.created = True
    try:
        tasks = scratch.add_setup_first(client, job, plan.tasks)
    except ShipyardError:
        plan.keep = True
        raise
    client.create_tasks(job.id, tasks)
    if job.auto_complete:
        client.update_job(job.id, auto_complete_patch())
    app.say(f"job [bold]{job.id}[/bold]: {len(plan.tasks)} task(s) added to {plan.where}")


def _stopped(app: App, failed: Planned, made: list[Planned], rest: list[Planned],
             exc: AzureError | ShipyardError) -> ShipyardError:
    """The error of a job the service refused, saying what became of every job."""
    from shipyard.batch.errors import translate

    error = translate(exc, app.where()) if isinstance(exc, AzureError) else exc
    parts = []
    if failed.keep:
        parts.append(f"job {failed.job.id} stays with its failed setup task: delete it with "
                     f"'shipyard jobs del --jobid {failed.job.id}'")
    elif failed.created:
        parts.append(_removed(app, failed.job.id))
    else:
        parts.append(f"{failed.kind} {failed.job.id} was not created")
    if made:
        parts.append("created: " + ", ".join(f"{p.kind} {p.job.id}" for p in made))
    if rest:
        parts.append("not created: " + ", ".join(f"{p.kind} {p.job.id}" for p in rest))
    # The service's words stay first; what became of each job follows them.
    error.message = f"{error.message} ({'; '.join(parts)})"
    return error


def _removed(app: App, job_id: str) -> str:
    """Delete the job whose tasks were refused; what became of it, in words."""
    from shipyard.cli.jobs import delete_job

    try:
        delete_job(app, job_id, "removing the half-made job")
    except (AzureError, ShipyardError) as exc:
        return (f"job {job_id} has not all its tasks and could not be removed ({exc}): "
                f"delete it with 'shipyard jobs del --jobid {job_id}'")
    return f"job {job_id} was removed, not all its tasks could be added"
