"""Pieces every create-option shares: the elevated identity, environment, files, exit options."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from azure.batch import models

from shipyard.config import JobSpec, ResourceFile, TaskSpec


def admin() -> models.UserIdentity:
    """The pool's admin auto-user: docker needs root on the node (a new model each call)."""
    return models.UserIdentity(
        auto_user=models.AutoUserSpecification(scope="pool", elevation_level="admin"),
    )


def environment_settings(env: Mapping[str, str]) -> list[models.EnvironmentSetting] | None:
    """Batch environment settings, in the mapping's order; ``None`` when there are none."""
    settings = [models.EnvironmentSetting(name=name, value=value) for name, value in env.items()]
    return settings or None


def resource_files(files: Iterable[ResourceFile]) -> list[models.ResourceFile] | None:
    """``resource_files`` as the service's ``resourceFiles``; ``None`` when there are none."""
    out = [models.ResourceFile(http_url=f.url, file_path=f.file_path, file_mode=f.file_mode)
           for f in files]
    return out or None


def exit_actions(job: JobSpec, task: TaskSpec) -> tuple[str, str] | None:
    """``(job_action, dependency_action)`` on a non-zero exit; ``None`` if no level sets any.

    Each key the task sets overrides the job's; keys neither sets keep Batch's defaults.
    """
    task_options = task.exit_conditions.default.exit_options if task.exit_conditions else None
    job_options = job.exit_conditions.default.exit_options if job.exit_conditions else None
    if task_options is None and job_options is None:
        return None
    chosen: dict[str, str] = {"job_action": "none", "dependency_action": "block"}
    for options in (job_options, task_options):
        if options is not None:
            for key in options.model_fields_set:
                chosen[key] = getattr(options, key)
    return chosen["job_action"], chosen["dependency_action"]


def exit_conditions(job: JobSpec, task: TaskSpec) -> models.ExitConditions | None:
    """The task's ``exitConditions``: only ``default`` (any non-zero exit code) is modelled."""
    actions = exit_actions(job, task)
    if actions is None:
        return None
    job_action, dependency_action = actions
    return models.ExitConditions(
        default=models.ExitOptions(job_action=job_action, dependency_action=dependency_action),
    )
