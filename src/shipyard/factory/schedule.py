"""Auto pools and job schedules: a job's ``auto_pool`` and ``recurrence`` as create-options.

An auto pool is pool.yaml's pool: the pool factory's create-options become the
``autoPoolSpecification.pool`` (everything but the id), named after pool.yaml's id
(``autoPoolIdPrefix``, as Batch Shipyard names it), with ``pool_lifetime`` and
``keep_alive``. Nothing pool.yaml asks for may be lost on the way: a create option the
pool specification cannot hold is an error, not a silent drop.

A recurring job becomes a job schedule of the job's id whose job specification is the job
``jobs add`` would create, and whose job manager task is the job's one task. Batch
Shipyard instead ran a job manager that added the job's tasks to each new job through the
task authentication token (``authenticationTokenSettings``, ``AZ_BATCH_AUTHENTICATION_TOKEN``).
Azure Batch retired those tokens on 30 September 2024; API 2025-06-01 and the azure-batch
15.1 SDK no longer have the property, a pool made through the Batch API cannot carry a
managed identity, and no account key may sit on a node. With no credential a node could
use, the task itself is the manager: the same request works on Azure and on the local
engine, and each job of the schedule runs that task once. Its end ends the job as the
config says (Batch Shipyard's rules): ``auto_complete`` sets ``onAllTasksComplete:
terminatejob`` (and wins over the monitor); else ``monitor_task_completion`` sets the
manager's ``killJobOnCompletion``; with neither the job stays open and the schedule, which
holds at most one open job, makes no further job (the CLI asks first).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, TypeVar

from azure.batch import models

from shipyard.config import JobSpec
from shipyard.config.schedule import Recurrence
from shipyard.errors import ConfigError

#: The service's limit on ``autoPoolIdPrefix``.
MAX_PREFIX = 20
#: What a pool specification holds of the pool create-options (all but the id and the
#: pool-only settings).
POOL_FIELDS = (
    "display_name", "vm_size", "virtual_machine_configuration", "task_slots_per_node",
    "task_scheduling_policy", "resize_timeout", "target_dedicated_nodes",
    "target_low_priority_nodes", "enable_auto_scale", "auto_scale_formula",
    "auto_scale_evaluation_interval", "enable_inter_node_communication",
    "network_configuration", "start_task", "application_package_references",
    "user_accounts", "metadata", "mount_configuration", "upgrade_policy",
)
#: What a job specification holds of the job create-options (all but the id).
JOB_FIELDS = (
    "priority", "allow_task_preemption", "max_parallel_tasks", "display_name",
    "uses_task_dependencies", "all_tasks_complete_mode", "task_failure_mode",
    "network_configuration", "constraints", "job_preparation_task", "job_release_task",
    "common_environment_settings", "pool_info", "metadata",
)
#: What a job manager task holds of a task's create-options.
MANAGER_FIELDS = (
    "id", "display_name", "command_line", "container_settings", "resource_files",
    "output_files", "environment_settings", "constraints", "required_slots",
    "user_identity", "application_package_references",
)
#: An SDK model: a mapping of wire names, built from keyword arguments.
T = TypeVar("T", bound=MutableMapping[str, Any])


def carried(source: Any, target: type[T], fields: Sequence[str], where: str) -> T:
    """``source``'s ``fields`` as a ``target``; a set wire field left behind is an error."""
    built = target(**{name: getattr(source, name) for name in fields
                      if getattr(source, name, None) is not None})
    dropped = sorted(set(dict(source)) - set(dict(built)) - {"id"})
    if dropped:
        raise ConfigError(f"{where}: {', '.join(dropped)} cannot be carried into a "
                          f"{target.__name__}", hint="leave the setting out of this job")
    return built


def auto_pool_info(job: JobSpec, pool: models.BatchPoolCreateOptions) -> models.BatchPoolInfo:
    """The ``poolInfo`` of a job with ``auto_pool``: pool.yaml's pool, made for the job."""
    assert job.auto_pool is not None
    prefix = str(pool.id)
    if len(prefix) > MAX_PREFIX:
        raise ConfigError(
            f"pool.yaml: pool_specification.id: at most {MAX_PREFIX} characters when job "
            f"'{job.id}' uses auto_pool (it prefixes the auto pool's id; got {len(prefix)})",
            hint="shorten the pool id")
    spec = carried(pool, models.BatchPoolSpecification, POOL_FIELDS,
                   f"jobs.yaml: job '{job.id}' auto_pool")
    lifetime = "jobschedule" if job.auto_pool.pool_lifetime == "job_schedule" else "job"
    return models.BatchPoolInfo(auto_pool_specification=models.BatchAutoPoolSpecification(
        auto_pool_id_prefix=prefix, pool_lifetime_option=lifetime,
        keep_alive=job.auto_pool.keep_alive, pool=spec))


def never_ends(job: JobSpec) -> bool:
    """Whether each job of the schedule stays open after its task (see the docstring)."""
    recurrence = job.recurrence
    return (recurrence is not None and not job.auto_complete
            and not recurrence.job_manager.monitor_task_completion)


def job_manager(job: JobSpec, recurrence: Recurrence,
                tasks: Sequence[models.BatchTaskCreateOptions]) -> models.BatchJobManagerTask:
    """The job's one task as the schedule's job manager task."""
    if len(tasks) != 1:
        raise ConfigError(f"jobs.yaml: job '{job.id}' recurrence: a recurring job has exactly "
                          f"one task, run as its schedule's job manager (its tasks expand to "
                          f"{len(tasks)})", hint="give each task its own job")
    manager = carried(tasks[0], models.BatchJobManagerTask, MANAGER_FIELDS,
                      f"jobs.yaml: job '{job.id}' recurrence: its task")
    settings = recurrence.job_manager
    manager.kill_job_on_completion = settings.monitor_task_completion and not job.auto_complete
    manager.run_exclusive = settings.run_exclusive
    manager.allow_low_priority_node = settings.allow_low_priority_node
    return manager


def _schedule(recurrence: Recurrence) -> models.BatchJobScheduleConfiguration:
    times = recurrence.schedule
    return models.BatchJobScheduleConfiguration(
        do_not_run_until=times.do_not_run_until, do_not_run_after=times.do_not_run_after,
        start_window=times.start_window, recurrence_interval=times.recurrence_interval)


def job_schedule_options(job: JobSpec, created: models.BatchJobCreateOptions,
                         tasks: Sequence[models.BatchTaskCreateOptions]
                         ) -> models.BatchJobScheduleCreateOptions:
    """The job schedule of a recurring ``job``: ``created`` (the job ``jobs add`` would
    create) as its job specification, ``tasks`` (exactly one) as its job manager."""
    recurrence = job.recurrence
    assert recurrence is not None
    spec = carried(created, models.BatchJobSpecification, JOB_FIELDS,
                   f"jobs.yaml: job '{job.id}' recurrence")
    spec.job_manager_task = job_manager(job, recurrence, tasks)
    # With a job manager, terminatejob may be set at once: the job never has zero tasks.
    spec.all_tasks_complete_mode = "terminatejob" if job.auto_complete else "noaction"
    return models.BatchJobScheduleCreateOptions(id=job.id, schedule=_schedule(recurrence),
                                                job_specification=spec)
