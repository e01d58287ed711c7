"""Value objects naming a pool's network and a node's kernel objects and files.

All names of things the node runtime creates on the host are derived here, in one place,
so that creating, deleting and sweeping agree on them::

    net = PoolNet(slot=7, subnet=subnet_for_slot(7))      # 10.213.7.0/24, bridge shybr7
    spec = NodeSpec(slot=7, index=0, node_id="tvm-1", hostname="tvm-1",
                    ip=net.subnet.network_address + 4, home=Path("/var/lib/shy/n/7-0"))
    spec.netns, spec.veth                                 # "shy7-0", "shyv7-0"
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import CapacityError

DEFAULT_BASE = ipaddress.IPv4Network("10.213.0.0/16")
MAX_SLOT = 250

#: Names the runtime creates; sweep() trusts only names matching these.
NETNS_RE = re.compile(r"^shy(\d+)-(\d+)$")
VETH_RE = re.compile(r"^shyv(\d+)-(\d+)$")
BRIDGE_RE = re.compile(r"^shybr(\d+)$")


@dataclass(frozen=True)
class PoolNet:
    """One pool's private layer-2 network: a host bridge holding the gateway address."""

    slot: int
    subnet: ipaddress.IPv4Network

    @property
    def bridge(self) -> str:
        return f"shybr{self.slot}"

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1


@dataclass(frozen=True)
class NodeSpec:
    """One compute node: its identity, address and host directory."""

    slot: int
    index: int
    node_id: str
    hostname: str
    ip: ipaddress.IPv4Address
    home: Path
    #: More host directories the node sees, each at a path inside it (mounted after the
    #: node's own ``/mnt/batch``, so one may lie below it). They belong to the caller:
    #: stopping the node leaves them as they are.
    binds: tuple[tuple[Path, str], ...] = ()

    @property
    def netns(self) -> str:
        return f"shy{self.slot}-{self.index}"

    @property
    def veth(self) -> str:
        return f"shyv{self.slot}-{self.index}"

    @property
    def mac(self) -> str:
        """The node's eth0 address: locally administered, derived from its IP."""
        return "02:53:" + ":".join(f"{octet:02x}" for octet in self.ip.packed)

    @property
    def batch_dir(self) -> Path:
        return self.home / "batch"

    @property
    def docker_sock(self) -> Path:
        return self.home / "docker.sock"

    @property
    def log_file(self) -> Path:
        return self.home / "dockerd.log"


def subnet_for_slot(
    slot: int, base: ipaddress.IPv4Network = DEFAULT_BASE
) -> ipaddress.IPv4Network:
    """The /24 of pool ``slot`` inside ``base`` (slot 7 of 10.213.0.0/16 is 10.213.7.0/24)."""
    room = 2 ** max(0, 24 - base.prefixlen)
    if not 1 <= slot <= min(MAX_SLOT, room - 1):
        raise CapacityError(
            f"pool slot {slot} is outside 1..{min(MAX_SLOT, room - 1)} of {base}",
            hint="delete unused pools to free a slot",
        )
    return ipaddress.IPv4Network((int(base.network_address) + (slot << 8), 24))
