"""Pool networks: one host bridge per pool, and the one firewall rule it needs.

Docker sets the FORWARD policy to DROP and, with ``bridge-nf-call-iptables=1`` (which
Docker turns on globally and a per-bridge flag cannot turn off), frames bridged between two
nodes traverse iptables FORWARD. So each pool gets exactly one rule,
``-i <br> -o <br> -j ACCEPT``, in DOCKER-USER (the chain Docker reserves for users and jumps
to first). Host<->node traffic is local delivery (INPUT/OUTPUT) and needs nothing. No
NAT and no default route: node traffic stays between the bridge and the nodes.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re

import docker
import docker.errors
import requests

from shipyard.engine.nodes import host
from shipyard.engine.nodes.model import BRIDGE_RE, PoolNet
from shipyard.errors import CommandError

log = logging.getLogger(__name__)

#: Chains our accept rule may live in: DOCKER-USER when Docker manages the firewall,
#: FORWARD itself on a host where Docker never created its chains.
RULE_CHAINS = ("DOCKER-USER", "FORWARD")

_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "blackhole",
                "unreachable", "prohibit", "throw", "nat"}


def accept_rule(bridge: str) -> list[str]:
    """The rule body (after ``-A <chain>``) that lets nodes of one bridge talk."""
    return ["-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def _chain_exists(chain: str) -> bool:
    return host.succeeds(["iptables", "-w", "-S", chain])


def create_pool_network(net: PoolNet) -> None:
    """Bring up the pool bridge with the gateway address and allow bridged traffic.

    Idempotent: an existing bridge, address or rule is left as it is.
    """
    br = net.bridge
    if not host.link_exists(br):
        host.run(["ip", "link", "add", br, "type", "bridge"])
    cidr = f"{net.gateway}/{net.subnet.prefixlen}"
    if cidr not in host.run(["ip", "-4", "-o", "addr", "show", "dev", br]).split():
        host.run(["ip", "addr", "add", cidr, "dev", br])
    # IPv6 on the bridge only adds link-local chatter; nodes speak IPv4 on the subnet.
    _write_sysctl(f"/proc/sys/net/ipv6/conf/{br}/disable_ipv6", "1")
    host.run(["ip", "link", "set", br, "up"])
    chain = "DOCKER-USER" if _chain_exists("DOCKER-USER") else "FORWARD"
    if not host.succeeds(["iptables", "-w", "-C", chain, *accept_rule(br)]):
        host.run(["iptables", "-w", "-I", chain, *accept_rule(br)])


def claim_bridge(net: PoolNet) -> bool:
    """Create the pool's bridge; False if it exists already.

    Creating the bridge is how an engine takes a slot: it is atomic, so two engines on one
    machine that both found the slot free cannot both take it (their nodes would share
    addresses on one bridge).
    """
    try:
        host.run(["ip", "link", "add", net.bridge, "type", "bridge"])
    except CommandError:
        if host.link_exists(net.bridge):
            return False
        raise
    return True


def delete_pool_network(net: PoolNet) -> None:
    """Remove the bridge and exactly the rules ``create_pool_network`` added; idempotent."""
    delete_bridge_rules(net.bridge)
    if host.link_exists(net.bridge):
        host.run(["ip", "link", "del", net.bridge])


def delete_bridge_rules(bridge: str) -> None:
    """Delete every copy of our accept rule for ``bridge``, and nothing else."""
    for chain in RULE_CHAINS:
        # -C matches the exact rule, so other rules naming the bridge stay untouched.
        while _chain_exists(chain) and host.succeeds(
            ["iptables", "-w", "-C", chain, *accept_rule(bridge)]
        ):
            host.run(["iptables", "-w", "-D", chain, *accept_rule(bridge)])


def bridges_with_rules() -> set[str]:
    """Bridges named like ours that have an accept rule in one of our chains."""
    found: set[str] = set()
    for chain in RULE_CHAINS:
        if not _chain_exists(chain):
            continue
        for line in host.run(["iptables", "-w", "-S", chain]).splitlines():
            m = re.fullmatch(rf"-A {chain} -i (\S+) -o (\S+) -j ACCEPT", line.strip())
            if m and m[1] == m[2] and BRIDGE_RE.match(m[1]):
                found.add(m[1])
    return found


def subnet_conflicts(subnet: ipaddress.IPv4Network) -> str | None:
    """Why ``subnet`` cannot be used for a pool, or None if it is free.

    It must not overlap a host route (other than the default route and the route of our own
    bridge for exactly this subnet), a network of the host's Docker daemon, or a NAT rule.
    """
    for check in (_route_conflict, _docker_conflict, _nat_conflict):
        reason = check(subnet)
        if reason:
            return reason
    return None


def _route_conflict(subnet: ipaddress.IPv4Network) -> str | None:
    out = host.run(["ip", "-4", "-o", "route", "show", "table", "all"])
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        dest = ipaddress.IPv4Network(words[0], strict=False)
        dev = words[words.index("dev") + 1] if "dev" in words else ""
        # Our own bridge for this very subnet is not a conflict: creation is idempotent.
        if BRIDGE_RE.match(dev) and dest.subnet_of(subnet):
            continue
        if dest.overlaps(subnet):
            return f"{subnet} overlaps host route '{line.strip()}'"
    return None


def _docker_conflict(subnet: ipaddress.IPv4Network) -> str | None:
    try:
        client = docker.from_env(timeout=20)
        try:
            networks = client.networks.list()
        finally:
            client.close()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        # Docker networks also show up as host routes once created, so this is not blind.
        log.warning("cannot list the host's docker networks: %s", exc)
        return None
    for network in networks:
        for conf in (network.attrs.get("IPAM") or {}).get("Config") or []:
            text = conf.get("Subnet", "")
            if ":" in text or not text:
                continue
            if ipaddress.IPv4Network(text, strict=False).overlaps(subnet):
                return f"{subnet} overlaps docker network '{network.name}' ({text})"
    return None


def _nat_conflict(subnet: ipaddress.IPv4Network) -> str | None:
    try:
        out = host.run(["iptables", "-w", "-t", "nat", "-S"])
    except CommandError as exc:
        log.warning("cannot read the nat table: %s", exc)
        return None
    for line in out.splitlines():
        words = line.split()
        for flag, value in itertools.pairwise(words):
            if flag not in ("-s", "-d", "--to-destination", "--to-source"):
                continue
            try:
                net = ipaddress.IPv4Network(value.split(":")[0], strict=False)
            except ValueError:
                continue
            if net.overlaps(subnet):
                return f"{subnet} overlaps nat rule '{line.strip()}'"
    return None


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        # Cosmetic only (e.g. IPv6 disabled on the kernel): never fail a pool for it.
        log.debug("cannot write %s: %s", path, exc)


def slot_in_use(slot: int) -> str | None:
    """Why ``slot`` is taken on this machine (by any engine), or None if it is free.

    A subnet check alone misses another engine's pool whose bridge is gone but whose node
    namespaces remain; their names would collide with ours.
    """
    links = set(os.listdir("/sys/class/net"))
    if f"shybr{slot}" in links:
        return f"bridge shybr{slot} exists"
    try:
        spaces = os.listdir("/var/run/netns")
    except FileNotFoundError:
        spaces = []
    taken = [n for n in spaces if n.startswith(f"shy{slot}-")]
    taken += [n for n in links if n.startswith(f"shyv{slot}-")]
    return f"{taken[0]} exists" if taken else None
