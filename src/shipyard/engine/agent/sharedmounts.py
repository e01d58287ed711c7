"""The shared storage of a local pool: one directory, every node's ``mounts`` dir.

On Azure, Batch Shipyard mounts its shared volumes (Azure Files, blobfuse, GlusterFS, NFS,
custom mounts) and a job's auto scratch (BeeOND) under ``$AZ_BATCH_NODE_ROOT_DIR/mounts``
on every node (batch-shipyard-behaviour.md section 5). The local engine has none of those
file systems; what they give a job is one tree every node reads and writes. So each pool
gets one directory of the engine's data dir, and every node's ``/mnt/batch/tasks/mounts``
is a link to it: a file one instance writes under ``mounts/...`` is read by another, and
containers bind the same paths. The directory goes with the pool.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from shipyard.engine.settings import EngineSettings

#: The node's name for the shared tree, under its ``/mnt/batch/tasks``.
NODE_MOUNTS = "mounts"


def pool_dir(settings: EngineSettings, pool_id: str) -> Path:
    return settings.data_dir / "mounts" / pool_id


def link_node(settings: EngineSettings, pool_id: str, batch_dir: Path) -> None:
    """Make the node's ``tasks/mounts`` the pool's shared directory (idempotent)."""
    shared = pool_dir(settings, pool_id)
    shared.mkdir(parents=True, exist_ok=True)
    link = batch_dir / "tasks" / NODE_MOUNTS
    if link.is_symlink() and link.readlink() == shared:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(shared, target_is_directory=True)


def remove_pool(settings: EngineSettings, pool_id: str) -> None:
    """Remove the pool's shared directory and everything in it."""
    shutil.rmtree(pool_dir(settings, pool_id), ignore_errors=True)
