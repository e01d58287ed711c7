"""Dry runs of ``pool add`` and ``jobs add``: every request built, printed, none sent.

The config is loaded and checked (every problem of every file at once), then the pool or
every job with every task is built by the same factory calls the real commands make and
printed: the request bodies as JSON with ``--raw``, a readable summary otherwise. No
client is made and no engine started. Two things are only known at submission and are
shown as such: the pool's current node count (``vm_count`` of pool.yaml is assumed, for
``num_instances: pool_current_*``) and each job's SSH key pair (generated per job, never
printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli.app import console
from shipyard.cli.context import App
from shipyard.errors import ConfigError, config_problems

if TYPE_CHECKING:
    from azure.batch import models

    from shipyard.config import JobSpec

#: What stands in the printed request for the per-job SSH key pair.
GENERATED = "<generated per job at submission; not shown>"


def _masked(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the SSH key pair's environment values replaced by ``GENERATED``."""
    from shipyard.factory.ssh import ENV_PRIVATE_KEY, ENV_PUBLIC_KEY

    for setting in body.get("environmentSettings") or []:
        if setting.get("name") in (ENV_PRIVATE_KEY, ENV_PUBLIC_KEY):
            setting["value"] = GENERATED
    return body


#: What stands in the printed request for a registry password of credentials.yaml.
HIDDEN = "<from credentials.yaml; not shown>"


