"""The shared storage of a local pool: one directory, every node's ``mounts`` dir.

On Azure, Batch Shipyard mounts its shared volumes (Azure Files, blobfuse, GlusterFS, NFS,
custom mounts) and a job's auto scratch (BeeOND) under ``$AZ_BATCH_NODE_ROOT_DIR/mounts``
on every node (batch-shipyard-behaviour.md section 5). The local engine has none of those
file systems; what they give a job is one tree every node reads and writes. So each pool
gets one directory of the engine's data dir, bind-mounted at every node's
``/mnt/batch/tasks/mounts`` inside the node's own mount namespace: a file one node writes
under ``mounts/...`` (a task, or ``data ingress`` over SSH) is read by another, and
containers bind the same paths.

A bind mount, not a link: the data dir is 0700 (it holds the account key), and a link
into it would need every node user to pass through it. The mount shows only the pool's
directory, writable by root and the node's admin users as the node root is (``boot``).
It lives in the node's namespace, so it ends with the node and the host holds no mount;
the directory itself goes with the pool.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from shipyard.engine.agent.boot import admins_may_write
from shipyard.engine.agent.execution import NODE_ROOT
from shipyard.engine.settings import EngineSettings

#: The node's name for the shared tree, under its ``/mnt/batch/tasks``.
NODE_MOUNTS = "mounts"


def pool_dir(settings: EngineSettings, pool_id: str) -> Path:
    return settings.data_dir / "mounts" / pool_id


def node_binds(settings: EngineSettings, pool_id: str) -> tuple[tuple[Path, str], ...]:
    """The bind every node of the pool gets (``nodes.NodeSpec.binds``)."""
    return ((pool_dir(settings, pool_id), str(NODE_ROOT / NODE_MOUNTS)),)


def prepare_node(settings: EngineSettings, pool_id: str, batch_dir: Path) -> None:
    """Create the pool's directory and the node's empty mount point for it (idempotent).

    A node made by an older engine has a link there instead: it becomes a directory.
    """
    shared = pool_dir(settings, pool_id)
    shared.mkdir(parents=True, exist_ok=True)
    admins_may_write(shared)
    point = batch_dir / "tasks" / NODE_MOUNTS
    if point.is_symlink() or point.is_file():
        point.unlink()
    point.mkdir(parents=True, exist_ok=True)


def remove_pool(settings: EngineSettings, pool_id: str) -> None:
    """Remove the pool's shared directory and everything in it."""
    shutil.rmtree(pool_dir(settings, pool_id), ignore_errors=True)
