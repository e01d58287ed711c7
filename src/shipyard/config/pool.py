"""pool.yaml: the pool the jobs run on.

The VM image and size only matter on Azure; a local-engine pool may leave them out (the
loader requires them when the credentials name an Azure account). On the local engine a
node runs this machine's Linux whatever the image, marketplace or custom. The network keys
(``virtual_network``, ``public_ips``, ``remote_access_control``) live in ``network``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from shipyard.config.autoscale import Autoscale
from shipyard.config.base import (
    BatchId,
    Environment,
    Model,
    Opaque,
    ResourceFile,
    Strings,
    TimeSpan,
    problem,
    shown,
)
from shipyard.config.data import PoolInputData
from shipyard.config.network import ImageId, PublicIps, RemoteAccessControl, VirtualNetwork


class PlatformImage(Model):
    """A marketplace image, e.g. ``microsoft-dsvm / ubuntu-hpc / 2204``."""

    publisher: str
    offer: str
    sku: str
    version: str = "latest"
    native: bool = False
    license_type: str | None = None


_NODE_AGENT = re.compile(r"batch\.node\.[a-z0-9_-]+ [a-z0-9._-]+")


def _node_agent(value: object) -> object:
    # Batch Shipyard lower-cases the node agent before sending it; so do we.
    text = value.lower() if isinstance(value, str) else value
    if not (isinstance(text, str) and _NODE_AGENT.fullmatch(text)):
        raise problem("must be a node agent SKU id such as 'batch.node.ubuntu 22.04' "
                      f"(see 'shipyard account images'; got {shown(value)})")
    if text.startswith("batch.node.windows"):
        raise problem(f"{text!r} is a Windows node agent; shipyard makes Linux pools only")
    return text


class CustomImage(Model):
    """An Azure Compute Gallery image (or managed image) and the node agent it boots with.

    ``license_type`` is for Windows images; like Batch Shipyard, a Linux pool leaves it out
    of the request.
    """

    arm_image_id: ImageId
    node_agent: Annotated[str, BeforeValidator(_node_agent)]
    native: bool = False
    license_type: str | None = None


class VmConfiguration(Model):
    """The node OS image: a ``platform_image`` or a ``custom_image``, exactly one."""

    platform_image: PlatformImage | None = None
    custom_image: CustomImage | None = None

    @model_validator(mode="after")
    def _one_image(self) -> VmConfiguration:
        if self.platform_image is None and self.custom_image is None:
            raise problem("required key is missing", "platform_image")
        if self.platform_image is not None and self.custom_image is not None:
            raise problem("set only one of platform_image and custom_image", "custom_image")
        return self

    @property
    def native(self) -> bool:
        """Whether Batch runs the task containers itself (the image's ``native``)."""
        image = self.platform_image or self.custom_image
        return image is not None and image.native

    @property
    def ubuntu(self) -> bool:
        """Whether the image is Ubuntu: a platform image by its offer, a custom image by its
        node agent (Batch Shipyard's ``temp_disk_mountpoint``)."""
        if self.custom_image is not None:
            return self.custom_image.node_agent.startswith("batch.node.ubuntu")
        return self.platform_image is not None and "ubuntu" in self.platform_image.offer.lower()


class VmCount(Model):
    """Target node counts; a bare integer in the YAML means dedicated nodes."""

    dedicated: int = Field(default=0, ge=0)
    low_priority: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.dedicated + self.low_priority


class SshSettings(Model):
    """A remote login user created on every node."""

    username: str
    expiry_days: int | None = Field(default=None, ge=1)
    ssh_public_key: str | None = None
    ssh_public_key_data: str | None = None
    ssh_private_key: str | None = None
    generate_docker_tunnel_script: bool = False
    generated_file_export_path: str | None = None
    hpn_server_swap: bool = False
    allow_docker_access: bool = False


class NodePrepCommands(Model):
    """Host commands run while a node is prepared: ``pre`` before shipyard's own, ``post`` after."""

    pre: Strings = ()
    post: Strings = ()


class AdditionalNodePrep(Model):
    """``additional_node_prep``: extra host commands and the environment they run with."""

    commands: NodePrepCommands = Field(default_factory=NodePrepCommands)
    environment_variables: Environment = Field(default_factory=dict)
    environment_variables_keyvault_secret_id: str | None = None


def _legacy_node_prep(value: object) -> object:
    # Batch Shipyard 2.x wrote a plain list; those commands ran after its own preparation.
    return {"post": value} if isinstance(value, list) else value


class PoolSpecification(Model):
    """``pool_specification``."""

    id: BatchId
    vm_configuration: VmConfiguration | None = None
    vm_size: str | None = None
    vm_count: VmCount = Field(default_factory=VmCount)
    max_tasks_per_node: int | None = Field(default=None, ge=1)
    task_slots_per_node: int | None = Field(default=None, ge=1)
    resize_timeout: TimeSpan | None = None
    node_fill_type: Literal["pack", "spread"] | None = None
    inter_node_communication_enabled: bool = False
    reboot_on_start_task_failed: bool = False
    attempt_recovery_on_unusable: bool = False
    upload_diagnostics_logs_on_unusable: bool = True
    block_until_all_global_resources_loaded: bool = True
    transfer_files_on_pool_creation: bool = False
    ssh: SshSettings | None = None
    additional_node_prep: AdditionalNodePrep | None = None
    additional_node_prep_commands: NodePrepCommands | None = None
    autoscale: Autoscale | None = None
    input_data: PoolInputData | None = None
    resource_files: tuple[ResourceFile, ...] = ()
    rdp: Opaque = None
    remote_access_control: RemoteAccessControl | None = None
    virtual_network: VirtualNetwork | None = None
    public_ips: PublicIps = ()
    certificates: Opaque = None
    gpu: Opaque = None
    prometheus: Opaque = None
    container_runtimes: Opaque = None
    per_job_auto_scratch: bool = False
    batch_insights_enabled: bool = False

    @field_validator("vm_count", mode="before")
    @classmethod
    def _bare_count(cls, value: object) -> object:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return {"dedicated": value} if is_int else value

    @field_validator("additional_node_prep_commands", mode="before")
    @classmethod
    def _legacy_list(cls, value: object) -> object:
        return _legacy_node_prep(value)

    @model_validator(mode="after")
    def _one_spelling_each(self) -> PoolSpecification:
        if self.max_tasks_per_node is not None and self.task_slots_per_node is not None:
            raise problem("set only one of max_tasks_per_node and task_slots_per_node",
                          "task_slots_per_node")
        if self.additional_node_prep is not None and self.additional_node_prep_commands:
            raise problem("set only one of additional_node_prep and "
                          "additional_node_prep_commands", "additional_node_prep_commands")
        return self

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> PoolSpecification:
        # A scenario keeps vm_count as its floor: a ceiling below it can never hold.
        scenario = self.autoscale.scenario if self.autoscale is not None else None
        if scenario is None or self.autoscale is None or self.autoscale.formula is not None:
            return self
        for kind in ("dedicated", "low_priority"):
            floor, ceiling = getattr(self.vm_count, kind), getattr(scenario.maximum_vm_count, kind)
            if 0 <= ceiling < floor:
                raise problem(f"{ceiling} is below vm_count.{kind} ({floor}), the scenario's "
                              "minimum: raise it, or write a negative value for no limit",
                              "autoscale", "scenario", "maximum_vm_count", kind)
        return self

    @property
    def is_autoscale(self) -> bool:
        """Whether the pool is sized by an autoscale formula rather than by vm_count."""
        return self.autoscale is not None

    @property
    def temp_disk(self) -> str:
        """Where the nodes' resource disk is mounted: ``/mnt`` on Ubuntu images, else
        ``/mnt/resource`` (Batch Shipyard's rule; Batch keeps its node root there)."""
        vm = self.vm_configuration
        return "/mnt" if vm is not None and vm.ubuntu else "/mnt/resource"

    @property
    def slots_per_node(self) -> int:
        """Task slots per node (``task_slots_per_node`` or its old name); 1 by default."""
        return self.task_slots_per_node or self.max_tasks_per_node or 1

    @property
    def node_prep_commands(self) -> NodePrepCommands:
        """The extra host commands, whichever spelling the file used."""
        if self.additional_node_prep is not None:
            return self.additional_node_prep.commands
        return self.additional_node_prep_commands or NodePrepCommands()


class PoolFile(Model):
    """The whole of pool.yaml."""

    pool_specification: PoolSpecification