def _no_passwords(body: Any) -> Any:
    """``body`` with every ``containerRegistries`` password replaced by ``HIDDEN``."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "containerRegistries" and isinstance(value, list):
                for login in value:
                    if login.get("password") is not None:
                        login["password"] = HIDDEN
            else:
                _no_passwords(value)
    elif isinstance(body, list):
        for item in body:
            _no_passwords(item)
    return body


def job_requests(app: App, job: JobSpec) -> dict[str, Any]:
    """The create-job body, every create-task body and the auto-complete patch of ``job``."""
    from shipyard.cli.schedules import planned_context
    from shipyard.factory.job import auto_complete_patch, job_options
    from shipyard.factory.pool import pool_options
    from shipyard.factory.schedule import auto_pool_info, job_schedule_options
    from shipyard.factory.ssh import new_ssh_material
    from shipyard.factory.tasks import task_options

    multi = any(t.multi_instance for t in job.tasks)
    ssh = new_ssh_material() if multi else None
    tasks = task_options(job, planned_context(app), ssh,
                         id_format=app.config.task_id_format(job))
    created = job_options(job, app.config.pool.id)
    steps = storage_steps(job)
    if job.auto_pool is not None:
        created.pool_info = auto_pool_info(job, pool_options(app.config))
        steps += [f"auto pool {step}" for step in pool_storage_steps(app)]
    if job.recurrence is not None:
        body = _no_passwords(job_schedule_options(job, created, tasks).as_dict())
        manager = body["jobSpecification"]["jobManagerTask"]
        body["jobSpecification"]["jobManagerTask"] = _masked(manager)
        return {"job_schedule": body, "at_submission": steps}
    return {
        "job": _no_passwords(created.as_dict()),
        "tasks": [_masked(task.as_dict()) for task in tasks],
        "then": auto_complete_patch().as_dict() if job.auto_complete else None,
        "at_submission": steps,
    }


def storage_steps(job: JobSpec) -> list[str]:
    """What ``jobs add`` resolves against storage and a dry run therefore cannot show.

    Listing containers (input files), signing their URLs, creating output containers and
    expanding ``task_factory.file`` all ask the storage account, which a dry run must not.
    """
    steps = ["job input_data: files listed and signed"] if job.input_data else []
    for index, task in enumerate(job.tasks):
        where = f"tasks[{index}]"
        if task.input_data:
            steps.append(f"{where}.input_data: files listed and signed as resource files")
        if task.output_data:
            steps.append(f"{where}.output_data: containers created, output file URLs signed")
        if task.task_factory is not None and task.task_factory.file is not None:
            steps.append(f"{where}.task_factory.file: one task per blob listed")
    return steps


def pool_storage_steps(app: App) -> list[str]:
    """What ``pool add`` does with storage before creating the pool, not shown in a dry run."""
    spec = app.config.pool
    steps = []
    if spec.transfer_files_on_pool_creation and app.config.global_resources.files:
        steps.append(f"{len(app.config.global_resources.files)} global_resources.files "
                     "entr(ies) ingressed to storage first (transfer_files_on_pool_creation)")
    for index, entry in enumerate(spec.input_data.azure_storage if spec.input_data else ()):
        steps.append(f"input_data.azure_storage[{index}]: {entry.remote_path} listed and "
                     f"signed as start task resource files, copied to {entry.local_path}")
    return steps


def user_request(app: App) -> dict[str, Any] | None:
    """The add-user body sent to every node once it is idle (pool.yaml ``ssh``), if any.

    Nothing is generated or read in a dry run: the public key and the expiry are named.
    """
    from shipyard.cli.sshkeys import DEFAULT_EXPIRY_DAYS, KEY_NAME

    ssh = app.config.pool.ssh
    if ssh is None:
        return None
    if ssh.ssh_public_key_data:
        key = ssh.ssh_public_key_data
    elif ssh.ssh_public_key:
        key = f"<the key in {ssh.ssh_public_key}>"
    else:
        where = Path(ssh.generated_file_export_path or ".") / f"{KEY_NAME}.pub"
        key = f"<the key in {where}, generated if missing>"
    days = ssh.expiry_days or DEFAULT_EXPIRY_DAYS
    return {"name": ssh.username, "isAdmin": True, "expiryTime": f"<now + {days} days>",
            "sshPublicKey": key}


def show_pool(app: App, options: models.BatchPoolCreateOptions) -> None:
    """Print the create-pool request (and the SSH user's, sent to every node later)."""
    body = _no_passwords(options.as_dict())
    user = user_request(app)
    steps = pool_storage_steps(app)
    if app.raw:
        app.emit_raw({"dry_run": True, "create_pool": body, "create_node_user": user,
                      "at_creation": steps})
        return
    console.print(f"[bold]dry run[/bold]: nothing sent. create pool [bold]{options.id}[/bold]")
    for line in pool_summary(body):
        click.echo(f"  {line}")
    for step in steps:
        click.echo(f"  at creation (asks storage, not shown): {step}")
    if user is not None:
        click.echo(f"  then on every node: user {user['name']} (admin, expires "
                   f"{user['expiryTime']}, key {user['sshPublicKey']})")


def show_jobs(app: App) -> None:
    """Build every job of jobs.yaml; print them, or every problem found while building."""
    built: list[dict[str, Any]] = []
    problems: list[ConfigError] = []
    for job in app.config.jobs:
        try:
            built.append(job_requests(app, job))
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise config_problems(problems)
    if app.raw:
        app.emit_raw({"dry_run": True, "assumed_pool_nodes": _assumed(app), "jobs": built})
        return
    nodes = _assumed(app)
    console.print(f"[bold]dry run[/bold]: nothing sent; pool {app.config.pool.id} assumed "
                  f"to have {nodes['dedicated']} dedicated and {nodes['low_priority']} "
                  "low-priority node(s)")
    for requests in built:
        for line in job_summary(requests):
            click.echo(line)


def _assumed(app: App) -> dict[str, int]:
    count = app.config.pool.vm_count
    return {"dedicated": count.dedicated, "low_priority": count.low_priority}


def pool_summary(body: dict[str, Any]) -> list[str]:
    """The create-pool body as readable lines."""
    machine = body.get("virtualMachineConfiguration") or {}
    image = machine.get("imageReference") or {}
    containers = machine.get("containerConfiguration") or {}
    lines = [
        f"vm size: {body.get('vmSize')}, nodes: {body.get('targetDedicatedNodes', 0)} "
        f"dedicated, {body.get('targetLowPriorityNodes', 0)} low priority",
        f"image: {image.get('publisher')}/{image.get('offer')}/{image.get('sku')}"
        f"/{image.get('version')} (node agent {machine.get('nodeAgentSKUId')})",
        f"inter-node communication: {body.get('enableInterNodeCommunication', False)}, "
        f"task slots per node: {body.get('taskSlotsPerNode', 1)}",
        f"preloaded images: {', '.join(containers.get('containerImageNames') or []) or '-'}",
    ]
    start = body.get("startTask")
    if start:
        lines.append(f"start task: {start.get('commandLine')}")
    return lines


def _pool_words(pool_info: dict[str, Any]) -> str:
    auto = pool_info.get("autoPoolSpecification")
    if auto is None:
        return f"on pool {pool_info['poolId']}"
    return (f"on an auto pool {auto['autoPoolIdPrefix']}_<GUID> (lifetime "
            f"{auto['poolLifetimeOption']}, keep alive {auto.get('keepAlive', False)})")


def _schedule_lines(body: dict[str, Any]) -> list[str]:
    spec, when = body["jobSpecification"], body["schedule"]
    lines = [f"job schedule {body['id']} {_pool_words(spec['poolInfo'])}",
             "  schedule: " + ", ".join(f"{k} {v}" for k, v in when.items()),
             f"  onAllTasksComplete: {spec.get('onAllTasksComplete')}"]
    manager = spec["jobManagerTask"]
    lines += [f"  job manager (killJobOnCompletion {manager.get('killJobOnCompletion')}):",
              *_task_lines(manager)[1:]]
    return lines


def job_summary(requests: dict[str, Any]) -> list[str]:
    """One job's requests as readable lines: the job, then each task's command lines."""
    if "job_schedule" in requests:
        return [*_schedule_lines(requests["job_schedule"]),
                *(f"  at submission (asks storage, not shown): {step}"
                  for step in requests["at_submission"])]
    job = requests["job"]
    lines = [f"job {job['id']} {_pool_words(job['poolInfo'])}"]
    for key in ("jobPreparationTask", "jobReleaseTask"):
        if job.get(key):
            lines.append(f"  {key}: {job[key]['commandLine']}")
    for task in requests["tasks"]:
        lines.extend(_task_lines(task))
    if requests["then"]:
        lines.append(f"  then update job: {requests['then']}")
    lines.extend(f"  at submission (asks storage, not shown): {step}"
                 for step in requests["at_submission"])
    return lines


def _task_lines(task: dict[str, Any]) -> list[str]:
    lines = [f"  task {task['id']}"]
    multi = task.get("multiInstanceSettings")
    if multi:
        lines.append(f"    instances: {multi.get('numberOfInstances')}")
        lines.append(f"    coordination: {multi.get('coordinationCommandLine')}")
        lines.append(f"    application: {task['commandLine']}")
    else:
        lines.append(f"    command: {task['commandLine']}")
    env = task.get("environmentSettings") or []
    if env:
        lines.append("    environment: " + ", ".join(
            f"{e['name']}={e.get('value', '')}" for e in env))
    if task.get("containerSettings"):
        lines.append(f"    container: {task['containerSettings']}")
    return lines
