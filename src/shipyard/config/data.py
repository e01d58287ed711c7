"""Data movement keys: ``input_data``, ``output_data``, ``task_factory.file`` and ingress files.

``remote_path`` is ``container[/virtual/dir]`` in the storage account that
``storage_account_settings`` names (a link of ``credentials.storage``; with a local Batch
account a link not written there means the local engine's Azurite). ``include`` and
``exclude`` are fnmatch patterns over blob names (ingress: over paths under ``source.path``).
File shares (``is_file_share: true``) are refused as not implemented (``unimplemented``).
An ingress destination is a storage account (``storage_account_settings``) or the pool's
nodes (``shared_data_volume`` and/or ``relative_destination_path``, sent over SSH with
``data_transfer.method``; see ``factory/ingress.py``), never both.
"""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shipyard.config.base import Model, Opaque, Strings, problem, shown

Condition = Literal["taskcompletion", "taskfailure", "tasksuccess"]
TaskFilePath = Literal["file_path", "file_path_with_container", "file_name",
                       "file_name_no_extension"]
NodeMethod = Literal["scp", "multinode_scp", "rsync+ssh", "multinode_rsync+ssh"]


class RemotePath(Model):
    """Where in Azure Storage: an account link and ``container[/dir]``; filters over names."""

    storage_account_settings: str
    remote_path: str
    is_file_share: bool = False
    include: Strings = ()
    exclude: Strings = ()

    @model_validator(mode="after")
    def _container_first(self) -> RemotePath:
        if not self.remote_path.strip("/"):
            raise problem(f"must start with a container name (got {shown(self.remote_path)})",
                          "remote_path")
        return self

    @property
    def container(self) -> str:
        return self.remote_path.strip("/").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The virtual directory below the container, ``''`` or ending in ``/``."""
        rest = self.remote_path.strip("/").partition("/")[2]
        return f"{rest}/" if rest else ""


class StorageInput(RemotePath):
    """One ``input_data.azure_storage`` entry: download before the job's or task's work."""

    local_path: str | None = None
    blobxfer_extra_options: str | None = None


class StorageOutput(RemotePath):
    """One ``output_data.azure_storage`` entry: upload after the task, on ``condition``."""

    local_path: str | None = None
    condition: Condition = "tasksuccess"
    blobxfer_extra_options: str | None = None

    @model_validator(mode="after")
    def _native(self) -> StorageOutput:
        # Batch output files have include patterns, not excludes (Batch Shipyard agrees).
        if self.exclude:
            raise problem("is not supported for output_data (Batch output files only "
                          "include); narrow 'include' instead", "exclude")
        return self


class InputData(Model):
    """``input_data``: Azure Storage sources (``azure_batch`` is not implemented)."""

    azure_storage: tuple[StorageInput, ...] = ()
    azure_batch: Opaque = None


class PoolInputData(InputData):
    """Pool-level ``input_data``: downloaded onto every node by the start task.

    ``local_path`` is required here (Batch Shipyard's rule): a node has no task working
    directory to default to.
    """

    @model_validator(mode="after")
    def _local_paths(self) -> PoolInputData:
        for index, entry in enumerate(self.azure_storage):
            if not (entry.local_path or "").strip():
                raise problem("required for pool-level input_data (where on every node the "
                              "files go, e.g. $AZ_BATCH_NODE_SHARED_DIR/data)",
                              "azure_storage", index, "local_path")
        return self


class OutputData(Model):
    """``output_data``: Azure Storage destinations."""

    azure_storage: tuple[StorageOutput, ...] = ()


class FileFactory(Model):
    """``task_factory.file``: one task per blob under ``azure_storage.remote_path``."""

    azure_storage: RemotePath
    task_filepath: TaskFilePath = "file_path"


class IngressSource(Model):
    """Local files to send: a directory (or file) with optional filters."""

    path: str
    include: Strings = ()
    exclude: Strings = ()


class IngressTransfer(Model):
    """``destination.data_transfer``; ``method`` and the SSH options are for node ingress."""

    remote_path: str | None = None
    is_file_share: bool = False
    blobxfer_extra_options: str | None = None
    method: NodeMethod | None = None
    ssh_private_key: str | None = None
    scp_ssh_extra_options: str = ""
    rsync_extra_options: str = ""
    split_files_megabytes: int | None = None
    max_parallel_transfers_per_node: int = Field(default=1, ge=1)

    @field_validator("scp_ssh_extra_options", "rsync_extra_options")
    @classmethod
    def _shell_words(cls, value: str) -> str:
        # Split into argv per copy, in a worker thread: an unbalanced quote must stop here.
        try:
            shlex.split(value)
        except ValueError as exc:
            raise problem(f"is not shell words ({exc}): {shown(value)}") from None
        return value


class IngressDestination(Model):
    """Where ``data ingress`` sends one source: a storage account, or the pool's nodes."""

    storage_account_settings: str | None = None
    data_transfer: IngressTransfer = Field(default_factory=IngressTransfer)
    relative_destination_path: str | None = None
    shared_data_volume: str | None = None

    @property
    def to_nodes(self) -> bool:
        """True for a node destination (a shared volume or a path under the node root)."""
        return self.shared_data_volume is not None or self.relative_destination_path is not None

    @model_validator(mode="after")
    def _one_kind(self) -> IngressDestination:
        if self.storage_account_settings and self.to_nodes:
            key = ("shared_data_volume" if self.shared_data_volume is not None
                   else "relative_destination_path")
            raise problem("a destination is a storage account or the pool's nodes, not both: "
                          "remove storage_account_settings or this key", key)
        if self.storage_account_settings and not self.data_transfer.remote_path:
            raise problem("required with storage_account_settings", "data_transfer",
                          "remote_path")
        if self.to_nodes and self.data_transfer.method is None:
            raise problem("required for ingress to nodes: scp, multinode_scp, rsync+ssh or "
                          "multinode_rsync+ssh", "data_transfer", "method")
        return self


class IngressFile(Model):
    """One ``global_resources.files`` entry."""

    source: IngressSource
    destination: IngressDestination
