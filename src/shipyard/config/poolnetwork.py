"""Whether pool.yaml's image and network keys can work where the credentials point.

On the local engine, nodes sit on the engine's own bridge network and are reached at
their bridge address on port 22 (``pool nodes grls``): no virtual network, no public IP
addresses, no load balancer whose network security group could apply
``remote_access_control`` rules. Those keys are refused there with one line each, before
anything is created. A custom image is fine: a local node runs this machine's Linux
whatever the image, as it does for marketplace images.

On Azure, Batch Shipyard refuses a custom image, a virtual network or public IPs without
Entra ID sign-in to Batch (``_check_for_batch_aad`` in its convoy/fleet.py), and so do we.
It finds a virtual network given by name through Azure Resource Manager, creating it with
``create_nonexistant``; shipyard speaks only the Batch API, so such a network must exist
and its subnet id is written out from the subscription and names. Batch gives
user-managed public IPs only to pools in a virtual network.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from shipyard.config.bundle import ShipyardConfig
from shipyard.config.pool import PoolSpecification
from shipyard.errors import ConfigError

_P = "pool.yaml: pool_specification"
_LOCAL_HINT = "remove it to run on the local engine; it is kept for Azure only"


def network_checks(cfg: ShipyardConfig) -> list[Callable[[], None]]:
    """The checks of this module that apply to ``cfg``, for ``crosscheck`` to run."""
    pool = cfg.pool_file
    if pool is None:
        return []
    if cfg.is_local:
        return [partial(check, pool) for check in (_local_subnet, _local_public_ips,
                                                   _local_access_rules)]
    return [partial(_entra_sign_in, cfg), partial(_network_by_name, cfg),
            partial(_public_ips_in_network, pool)]


def _local_subnet(pool: PoolSpecification) -> None:
    if pool.virtual_network is not None:
        raise ConfigError(f"{_P}.virtual_network: the local engine's nodes sit on its own "
                          "bridge network, in no Azure virtual network", hint=_LOCAL_HINT)


def _local_public_ips(pool: PoolSpecification) -> None:
    if pool.public_ips:
        raise ConfigError(f"{_P}.public_ips: the local engine's nodes have no public IP "
                          "addresses", hint=_LOCAL_HINT)


def _local_access_rules(pool: PoolSpecification) -> None:
    control = pool.remote_access_control
    if control is not None and control.has_rules:
        raise ConfigError(
            f"{_P}.remote_access_control: allow and deny rules need Batch's load balancer; "
            "the local engine reaches each node at its bridge address on port 22 (see "
            "'pool nodes grls') with no network security group to apply them",
            hint="remove allow and deny to run on the local engine; they are kept for Azure "
                 "only")


def _uses_entra_only_keys(pool: PoolSpecification) -> str | None:
    vm = pool.vm_configuration
    if vm is not None and vm.custom_image is not None:
        return "vm_configuration.custom_image"
    if pool.virtual_network is not None:
        return "virtual_network"
    return "public_ips" if pool.public_ips else None


def _entra_sign_in(cfg: ShipyardConfig) -> None:
    key = _uses_entra_only_keys(cfg.pool)
    if key is not None and cfg.credentials.batch_aad is None:
        raise ConfigError(
            f"{_P}.{key}: needs Entra ID sign-in to the Batch account, as Batch Shipyard "
            "requires for custom images, virtual networks and public IPs",
            hint="add credentials.batch.aad (or pass --aad-* options)")


def _network_by_name(cfg: ShipyardConfig) -> None:
    network = cfg.pool.virtual_network
    if network is None or network.name is None:
        return
    if network.create_nonexistant:
        raise ConfigError(
            f"{_P}.virtual_network.create_nonexistant: creating a virtual network needs Azure "
            "Resource Manager, which shipyard does not use",
            hint="create it first (az network vnet create), then set create_nonexistant: "
                 "false or give its arm_subnet_id")
    management = cfg.credentials.management
    if management is None or management.subscription_id is None:
        raise ConfigError(
            f"{_P}.virtual_network.name: writing out the subnet's resource id needs "
            "credentials.management.subscription_id (shipyard does not look networks up)",
            hint="set it, or give virtual_network.arm_subnet_id")
    if network.resource_group is None and cfg.credentials.batch.resource_group is None:
        raise ConfigError(f"{_P}.virtual_network.resource_group: required with a network "
                          "given by name (or credentials.batch.resource_group)")


def _public_ips_in_network(pool: PoolSpecification) -> None:
    if pool.public_ips and pool.virtual_network is None:
        raise ConfigError(f"{_P}.public_ips: needs virtual_network: Batch assigns "
                          "user-managed public IP addresses only to pools in a virtual network")
