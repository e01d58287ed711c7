"""pool.yaml's Azure resource ids and network keys: ``virtual_network``, ``public_ips``,
``remote_access_control``, and the ARM id forms they (and ``custom_image``) use.

The forms are the ones the Batch API documents for ``subnetId``, ``ipAddressIds`` and
``virtualMachineImageId``; checking them here turns a 400 from the service into a line
that names the key. Whether a setting can work where the credentials point (the local
engine has no virtual networks) is checked across files (``crosscheck``).

Batch's limits on inbound NAT pools, checked here: a frontend range lies in 1-65534 and
outside 50000-55000 (reserved by Batch); at most 25 network security group rules per pool;
a rule's source is an IP address, a CIDR prefix, a service tag or ``*``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BeforeValidator, model_validator

from shipyard.config.base import Model, problem, shown

_GROUP = r"/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}" \
         r"/resourceGroups/[^/]+/providers/"
_SUBNET_ID = re.compile(_GROUP + r"Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+",
                        re.IGNORECASE)
_PUBLIC_IP_ID = re.compile(_GROUP + r"Microsoft\.Network/publicIPAddresses/[^/]+",
                           re.IGNORECASE)
# An Azure Compute Gallery image (its latest version, or one version) or a managed image.
_IMAGE_ID = re.compile(
    _GROUP + r"Microsoft\.Compute/(?:galleries/[^/]+/images/[^/]+(?:/versions/[^/]+)?"
             r"|images/[^/]+)", re.IGNORECASE)
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9.]*")

#: Frontend ports Batch keeps for itself.
RESERVED_PORTS = range(50000, 55001)
#: Batch Shipyard maps each node's remote access port from a block of this many ports.
PORT_BLOCK = 1000
#: Batch's limit on network security group rules across a pool's endpoints.
MAX_RULES = 25

_SUB = "{subscription}/resourceGroups/{group}/providers"
SUBNET_FORM = f"/subscriptions/{_SUB}/Microsoft.Network/virtualNetworks/{{vnet}}/subnets/{{subnet}}"
PUBLIC_IP_FORM = f"/subscriptions/{_SUB}/Microsoft.Network/publicIPAddresses/{{name}}"
IMAGE_FORM = (f"/subscriptions/{_SUB}/Microsoft.Compute/galleries/{{gallery}}/images/{{image}}"
              "[/versions/{version}]")


def _arm_id(pattern: re.Pattern[str], form: str, what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise problem(f"must be the resource id of {what}, {form} (got {shown(value)})")
        return value
    return BeforeValidator(check)


#: A virtual network subnet's resource id.
SubnetId = Annotated[str, _arm_id(_SUBNET_ID, SUBNET_FORM, "a virtual network subnet")]
#: A public IP address's resource id.
PublicIpId = Annotated[str, _arm_id(_PUBLIC_IP_ID, PUBLIC_IP_FORM, "a public IP address")]
#: An Azure Compute Gallery image (version) or a managed image.
ImageId = Annotated[str, _arm_id(_IMAGE_ID, IMAGE_FORM,
                                 "an Azure Compute Gallery image or a managed image")]


class Subnet(Model):
    """The subnet of a virtual network named by ``name``."""

    name: str
    address_prefix: str | None = None


class VirtualNetwork(Model):
    """``virtual_network``: the subnet the pool's nodes join, by id or by name.

    By name, Batch Shipyard looks the network up (and creates it with
    ``create_nonexistant``) through Azure Resource Manager; shipyard has no management
    client, so a by-name network must exist and its id is written out from
    ``credentials.management.subscription_id``, ``resource_group`` (else the Batch
    account's) and the names. ``address_space`` and ``subnet.address_prefix`` only matter
    when creating.
    """

    arm_subnet_id: SubnetId | None = None
    name: str | None = None
    resource_group: str | None = None
    create_nonexistant: bool = False
    address_space: str | None = None
    subnet: Subnet | None = None

    @model_validator(mode="after")
    def _id_or_name(self) -> VirtualNetwork:
        if self.arm_subnet_id is not None and self.name is not None:
            raise problem("set only one of arm_subnet_id and name", "name")
        if self.arm_subnet_id is None and self.name is None:
            raise problem("needs arm_subnet_id (or name and subnet.name)", "arm_subnet_id")
        if self.name is not None and self.subnet is None:
            raise problem(f"required with virtual_network.name ({self.name!r})", "subnet")
        return self


def _source_prefix(value: object) -> object:
    if not isinstance(value, str) or value == "*" or _TAG.fullmatch(value):
        return value
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise problem("must be an IP address, a CIDR prefix such as 10.0.0.0/24, a service "
                      f"tag or '*' (got {shown(value)})") from None
    return value


#: A network security group rule's source: an address, a prefix, a service tag or ``*``.
SourcePrefix = Annotated[str, BeforeValidator(_source_prefix)]


class RemoteAccessControl(Model):
    """``remote_access_control``: who may reach the nodes' SSH port, through Batch's NAT.

    Each node's port 22 is reachable at one port of ``starting_port`` to
    ``starting_port + 999`` on the pool's load balancer. Rules go to the service only when
    ``allow`` or ``deny`` is set: allow rules first, from priority 150 up, then deny rules.
    """

    starting_port: int = 49000
    allow: tuple[SourcePrefix, ...] = ()
    deny: tuple[SourcePrefix, ...] = ()

    @model_validator(mode="after")
    def _within_limits(self) -> RemoteAccessControl:
        first, last = self.starting_port, self.starting_port + PORT_BLOCK - 1
        if first < 1 or last > 65534 or (first <= RESERVED_PORTS[-1]
                                         and last >= RESERVED_PORTS[0]):
            raise problem(f"{first} to {last} (the {PORT_BLOCK} ports it starts) must lie "
                          "within 1-65534 and outside 50000-55000, which Batch reserves",
                          "starting_port")
        if len(self.allow) + len(self.deny) > MAX_RULES:
            raise problem(f"at most {MAX_RULES} allow and deny rules in all (Batch's limit; "
                          f"got {len(self.allow) + len(self.deny)})", "deny")
        return self

    @property
    def has_rules(self) -> bool:
        return bool(self.allow or self.deny)


#: ``public_ips``: pre-made public IP addresses for the nodes; an empty value means none.
PublicIps = Annotated[tuple[PublicIpId, ...], BeforeValidator(lambda v: () if v is None else v)]
