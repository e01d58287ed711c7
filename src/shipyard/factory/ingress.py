"""Ingress to the pool's nodes: which local file goes to which node, and to what path.

Batch Shipyard's ``global_resources.files`` entries whose destination is the nodes
(docs/12, convoy/data.py ``ingress_data``):

- ``shared_data_volume`` names a ``glusterfs_on_compute`` volume: files land in its mount,
  ``$AZ_BATCH_NODE_ROOT_DIR/mounts/gluster_on_compute/gv0``, under
  ``relative_destination_path`` when given. Batch Shipyard ingresses to no other kind.
- ``relative_destination_path`` alone: under ``$AZ_BATCH_NODE_ROOT_DIR`` (empty: the root
  itself). Batch Shipyard refuses pools of more than one node here; shipyard sends every
  file to every node instead (nodes added later get nothing).
- ``$AZ_BATCH_NODE_ROOT_DIR`` is written out, since an SSH session has no such variable:
  ``<temp disk>/batch/tasks``, the temp disk being ``/mnt`` on Ubuntu images (a custom
  image's node agent says which) and ``/mnt/resource`` on the others (Batch Shipyard's
  rule); ``/mnt/batch/tasks`` locally.
- ``scp`` and ``rsync+ssh`` send one file at a time; the ``multinode_`` methods run up to
  ``max_parallel_transfers_per_node`` at once per node and, on a shared volume, spread the
  files over the nodes: each file, in path order, goes to the node with the fewest bytes
  so far (Batch Shipyard's bin packing; each node writes into the same shared directory).
  Without a shared volume there is nothing to spread: every node gets every file.

Pure: the files, their sizes and the node ids come in; the plan goes out::

    files = [LocalFile(Path("/d/a.dat"), "a.dat", 10), LocalFile(Path("/d/s/b.dat"), "s/b.dat", 5)]
    plan = node_plan(files, Destination("/mnt/batch/tasks/data", shared=False),
                     "rsync+ssh", 1, ["node-0", "node-1"])
    plan.nodes["node-1"].directories   # ('/mnt/batch/tasks/data', '/mnt/batch/tasks/data/s')
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shipyard.config.data import IngressDestination, NodeMethod
from shipyard.config.pool import PoolSpecification
from shipyard.config.volumes import SharedDataVolume
from shipyard.errors import ConfigError

Tool = Literal["scp", "rsync"]
LOCAL_NODE_ROOT = "/mnt/batch/tasks"
#: Batch Shipyard's one shared volume kind for ingress, and where it is mounted.
GLUSTER = "glusterfs_on_compute"
GLUSTER_DIR = "mounts/gluster_on_compute/gv0"


@dataclass(frozen=True)
class LocalFile:
    """One file to send: its local path, its path relative to the source, its size."""

    path: Path
    relative: str
    size: int


@dataclass(frozen=True)
class Destination:
    """The directory on the node that receives the source's tree; ``shared`` by all nodes?"""

    directory: str
    shared: bool


@dataclass(frozen=True)
class Copy:
    """One transfer: a local file to an absolute path on one node."""

    local: Path
    remote: str
    size: int


@dataclass(frozen=True)
class NodeShare:
    """What one node receives: the directories to create first, then the copies."""

    directories: tuple[str, ...]
    copies: tuple[Copy, ...]

    @property
    def size(self) -> int:
        return sum(copy.size for copy in self.copies)


@dataclass(frozen=True)
class NodePlan:
    """One entry's transfers: the tool, transfers at once per node, each node's share."""

    tool: Tool
    parallel: int
    destination: Destination
    nodes: Mapping[str, NodeShare]

    @property
    def files(self) -> int:
        return sum(len(share.copies) for share in self.nodes.values())

    @property
    def size(self) -> int:
        return sum(share.size for share in self.nodes.values())


def node_root(pool: PoolSpecification, local: bool) -> str:
    """``$AZ_BATCH_NODE_ROOT_DIR`` written out for the pool's image."""
    if local:
        return LOCAL_NODE_ROOT
    return f"{pool.temp_disk}/batch/tasks"


def destination(dest: IngressDestination, volumes: Mapping[str, SharedDataVolume], root: str,
                where: str) -> Destination:
    """The node directory of a node destination (``where``: its config path, for errors)."""
    relative = (dest.relative_destination_path or "").strip("/")
    if dest.shared_data_volume is None:
        return Destination(_join(root, relative), shared=False)
    alias = dest.shared_data_volume
    volume = volumes.get(alias)
    if volume is None:
        raise ConfigError(f"config.yaml: {where}.shared_data_volume: '{alias}' is not in "
                          "global_resources.volumes.shared_data_volumes",
                          hint=f"known: {', '.join(sorted(volumes)) or 'none'}")
    if volume.volume_driver != GLUSTER:
        raise ConfigError(f"config.yaml: {where}.shared_data_volume: '{alias}' is a "
                          f"{volume.volume_driver} volume; Batch Shipyard ingresses to "
                          f"{GLUSTER} volumes only",
                          hint="send the files to a storage account (storage_account_settings "
                               "and data_transfer.remote_path) and mount that instead")
    return Destination(_join(f"{root}/{GLUSTER_DIR}", relative), shared=True)


def _join(base: str, relative: str) -> str:
    return posixpath.normpath(posixpath.join(base, relative)) if relative else base


def node_plan(files: Sequence[LocalFile], dest: Destination, method: NodeMethod,
              parallel: int, node_ids: Sequence[str]) -> NodePlan:
    """Each node's directories and copies for one entry (see the module docstring)."""
    multinode = method.startswith("multinode_")
    tool: Tool = "rsync" if method.endswith("rsync+ssh") else "scp"
    if dest.shared and multinode:
        shares = spread(files, node_ids)
    elif dest.shared:
        shares = {node_ids[0]: list(files)}
    else:
        shares = {node_id: list(files) for node_id in node_ids}
    return NodePlan(tool, parallel if multinode else 1, dest,
                    {node_id: _share(dest.directory, found) for node_id, found in shares.items()})


def spread(files: Sequence[LocalFile], node_ids: Sequence[str]) -> dict[str, list[LocalFile]]:
    """Each file, in order, to the node with the fewest bytes so far (ties: the first)."""
    loads = dict.fromkeys(node_ids, 0)
    found: dict[str, list[LocalFile]] = {node_id: [] for node_id in node_ids}
    for file in files:
        node_id = min(loads, key=lambda n: loads[n])
        loads[node_id] += file.size
        found[node_id].append(file)
    return found


def _share(directory: str, files: Sequence[LocalFile]) -> NodeShare:
    copies = tuple(Copy(f.path, posixpath.join(directory, f.relative), f.size) for f in files)
    parents = {posixpath.dirname(copy.remote) for copy in copies} | {directory}
    return NodeShare(tuple(sorted(parents)), copies)
