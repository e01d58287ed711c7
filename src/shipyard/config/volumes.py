"""``global_resources.volumes``: named volumes jobs and tasks mount into their containers.

``data_volumes`` are per node: a host path (or an anonymous Docker volume) at a container
path. ``shared_data_volumes`` are shared by the nodes of a pool, each of one of Batch
Shipyard's kinds (``volume_driver``); every kind lives on the node under
``$AZ_BATCH_NODE_ROOT_DIR/mounts/<name>`` (batch-shipyard-behaviour.md section 5), where
``<name>`` depends on the kind. A job or task lists the aliases it wants; the container gets
``-v <host path>:<container_path>[:ro|rw]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from shipyard.config.base import Model, Strings, problem

#: Where shared volumes and auto scratch live on a node.
MOUNTS_DIR = "$AZ_BATCH_NODE_ROOT_DIR/mounts"

VolumeDriver = Literal["azureblob", "azurefile", "custom_linux_mount", "glusterfs_on_compute",
                       "storage_cluster"]
BindOptions = Literal["ro", "rw"]


class DataVolume(Model):
    """One ``data_volumes`` entry: a node's own path, or an anonymous volume."""

    container_path: str
    host_path: str | None = None
    bind_options: BindOptions | None = None


class FstabEntry(Model):
    """``fstab_entry`` of a ``custom_linux_mount``: one line of /etc/fstab."""

    fs_spec: str
    fs_vfstype: str
    fs_mntops: str = "defaults"
    fs_freq: int = 0
    fs_passno: int = 0


#: The keys each kind needs besides ``container_path``.
_NEEDS: dict[str, tuple[str, ...]] = {
    "azurefile": ("storage_account_settings", "azure_file_share_name"),
    "azureblob": ("storage_account_settings", "azure_blob_container_name"),
    "custom_linux_mount": ("fstab_entry",),
    "glusterfs_on_compute": (),
    "storage_cluster": (),
}


class SharedDataVolume(Model):
    """One ``shared_data_volumes`` entry (see the module docstring)."""

    volume_driver: VolumeDriver
    container_path: str
    bind_options: BindOptions | None = None
    mount_options: Strings = ()
    storage_account_settings: str | None = None
    azure_file_share_name: str | None = None
    azure_blob_container_name: str | None = None
    volume_type: Literal["replica"] = "replica"
    volume_options: Strings = ()
    fstab_entry: FstabEntry | None = None

    @model_validator(mode="after")
    def _kind_keys(self) -> SharedDataVolume:
        for key in _NEEDS[self.volume_driver]:
            if getattr(self, key) is None:
                raise problem(f"required for volume_driver {self.volume_driver}", key)
        if self.fstab_entry is not None and "auto" in self.fstab_entry.fs_mntops.replace(
                "noauto", ""):
            raise problem("must not mount automatically: shipyard mounts it (remove auto)",
                          "fstab_entry", "fs_mntops")
        return self

    def node_dir(self, alias: str, accounts: Mapping[str, str]) -> str:
        """The directory on the node, under :data:`MOUNTS_DIR` (``accounts``: link -> name)."""
        if self.volume_driver == "glusterfs_on_compute":
            return f"{MOUNTS_DIR}/gluster_on_compute/gv0"
        if self.volume_driver == "azurefile":
            account = accounts.get(self.storage_account_settings or "", "")
            return f"{MOUNTS_DIR}/azfile-{account}-{self.azure_file_share_name}"
        if self.volume_driver == "azureblob":
            account = accounts.get(self.storage_account_settings or "", "")
            return f"{MOUNTS_DIR}/azblob-{account}-{self.azure_blob_container_name}"
        return f"{MOUNTS_DIR}/{alias}"


class Volumes(Model):
    """``global_resources.volumes``: named volumes that jobs and tasks refer to."""

    data_volumes: dict[str, DataVolume] = Field(default_factory=dict)
    shared_data_volumes: dict[str, SharedDataVolume] = Field(default_factory=dict)
