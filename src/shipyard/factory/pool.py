"""Pools: ``pool.yaml`` (plus config.yaml's images and the registry logins) as create-options.

Images in ``global_resources.docker_images`` are preloaded through the pool's container
configuration. A local-engine config may leave out the VM size and image; they get
defaults the local engine accepts (Azure configs must set both; the config room checks).
A ``custom_image`` goes by its ``virtualMachineImageId`` and node agent; the network keys
become the ``networkConfiguration`` (``network``).
"""

from __future__ import annotations

import re
from typing import Any

from azure.batch import models

from shipyard.config import ShipyardConfig
from shipyard.config.pool import PlatformImage, PoolSpecification
from shipyard.errors import ConfigError
from shipyard.factory import autoscale, data
from shipyard.factory.common import admin, environment_settings, resource_files
from shipyard.factory.network import network_configuration
from shipyard.factory.poolmounts import pool_mounts
from shipyard.factory.shell import bash_c, sequence

#: The VM size of a local pool that does not name one.
LOCAL_VM_SIZE = "standard_d2_v3"
#: The image of a local pool that does not name one: Ubuntu 22.04 LTS.
DEFAULT_IMAGE = PlatformImage(publisher="canonical", offer="0001-com-ubuntu-server-jammy",
                              sku="22_04-lts", version="latest")

# Ubuntu releases are YY.04 or YY.10; the lookarounds skip numbers such as "0001-com".
_UBUNTU = re.compile(r"(?<!\d)(1[4-9]|[2-9]\d)[._]?(04|10)(?!\d)")
_MAJOR = re.compile(r"(\d+)")
_DISTROS = (("ubuntu", "ubuntu"), ("centos", "centos"), ("alma", "el"), ("rocky", "el"),
            ("rhel", "el"), ("debian", "debian"))


def node_agent_sku(image: PlatformImage) -> str:
    """The node agent of a marketplace image (``ubuntu-hpc 2204``: ``batch.node.ubuntu 22.04``).

    Unknown families are a ``ConfigError``.
    """
    text = f"{image.offer} {image.sku}".lower()
    for word, family in _DISTROS:
        if word not in text:
            continue
        pattern = _UBUNTU if family == "ubuntu" else _MAJOR
        version = pattern.search(image.sku) or pattern.search(image.offer)
        if version is not None:
            number = ".".join(version.groups()) if family == "ubuntu" else version.group(1)
            return f"batch.node.{family} {number}"
    raise ConfigError(
        f"pool.yaml: pool_specification.vm_configuration.platform_image: cannot tell the "
        f"node agent for {image.publisher}/{image.offer}/{image.sku}",
        hint="use an Ubuntu, Debian, CentOS or EL (Alma, Rocky, RHEL) marketplace image",
    )


def _image(spec: PoolSpecification, local: bool) -> PlatformImage:
    config = spec.vm_configuration
    if config is not None and config.platform_image is not None:
        return config.platform_image
    if local:
        return DEFAULT_IMAGE
    raise ConfigError("pool.yaml: pool_specification.vm_configuration: required for an Azure "
                      "Batch account")


def image_registry(image: str) -> str | None:
    """The registry server an image name points at (Docker's rule), ``None`` for Docker Hub.

    >>> image_registry("myregistry.azurecr.io/hpc/osu:4"), image_registry("library/busybox")
    ('myregistry.azurecr.io', None)
    """
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def login_servers(cfg: ShipyardConfig) -> list[str]:
    """The registries nodes log in to, as Batch Shipyard picks them: Docker Hub (``hub``),
    then ``fallback_registry``, ``additional_registries.docker`` and the preloaded images'
    registries, each once and only when ``credentials.docker_registry`` has a login for it
    (a registry without one is public)."""
    named: list[str | None] = []
    if cfg.global_file is not None:
        resources = cfg.global_file.global_resources
        named.append(cfg.global_file.batch_shipyard.fallback_registry)
        if resources.additional_registries is not None:
            named += resources.additional_registries.docker
        named += [image_registry(image) for image in resources.docker_images]
    logins = cfg.credentials.docker_registry
    wanted = ["hub", *(server for server in named if server)]
    return [server for server in dict.fromkeys(wanted) if server in logins]


def _registries(cfg: ShipyardConfig) -> list[models.ContainerRegistryReference] | None:
    out = []
    for server in login_servers(cfg):
        login = cfg.credentials.docker_registry[server]
        password = login.password.get_secret_value() if login.password else None
        out.append(models.ContainerRegistryReference(
            registry_server=None if server == "hub" else server,
            username=login.username, password=password))
    return out or None


