"""Removing what multi-instance Docker tasks leave on nodes: their detached containers.

Every container shipyard starts carries the label ``shipyard.job=<job id>``. A cleanup
job runs one multi-instance task spanning every node of the pool whose coordination
command removes the job's containers there; ``jobs cmi --delete`` removes those jobs.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import TYPE_CHECKING

from shipyard.batch import waiting
from shipyard.cli.app import console
from shipyard.cli.context import App
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from azure.batch import models

CLEANUP_TIMEOUT = 600.0


def cleanup_job_id(job_id: str) -> str:
    """A valid id (<= 64 chars) for the cleanup job of ``job_id``."""
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    return f"shipyard-cmi-{job_id[:42]}-{digest}"


def cleanup_task(job_id: str, instances: int) -> models.BatchTaskCreateOptions:
    """One instance per node; each removes the job's containers on its node."""
    from azure.batch import models

    remove = (f"docker ps -aq --filter label=shipyard.job={shlex.quote(job_id)} "
              "| xargs -r docker rm -f -v")
    return models.BatchTaskCreateOptions(
        id="cleanup", command_line="/bin/true",
        multi_instance_settings=models.MultiInstanceSettings(
            number_of_instances=instances,
            coordination_command_line=f"/bin/bash -c {shlex.quote(remove)}"))


def remove_containers(app: App, job_id: str, wait: bool) -> None:
    """Submit (again) the cleanup job of ``job_id`` across the whole pool."""
    from azure.batch import models

    client = app.client
    info = client.get_job(job_id).pool_info
    pool = info.pool_id if info else None
    if not pool:
        raise ConfigError(f"job {job_id} is not bound to a pool; nothing to clean")
    found = client.get_pool(pool)
    instances = (found.current_dedicated_nodes or 0) + (found.current_low_priority_nodes or 0)
    if instances == 0:
        app.say(f"pool {pool} has no nodes: nothing to clean for {job_id}")
        return
    cleanup_id = cleanup_job_id(job_id)
    delete_cleanup_job(app, job_id, quiet=True)
    client.create_job(models.BatchJobCreateOptions(
        id=cleanup_id, pool_info=models.BatchPoolInfo(pool_id=pool)))
    client.create_task(cleanup_id, cleanup_task(job_id, instances))
    app.say(f"cleanup job {cleanup_id} removes {job_id}'s containers on {instances} node(s)")
    if wait:
        with console.status(f"removing containers of {job_id}"):
            task = waiting.poll("the cleanup task", lambda: _completed(app, cleanup_id),
                                CLEANUP_TIMEOUT)
        result = task.execution_info.result if task.execution_info else None
        app.say(f"containers of {job_id} removed ({result})")


def delete_cleanup_job(app: App, job_id: str, quiet: bool = False) -> None:
    """Delete the cleanup job of ``job_id`` and wait until it is gone."""
    from azure.core.exceptions import ResourceNotFoundError

    cleanup_id = cleanup_job_id(job_id)
    try:
        app.client.begin_delete_job(cleanup_id, polling_interval=1)
    except ResourceNotFoundError:
        if not quiet:
            app.say(f"no cleanup job for {job_id}")
        return
    waiting.gone(f"cleanup job {cleanup_id} to be deleted",
                 lambda: app.client.get_job(cleanup_id), CLEANUP_TIMEOUT)
    if not quiet:
        app.say(f"cleanup job {cleanup_id} deleted")


def _completed(app: App, cleanup_id: str) -> models.BatchTask | None:
    task = app.client.get_task(cleanup_id, "cleanup")
    return task if task.state == "completed" else None
