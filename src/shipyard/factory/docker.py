"""``docker run`` options shared by plain and multi-instance tasks.

Every value shipyard puts on the line is quoted; the user's ``additional_docker_run_options``
are shell text and go last, right before the image, as Batch Shipyard placed them. Where the
user set a flag Docker takes once (``-w``, ``--shm-size``, ``--name``, ``--rm``, ...; see
``config.runopts``) shipyard leaves its own out, so the line has one of each whatever the
spelling; options a multi-instance container must have (``-d --net=host``) are shipyard's.
Environment values never appear: ``-e NAME`` makes docker read each value from its own
environment, which the Batch service fills from the task's environment settings, so
newlines, quotes and any unicode in values arrive intact.

A job's ``user_identity`` runs its containers as another user, as Batch Shipyard does:
``-u uid:gid`` (or the pool admin's ids) on ``docker run`` and on the multi-instance
``docker exec``, with the node's ``/etc/passwd``, ``/etc/group`` and ``/etc/sudoers``
mounted read-only; the Batch task itself still runs as the elevated auto-user, which
Docker needs.

A plain task's ``docker run`` is wrapped by :func:`stopping_with_task`: Batch ends a task
(terminate, requeue, a disabled job) by signalling its processes, which stops the docker
CLI but not the container the node's daemon runs for it.
"""

from __future__ import annotations

import re

from shipyard.config import JobSpec, TaskSpec, runopts
from shipyard.factory.shell import flags, quote, sequence, var

#: Container labels that find every container of a job (or task) on a node.
LABEL_JOB = "shipyard.job"
LABEL_TASK = "shipyard.task"

#: Seconds a stopped task's container has to end before docker kills it; under the local
#: engine's 5 s between its TERM and its KILL of the task's processes.
STOP_GRACE = 3

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

#: The pool admin user Batch creates on every Linux node (``user_identity.default_pool_admin``).
POOL_ADMIN = "_azbatch"
#: The node's files a container with ``user_identity`` gets read-only, as Batch Shipyard gives.
IDENTITY_FILES = ("/etc/passwd", "/etc/group", "/etc/sudoers")

_NAME_FIRST = re.compile(r"[^A-Za-z0-9]")
_NAME_REST = re.compile(r"[^A-Za-z0-9_.-]")


def container_name(job_id: str, task_id: str) -> str:
    """``shipyard-<job>-<task>`` in Docker's name charset (``[A-Za-z0-9][A-Za-z0-9_.-]*``)."""
    name = _NAME_REST.sub("-", f"shipyard-{job_id}-{task_id}")
    return _NAME_FIRST.sub("x", name[:1]) + name[1:]


def labels(job_id: str, task_id: str) -> list[str]:
    """The labels that let cleanup find this container."""
    return flags("--label", [f"{LABEL_JOB}={job_id}", f"{LABEL_TASK}={task_id}"])


def stopping_with_task(run: str, job_id: str, task_id: str) -> str:
    """``run`` (a foreground ``docker run`` labelled with :func:`labels`) tied to the task.

    First, containers an earlier run of this task left on the node go: a requeued or
    retried run would otherwise fail on the name they still hold. Then the run waits in
    the background, so that a TERM, INT or HUP to the task's shell stops the container
    before the shell ends (bash runs no trap while a foreground command runs).
    """
    mine = " ".join(f"--filter {quote(f'label={label}')}" for label in (
        f"{LABEL_JOB}={job_id}", f"{LABEL_TASK}={task_id}"))
    stop = f"docker ps -q {mine} | xargs -r docker stop -t {STOP_GRACE} >/dev/null 2>&1"
    # Newlines around the body: ``run`` ends with user text (a comment, a trailing ``&``).
    return sequence(
        f"docker ps -aq {mine} | xargs -r docker rm -f >/dev/null 2>&1",
        f"trap {quote(stop)} TERM INT HUP",
        f"__shipyard_run() {{\n{run}\n}}",
        "__shipyard_run & wait $!",
    )


def user_sets(task: TaskSpec, flag: str) -> bool:
    """Whether the user's run options already set ``flag`` (Docker's long name)."""
    return flag in runopts.given(runopts.parse(task.additional_docker_run_options))


def ours(task: TaskSpec, flag: str, values: list[str]) -> list[str]:
    """``flag value`` for each value, unless the user set ``flag`` (theirs wins)."""
    return [] if user_sets(task, flag) else flags(flag, values)


def mounts(job: JobSpec, task: TaskSpec) -> list[str]:
    """The node's Batch directories in the container, and its working directory."""
    shared = "AZ_BATCH_TASK_DIR" if job.restrict_default_bind_mounts else "AZ_BATCH_NODE_ROOT_DIR"
    out = [f'-v "${shared}:${shared}"']
    if job.working_dir_for(task) == "batch" and not user_sets(task, "--workdir"):
        out.append(f"-w {var('AZ_BATCH_TASK_WORKING_DIR')}")
    return out


def task_extras(job: JobSpec, task: TaskSpec) -> list[str]:
    """``--shm-size``, ``labels``, ``ports`` and ``entrypoint`` from the config, quoted."""
    shm = job.shm_size_for(task)
    out = ours(task, "--shm-size", [shm] if shm else [])
    out += flags("--label", task.labels) + flags("-p", task.ports)
    out += ours(task, "--entrypoint", [task.entrypoint] if task.entrypoint is not None else [])
    return out


def run_as(job: JobSpec, task: TaskSpec) -> str | None:
    """The ``-u`` option of the job's ``user_identity``; ``None`` for root or the user's own.

    The pool admin's ids are looked up on the node when the line runs, with Batch
    Shipyard's words (``_azbatch`` is the user Batch creates on each Linux node).
    """
    identity = job.user_identity
    if identity is None or user_sets(task, "--user"):
        return None
    if identity.default_pool_admin:
        return f"-u `id -u {POOL_ADMIN}`:`id -g {POOL_ADMIN}`"
    user = identity.specific_user
    return None if user is None else f"-u {user.uid}:{user.gid}"


def identity_options(job: JobSpec, task: TaskSpec, local: bool) -> list[str]:
    """``-u`` and the node's user files read-only, so names resolve in the container.

    On the local engine ``/etc/sudoers`` is left out: its nodes share the host's ``/etc``,
    which may have none, and Docker would create a missing bind source as a directory.
    """
    user = run_as(job, task)
    if user is None:
        return []
    files = IDENTITY_FILES[:2] if local else IDENTITY_FILES
    return [user, *(f"-v {path}:{path}:ro" for path in files)]


def user_options(task: TaskSpec, drop: frozenset[str] = frozenset()) -> list[str]:
    """``additional_docker_run_options`` as written, less the ``drop`` flags shipyard sets.

    An entry that holds none of them is kept verbatim (it is shell text: ``$VAR`` in it
    must still expand); an entry that does is rewritten from its remaining words.
    """
    parsed = runopts.parse(task.additional_docker_run_options)
    out = []
    for index, text in enumerate(task.additional_docker_run_options):
        options = [o for o in parsed if o.entry == index]
        if not any(o.flag in drop for o in options):
            out.append(text.strip())
            continue
        kept = [o for o in options if o.flag not in drop]
        out += [_word(o) for o in kept]
    return [option for option in out if option]


def _word(option: runopts.RunOption) -> str:
    return option.flag if option.value is None else f"{option.flag}={quote(option.value)}"


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
