"""Auto scratch (``auto_scratch``): the setup task that makes a job's shared scratch space.

The space is ``$AZ_BATCH_NODE_ROOT_DIR/mounts/auto_scratch/<job>`` on the job's nodes,
bound into every container of the job at ``$AZ_BATCH_TASK_DIR/auto_scratch``
(:mod:`shipyard.factory.volumes`). The setup task is a multi-instance task over
``num_instances`` nodes (id ``task_id``, default ``batch-shipyard-autoscratch``) that
creates the directory on each of them; every task of the job depends on it, and the job
release task removes the directory (:mod:`shipyard.factory.job`).

On the local engine the pool's ``mounts`` tree is one shared directory, so the space is
real shared storage across the job's nodes. On Azure, Batch Shipyard backs it with BeeOND
(BeeGFS on demand) installed by its node prep, which shipyard does not install: an Azure
job with ``auto_scratch`` is refused rather than given node-local directories that only
look shared.
"""

from __future__ import annotations

from azure.batch import models

from shipyard.config import JobSpec, MultiInstance, PoolSpecification
from shipyard.errors import ConfigError
from shipyard.factory.common import admin
from shipyard.factory.shell import bash_c, quote
from shipyard.factory.volumes import AUTO_SCRATCH_DIR


def scratch_dir(job_id: str) -> str:
    """The job's space on a node, as shell text (``$AZ_BATCH_NODE_ROOT_DIR`` expands)."""
    return f'"{AUTO_SCRATCH_DIR}"/{quote(job_id)}'


def setup_task(job: JobSpec, spec: PoolSpecification, current_dedicated: int | None,
               current_low_priority: int | None, local: bool
               ) -> models.BatchTaskCreateOptions | None:
    """The job's auto scratch setup task, or ``None`` when the job has no ``auto_scratch``."""
    scratch = job.auto_scratch
    if scratch is None:
        return None
    if not local:
        raise ConfigError(f"jobs.yaml: job '{job.id}' auto_scratch: needs BeeOND on the "
                          "nodes, which shipyard does not install on Azure",
                          hint="use a shared_data_volumes entry for shared storage")
    if not spec.inter_node_communication_enabled:
        raise ConfigError(f"jobs.yaml: job '{job.id}' auto_scratch: needs a pool with "
                          "inter_node_communication_enabled: true")
    count = MultiInstance.model_validate({"num_instances": scratch.num_instances}
                                         ).resolve_num_instances(spec, current_dedicated,
                                                                 current_low_priority)
    make = bash_c(f"mkdir -p -- {scratch_dir(job.id)}")
    return models.BatchTaskCreateOptions(
        id=scratch.task_id,
        command_line=make,
        user_identity=admin(),
        required_slots=1,
        multi_instance_settings=models.MultiInstanceSettings(
            coordination_command_line=make, number_of_instances=count),
    )


def depend_on_setup(job: JobSpec, tasks: list[models.BatchTaskCreateOptions]) -> None:
    """Make every task wait for the setup task (both ``setup`` modes, see AutoScratch)."""
    if job.auto_scratch is None:
        return
    setup_id = job.auto_scratch.task_id
    for task in tasks:
        if task.depends_on is None:
            task.depends_on = models.BatchTaskDependencies(task_ids=[setup_id])
        else:
            task.depends_on.task_ids = [*(task.depends_on.task_ids or []), setup_id]