def _image_and_agent(cfg: ShipyardConfig) -> tuple[models.BatchVmImageReference, str,
                                                    str | None]:
    """The image reference, its node agent and the license type.

    A custom image goes as Batch Shipyard sends it: only ``virtualMachineImageId``, with
    the configured node agent; its ``license_type`` is left out (Linux pools only).
    """
    config = cfg.pool.vm_configuration
    custom = config.custom_image if config is not None else None
    if custom is not None:
        return (models.BatchVmImageReference(virtual_machine_image_id=custom.arm_image_id),
                custom.node_agent, None)
    image = _image(cfg.pool, cfg.is_local)
    reference = models.BatchVmImageReference(
        publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version)
    return reference, node_agent_sku(image), image.license_type


def _machine(cfg: ShipyardConfig) -> models.VirtualMachineConfiguration:
    reference, agent, license_type = _image_and_agent(cfg)
    images = list(cfg.global_file.global_resources.docker_images) if cfg.global_file else []
    return models.VirtualMachineConfiguration(
        image_reference=reference,
        node_agent_sku_id=agent,
        license_type=license_type,
        container_configuration=models.BatchContainerConfiguration(
            type="dockerCompatible", container_image_names=images or None,
            container_registries=_registries(cfg)),
    )


def start_task(spec: PoolSpecification, volume_steps: list[str] | None = None
               ) -> models.BatchStartTask | None:
    """The pool's start task: ``additional_node_prep`` ``pre`` commands, what the shared
    volumes need (``poolmounts``), the copies of ``input_data`` to their local paths, then
    ``post``; ``resource_files`` land in its working directory first
    (``$AZ_BATCH_NODE_STARTUP_DIR/wd``).

    The input files themselves are listed in storage at creation
    (``StoragePlan.pool_options``); only their copy lines are known here.
    """
    commands = spec.node_prep_commands
    inputs = spec.input_data.azure_storage if spec.input_data else ()
    steps = [*commands.pre, *(volume_steps or []), *data.pool_input_steps(inputs),
             *commands.post]
    files = resource_files(spec.resource_files)
    if not steps and not files:
        return None
    env = spec.additional_node_prep.environment_variables if spec.additional_node_prep else {}
    return models.BatchStartTask(
        # Batch needs a command line even when the task only fetches files.
        command_line=bash_c(sequence("set -e", *steps) if steps else "true"),
        resource_files=files,
        environment_settings=environment_settings(env),
        user_identity=admin(),
        wait_for_success=True,
    )


def _vm_size(cfg: ShipyardConfig) -> str:
    if cfg.pool.vm_size:
        return cfg.pool.vm_size
    if cfg.is_local:
        return LOCAL_VM_SIZE
    raise ConfigError("pool.yaml: pool_specification.vm_size: required for an Azure Batch "
                      "account")


def sizing(spec: PoolSpecification) -> dict[str, Any]:
    """How the pool is sized: ``vm_count`` (and the resize timeout), or autoscale.

    An autoscale pool's targets come from its formula, so the service takes no target
    counts with it; the resize timeout applies to manual resizes only and is left out.
    """
    scaling = autoscale.formula(spec)
    if scaling is None or spec.autoscale is None:
        return {"resize_timeout": spec.resize_timeout,
                "target_dedicated_nodes": spec.vm_count.dedicated,
                "target_low_priority_nodes": spec.vm_count.low_priority}
    return {"enable_auto_scale": True, "auto_scale_formula": scaling,
            "auto_scale_evaluation_interval": spec.autoscale.evaluation_interval}


def pool_options(cfg: ShipyardConfig) -> models.BatchPoolCreateOptions:
    """The pool of ``cfg`` as create-options."""
    spec = cfg.pool
    mounts, volume_steps = pool_mounts(cfg)
    return models.BatchPoolCreateOptions(
        id=spec.id,
        vm_size=_vm_size(cfg),
        virtual_machine_configuration=_machine(cfg),
        **sizing(spec),
        enable_inter_node_communication=spec.inter_node_communication_enabled,
        start_task=start_task(spec, volume_steps),
        task_slots_per_node=spec.slots_per_node,
        mount_configuration=mounts or None,
        network_configuration=network_configuration(cfg),
    )
