"""The ``-v`` options of a task's container: data volumes, shared volumes, auto scratch.

As Batch Shipyard 3.9.1 builds them (batch-shipyard-behaviour.md section 5): the job's
aliases then the task's, ``data_volumes`` first; a data volume with a ``host_path`` binds
it, one without is an anonymous Docker volume (or a same-path bind when it has bind
options); a shared volume binds its node directory under
``$AZ_BATCH_NODE_ROOT_DIR/mounts``; a job with ``auto_scratch`` binds
``mounts/auto_scratch/<job>`` at ``$AZ_BATCH_TASK_DIR/auto_scratch``. Paths are the
user's shell text inside double quotes, so ``$AZ_BATCH_*`` in them expands where the line
runs (bash on the node, or the service for a native pool's ``containerRunOptions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipyard.config import JobSpec, ShipyardConfig, TaskSpec
from shipyard.config.volumes import MOUNTS_DIR, Volumes
from shipyard.errors import ConfigError

#: Where a job's auto scratch space is on every node of the job, and in its containers.
AUTO_SCRATCH_DIR = f"{MOUNTS_DIR}/auto_scratch"
AUTO_SCRATCH_IN_CONTAINER = "$AZ_BATCH_TASK_DIR/auto_scratch"


@dataclass(frozen=True)
class VolumeContext:
    """The config's volumes and the storage account name of each credentials link."""

    volumes: Volumes = field(default_factory=Volumes)
    accounts: Mapping[str, str] = field(default_factory=dict)


def volume_context(cfg: ShipyardConfig) -> VolumeContext:
    """The volumes of ``cfg``'s config.yaml (none without one) and its storage accounts."""
    volumes = cfg.global_file.global_resources.volumes if cfg.global_file else None
    accounts = {link: account.account for link, account in
                cfg.credentials.storage.accounts.items()}
    return VolumeContext(volumes=volumes or Volumes(), accounts=accounts)


def _double_quoted(text: str) -> str:
    """``text`` in double quotes: ``$VAR`` still expands, nothing else is special."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


def _bind(source: str, target: str, options: str | None) -> str:
    return "-v " + _double_quoted(f"{source}:{target}" + (f":{options}" if options else ""))


def _aliases(job: JobSpec, task: TaskSpec, key: str, where: str) -> list[str]:
    own, inherited = getattr(task, key), getattr(job, key)
    twice = sorted(set(own) & set(inherited))
    if twice:
        raise ConfigError(f"jobs.yaml: {where}.{key}: '{twice[0]}' is listed by both the job "
                          "and the task", hint="list each volume once")
    return [*inherited, *own]


def _unknown(key: str, alias: str, where: str) -> ConfigError:
    return ConfigError(f"jobs.yaml: {where}.{key}: '{alias}' is not in config.yaml "
                       f"global_resources.volumes.{key}")


def volume_options(job: JobSpec, task: TaskSpec, context: VolumeContext,
                   where: str = "task") -> list[str]:
    """Every ``-v`` the task's container gets (see the module docstring)."""
    out = []
    for alias in _aliases(job, task, "data_volumes", where):
        data = context.volumes.data_volumes.get(alias)
        if data is None:
            raise _unknown("data_volumes", alias, where)
        if data.host_path:
            out.append(_bind(data.host_path, data.container_path, data.bind_options))
        elif data.bind_options:
            out.append(_bind(data.container_path, data.container_path, data.bind_options))
        else:
            out.append("-v " + _double_quoted(data.container_path))
    for alias in _aliases(job, task, "shared_data_volumes", where):
        shared = context.volumes.shared_data_volumes.get(alias)
        if shared is None:
            raise _unknown("shared_data_volumes", alias, where)
        out.append(_bind(shared.node_dir(alias, context.accounts), shared.container_path,
                         shared.bind_options))
    if job.auto_scratch is not None:
        out.append(_bind(f"{AUTO_SCRATCH_DIR}/{job.id}", AUTO_SCRATCH_IN_CONTAINER, None))
    return out
