"""Jobs: ``BatchJobCreateOptions`` with preparation, a cleaning release task and auto-complete.

A job is always created with ``onAllTasksComplete=noaction``: a job with no tasks yet counts
as complete, so ``terminatejob`` at creation would end it before its first task is added.
With ``auto_complete`` the CLI adds the tasks and then applies :func:`auto_complete_patch`.

The release task runs on every node that ran part of the job: the user's ``job_release``
command (in a subshell), then the removal of every container labelled with this job and of
the per-task SSH key dirs; it exits with the user's status, or 1 if cleaning failed.
"""

from __future__ import annotations

from azure.batch import models

from shipyard.config import JobSpec
from shipyard.factory.common import admin, environment_settings, exit_actions
from shipyard.factory.docker import LABEL_JOB
from shipyard.factory.multi_instance import SSH_DIR
from shipyard.factory.scratch import scratch_dir
from shipyard.factory.shell import bash_c, quote, sequence


def release_script(job: JobSpec) -> str:
    """The job release script (see the module docstring)."""
    user = job.job_release.command.strip() if job.job_release else ""
    containers = (f"docker ps -aq --filter {quote(f'label={LABEL_JOB}={job.id}')} "
                  "| xargs -r docker rm -f -v >/dev/null")
    # Every task dir of this job on this node is a sibling of the release task's own dir.
    keys = f'rm -rf -- "$(dirname -- "$AZ_BATCH_TASK_DIR")"/*/{SSH_DIR}'
    failed = '{ [ "$__shipyard_rc" -ne 0 ] || __shipyard_rc=1; }'
    # The job's auto scratch space goes with the job (from every node that held it).
    space = f"rm -rf -- {scratch_dir(job.id)} || {failed}" if job.auto_scratch else ""
    return sequence(
        "set -o pipefail",
        f"( {user}\n)" if user else "",
        "__shipyard_rc=$?",
        f"{containers} || {failed}",
        f"{keys} || {failed}",
        space,
        'exit "$__shipyard_rc"',
    )


def _preparation(job: JobSpec) -> models.BatchJobPreparationTask | None:
    if job.job_preparation is None:
        return None
    return models.BatchJobPreparationTask(
        command_line=bash_c(job.job_preparation.command),
        wait_for_success=True,
        user_identity=admin(),
    )


def _constraints(job: JobSpec) -> models.BatchJobConstraints | None:
    if job.max_wall_time is None and job.max_task_retries is None:
        return None
    return models.BatchJobConstraints(max_wall_clock_time=job.max_wall_time,
                                      max_task_retry_count=job.max_task_retries)


def _task_failure_mode(job: JobSpec) -> str:
    # A task's exit job_action only acts when the job asks for exit options to be honoured.
    acting = any((exit_actions(job, task) or ("none",))[0] != "none" for task in job.tasks)
    return "performexitoptionsjobaction" if acting else "noaction"


def job_options(job: JobSpec, pool_id: str) -> models.BatchJobCreateOptions:
    """``job`` as create-options for the pool ``pool_id`` (see the module docstring)."""
    return models.BatchJobCreateOptions(
        id=job.id,
        pool_info=models.BatchPoolInfo(pool_id=pool_id),
        uses_task_dependencies=job.uses_task_dependencies,
        priority=job.priority,
        constraints=_constraints(job),
        job_preparation_task=_preparation(job),
        job_release_task=models.BatchJobReleaseTask(
            command_line=bash_c(release_script(job)), user_identity=admin()),
        common_environment_settings=environment_settings(job.environment_variables),
        all_tasks_complete_mode="noaction",
        task_failure_mode=_task_failure_mode(job),
    )


def auto_complete_patch() -> models.BatchJobUpdateOptions:
    """The update that ends the job once all its tasks complete (after they were added)."""
    return models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
