"""The pool's ``networkConfiguration``: ``virtual_network``, ``remote_access_control`` and
``public_ips`` as Batch Shipyard sends them (convoy/fleet.py), in API 2025-06-01's words.

- There is a network configuration only when there is a subnet or an access rule.
- ``subnetId`` is ``arm_subnet_id``, or the id written out from a network given by name
  (``credentials.management.subscription_id``, the network's resource group or else the
  Batch account's, the network and subnet names); the config room has checked the parts.
- Access rules make one inbound NAT pool, ``BatchShipyard-RemoteAccessControl``: TCP to
  port 22 on each node from ``starting_port`` to ``starting_port + 999``, with a network
  security group rule per ``allow`` prefix and then per ``deny`` prefix, priorities from
  150 up (the lower, the earlier). No rules, no NAT pool: Batch Shipyard drops it when its
  rule list is empty (a subnet alone, or ``starting_port`` alone, keeps Batch's default
  SSH endpoint), and so does shipyard. Batch Shipyard sends 3389 (RDP) as the backend port
  when the pool has no ``ssh`` user; shipyard's pools are Linux, reached over SSH on 22.
- ``public_ips`` become ``publicIPAddressConfiguration`` with provisioning
  ``usermanaged`` and the ids (Batch Shipyard's older SDK sent the same list as
  ``publicIPs``).
"""

from __future__ import annotations

from azure.batch import models

from shipyard.config import ShipyardConfig
from shipyard.config.network import PORT_BLOCK, RemoteAccessControl, VirtualNetwork
from shipyard.errors import ConfigError

#: The NAT pool's name, Batch Shipyard's, so pools made by either look the same.
NAT_POOL = "BatchShipyard-RemoteAccessControl"
#: The port each Linux node's SSH server listens on.
SSH_PORT = 22
#: The first priority Batch allows for a network security group rule.
FIRST_PRIORITY = 150


def subnet_id(cfg: ShipyardConfig) -> str | None:
    """The subnet the pool's nodes join, if pool.yaml names one."""
    network = cfg.pool.virtual_network
    if network is None:
        return None
    if network.arm_subnet_id is not None:
        return network.arm_subnet_id
    return _written_out(cfg, network)


def _written_out(cfg: ShipyardConfig, network: VirtualNetwork) -> str:
    management = cfg.credentials.management
    subscription = management.subscription_id if management is not None else None
    group = network.resource_group or cfg.credentials.batch.resource_group
    if subscription is None or group is None or network.subnet is None:
        raise ConfigError("pool.yaml: pool_specification.virtual_network: cannot write out "
                          "the subnet's resource id", hint="give arm_subnet_id")
    return (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
            f"Microsoft.Network/virtualNetworks/{network.name}/subnets/{network.subnet.name}")


def _rules(control: RemoteAccessControl) -> list[models.NetworkSecurityGroupRule]:
    sources = [("allow", prefix) for prefix in control.allow] + [
        ("deny", prefix) for prefix in control.deny]
    return [models.NetworkSecurityGroupRule(priority=FIRST_PRIORITY + index, access=access,
                                            source_address_prefix=prefix)
            for index, (access, prefix) in enumerate(sources)]


def _endpoints(control: RemoteAccessControl | None
               ) -> models.BatchPoolEndpointConfiguration | None:
    if control is None or not control.has_rules:
        return None
    return models.BatchPoolEndpointConfiguration(inbound_nat_pools=[models.BatchInboundNatPool(
        name=NAT_POOL, protocol="tcp", backend_port=SSH_PORT,
        frontend_port_range_start=control.starting_port,
        frontend_port_range_end=control.starting_port + PORT_BLOCK - 1,
        network_security_group_rules=_rules(control))])


def network_configuration(cfg: ShipyardConfig) -> models.NetworkConfiguration | None:
    """pool.yaml's network keys as the pool's network configuration; ``None`` without any."""
    subnet = subnet_id(cfg)
    endpoints = _endpoints(cfg.pool.remote_access_control)
    if subnet is None and endpoints is None:
        return None
    ips = cfg.pool.public_ips
    public = models.BatchPublicIpAddressConfiguration(
        ip_address_provisioning_type="usermanaged", ip_address_ids=list(ips)) if ips else None
    return models.NetworkConfiguration(subnet_id=subnet, endpoint_configuration=endpoints,
                                       public_ip_address_configuration=public)
