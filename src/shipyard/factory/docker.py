"""``docker run`` options shared by plain and multi-instance tasks.

Every value shipyard puts on the line is quoted; the user's ``additional_docker_run_options``
are shell text and go last, right before the image, as Batch Shipyard placed them.
Environment values never appear: ``-e NAME`` makes docker read each value from its own
environment, which the Batch service fills from the task's environment settings, so
newlines, quotes and any unicode in values arrive intact.
"""

from __future__ import annotations

import re

from shipyard.config import JobSpec, TaskSpec
from shipyard.factory.shell import flags, quote, var

#: Container labels that find every container of a job (or task) on a node.
LABEL_JOB = "shipyard.job"
LABEL_TASK = "shipyard.task"

#: The service's variables a container sees (multi-instance.md section 1).
AZ_BATCH_VARIABLES = (
    "AZ_BATCH_ACCOUNT_NAME",
    "AZ_BATCH_ACCOUNT_URL",
    "AZ_BATCH_POOL_ID",
    "AZ_BATCH_NODE_ID",
    "AZ_BATCH_NODE_IS_DEDICATED",
    "AZ_BATCH_NODE_ROOT_DIR",
    "AZ_BATCH_NODE_SHARED_DIR",
    "AZ_BATCH_NODE_STARTUP_DIR",
    "AZ_BATCH_JOB_ID",
    "AZ_BATCH_TASK_ID",
    "AZ_BATCH_TASK_DIR",
    "AZ_BATCH_TASK_WORKING_DIR",
    "AZ_BATCH_JOB_PREP_DIR",
    "AZ_BATCH_JOB_PREP_WORKING_DIR",
)

_NAME_FIRST = re.compile(r"[^A-Za-z0-9]")
_NAME_REST = re.compile(r"[^A-Za-z0-9_.-]")


def container_name(job_id: str, task_id: str) -> str:
    """``shipyard-<job>-<task>`` in Docker's name charset (``[A-Za-z0-9][A-Za-z0-9_.-]*``)."""
    name = _NAME_REST.sub("-", f"shipyard-{job_id}-{task_id}")
    return _NAME_FIRST.sub("x", name[:1]) + name[1:]


def labels(job_id: str, task_id: str) -> list[str]:
    """The labels that let cleanup find this container."""
    return flags("--label", [f"{LABEL_JOB}={job_id}", f"{LABEL_TASK}={task_id}"])


def mounts(job: JobSpec, task: TaskSpec) -> list[str]:
    """The node's Batch directories in the container, and its working directory."""
    shared = "AZ_BATCH_TASK_DIR" if job.restrict_default_bind_mounts else "AZ_BATCH_NODE_ROOT_DIR"
    out = [f'-v "${shared}:${shared}"']
    if job.working_dir_for(task) == "batch":
        out.append(f"-w {var('AZ_BATCH_TASK_WORKING_DIR')}")
    return out


def task_extras(job: JobSpec, task: TaskSpec) -> list[str]:
    """``--shm-size``, ``labels``, ``ports`` and ``entrypoint`` from the config, quoted."""
    shm = job.shm_size_for(task)
    out = flags("--shm-size", [shm] if shm else [])
    out += flags("--label", task.labels) + flags("-p", task.ports)
    out += flags("--entrypoint", [task.entrypoint] if task.entrypoint is not None else [])
    return out


def user_options(task: TaskSpec) -> list[str]:
    """``additional_docker_run_options``: the user's shell text, kept as written."""
    return [option for option in task.additional_docker_run_options if option.strip()]


def env_names(job: JobSpec, task: TaskSpec) -> list[str]:
    """The job's and the task's variable names, then the service's, each once."""
    names = [*job.environment_variables, *task.environment_variables, *AZ_BATCH_VARIABLES]
    return list(dict.fromkeys(names))


def env_flags(names: list[str]) -> list[str]:
    """``-e NAME`` for each name: docker copies the value from its own environment."""
    return flags("-e", names)


def image(task: TaskSpec) -> str:
    """The task's image, quoted (the config room guarantees a Docker task has one)."""
    if task.docker_image is None:
        raise ValueError("not a Docker task")
    return quote(task.docker_image)
