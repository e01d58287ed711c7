"""Container tasks (``containerSettings``) on a node, as the Batch node agent runs them.

What the service documents (batch-shipyard-behaviour.md section 1a), done here:

- ``containerRunOptions`` are extra ``docker create`` arguments; ``$AZ_BATCH_*`` names in
  them are expanded from the task's environment first (Batch Shipyard's native pools rely
  on it for ``-w $AZ_BATCH_TASK_WORKING_DIR``), and they come after the engine's own, so a
  user's ``-w`` or ``--entrypoint`` wins; the network is the node's own (host networking
  in the node's namespace) unless the options name one.
- ``containerHostBatchBindMounts`` absent: the node root dir is mounted read-write at the
  same path. A list: only the named Batch dirs are (each at its own path, ``:ro`` when
  ``isReadOnly``), and the variables of the dirs left out are not passed.
- ``workingDirectory``: the task's ``wd`` unless ``containerImageDefault``.

A multi-instance task gets one container of its image per instance, named per task and
instance, started with a keep-alive PID 1 (the image's ``sleep``); the coordination
command runs in it with ``docker exec``, then, on the primary, the application command.
Every instance's container is removed when the task ends or is terminated (the name is
the launch's ``container``, which ``execution.kill`` removes).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from shipyard.engine.model import requests
from shipyard.errors import NodeError

NODE_ROOT = PurePosixPath("/mnt/batch/tasks")
_VARIABLE = re.compile(r"\$(?:\{(AZ_BATCH_[A-Z0-9_]+)\}|(AZ_BATCH_[A-Z0-9_]+))")
_NETWORK = re.compile(r"--net(work)?(=|$)")
#: The variables that name each ``containerHostBatchBindMounts`` source's directory.
_SOURCE_VARIABLES = {
    "Shared": ("AZ_BATCH_NODE_SHARED_DIR",),
    "Startup": ("AZ_BATCH_NODE_STARTUP_DIR",),
    "VfsMounts": ("AZ_BATCH_NODE_MOUNTS_DIR",),
    "Task": ("AZ_BATCH_TASK_DIR", "AZ_BATCH_TASK_WORKING_DIR", "AZ_BATCH_TASK_SHARED_DIR"),
    "JobPrep": ("AZ_BATCH_JOB_PREP_DIR", "AZ_BATCH_JOB_PREP_WORKING_DIR"),
    "Applications": (),
}
BIND_SOURCES = tuple(_SOURCE_VARIABLES)
#: Kept out of ``-e``: the container's own ``PATH`` and ``HOME`` are the image's.
_NOT_PASSED = ("PATH", "HOME")


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse what the service refuses: an unknown bind source, or no ``Task`` mount while
    the working directory is the task's (it would not exist in the container)."""
    chosen = settings.get("containerHostBatchBindMounts")
    if chosen is None:
        return
    name = "containerSettings.containerHostBatchBindMounts"
    sources = [mount.get("source") if isinstance(mount, dict) else mount for mount in chosen]
    for source in sources:
        if source not in BIND_SOURCES:
            raise requests.bad_value(f"{name}.source", source,
                                     f"must be one of {', '.join(BIND_SOURCES)}")
    image_wd = settings.get("workingDirectory") == "containerImageDefault"
    if "Task" not in sources and not image_wd:
        raise requests.bad_value("containerSettings.workingDirectory",
                                 settings.get("workingDirectory", "taskWorkingDirectory"),
                                 "must be containerImageDefault when the Task directory is "
                                 "not in containerHostBatchBindMounts")


def run_options(settings: dict[str, Any], env: dict[str, str]) -> list[str]:
    """``containerRunOptions`` as words, ``$AZ_BATCH_*`` expanded from ``env``."""
    text = _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""),
                         settings.get("containerRunOptions") or "")
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise NodeError(f"containerRunOptions cannot be split into words: {exc}") from exc


def _source_dir(source: str, task_dir: PurePosixPath) -> PurePosixPath:
    if source == "Task":
        return task_dir
    if source == "JobPrep":
        return task_dir.parent / "jobpreparation"
    names = {"Shared": "shared", "Startup": "startup", "VfsMounts": "fsmounts",
             "Applications": "applications"}
    return NODE_ROOT / names[source]


def batch_mounts(settings: dict[str, Any], task_dir: PurePosixPath) -> list[str]:
    """``-v`` arguments for the Batch dirs the container sees (see the module docstring)."""
    chosen = settings.get("containerHostBatchBindMounts")
    if chosen is None:
        return ["-v", f"{NODE_ROOT}:{NODE_ROOT}"]
    out = []
    for mount in chosen:
        path = _source_dir(mount["source"], task_dir)
        out += ["-v", f"{path}:{path}" + (":ro" if mount.get("isReadOnly") else "")]
    return out


def visible_env(settings: dict[str, Any], env: dict[str, str]) -> list[str]:
    """The names the container gets (values travel by the docker client's environment)."""
    chosen = settings.get("containerHostBatchBindMounts")
    hidden: set[str] = set(_NOT_PASSED)
    if chosen is not None:
        kept = {mount["source"] for mount in chosen}
        for source, names in _SOURCE_VARIABLES.items():
            hidden.update(names if source not in kept else ())
    return [name for name in sorted(env) if name not in hidden]


def create_options(settings: dict[str, Any], env: dict[str, str], task_dir: PurePosixPath
                   ) -> list[str]:
    """The engine's ``docker create`` options, then the task's own ``containerRunOptions``."""
    options = run_options(settings, env)
    out = [] if any(_NETWORK.match(o) for o in options) else ["--network=host"]
    out += batch_mounts(settings, task_dir)
    if settings.get("workingDirectory", "taskWorkingDirectory") != "containerImageDefault":
        out += ["-w", str(task_dir / "wd")]
    for name in visible_env(settings, env):
        out += ["-e", name]
    return out + options


def instance_name(job_id: str, task_id: str, instance: int) -> str:
    """The container of one instance of a multi-instance task (unique per task, instance)."""
    digest = hashlib.sha256(f"{job_id}\0{task_id}".encode()).hexdigest()[:16]
    return f"shy-mi-{digest}-{instance}"


def coordination_argv(settings: dict[str, Any], argv: list[str], env: dict[str, str],
                      task_dir: PurePosixPath, name: str) -> list[str]:
    """Start the instance's container (a stale one of an earlier try goes), then ``argv``."""
    create = ["docker", "run", "-d", "--name", name, *create_options(settings, env, task_dir),
              "--entrypoint", "sleep", settings["imageName"], "infinity"]
    script = (f"docker rm -f {shlex.quote(name)} >/dev/null 2>&1; "
              f"{shlex.join(create)} >/dev/null || exit $?; "
              f"exec {shlex.join(exec_argv(name, argv))}")
    return ["/bin/sh", "-c", script]


def exec_argv(name: str, argv: list[str]) -> list[str]:
    """``argv`` in the instance's running container (its environment and working dir)."""
    return ["docker", "exec", name, *argv]
