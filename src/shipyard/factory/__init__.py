"""The factory room: config models in, azure-batch create-options out; pure (no I/O).

Randomness enters only through the SSH key generator, so every line is reproducible::

    cfg = load_config("mpi-job")
    pool = pool_options(cfg)                               # BatchPoolCreateOptions
    job = cfg.jobs[0]
    ssh = new_ssh_material()                               # per job, for MPI tasks
    create = job_options(job, cfg.pool.id)                 # onAllTasksComplete: noaction
    tasks = task_options(job, PoolContext(2, 0, cfg.pool), ssh,
                         id_format=cfg.task_id_format(job))
    if job.auto_complete:
        patch = auto_complete_patch()                      # after the tasks are added

Containers carry the labels ``shipyard.job`` and ``shipyard.task`` (``LABEL_JOB``,
``LABEL_TASK``); a multi-instance task's container is ``container_name(job_id, task_id)``.
"""

from shipyard.factory.docker import LABEL_JOB, LABEL_TASK, container_name
from shipyard.factory.job import auto_complete_patch, job_options, release_script
from shipyard.factory.mpi import mpi_command
from shipyard.factory.multi_instance import LaunchSettings
from shipyard.factory.pool import node_agent_sku, pool_options
from shipyard.factory.ssh import SshMaterial, new_ssh_material
from shipyard.factory.tasks import PoolContext, task_options

__all__ = [
    "LABEL_JOB",
    "LABEL_TASK",
    "LaunchSettings",
    "PoolContext",
    "SshMaterial",
    "auto_complete_patch",
    "container_name",
    "job_options",
    "mpi_command",
    "new_ssh_material",
    "node_agent_sku",
    "pool_options",
    "release_script",
    "task_options",
]
