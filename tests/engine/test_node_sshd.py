"""A node's own sshd on real namespaces: up with the node, kept over a halt and a start
(same host key, same MAC), reachable even where the host remembers a stale MAC for the
node's address, and gone with the node."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.engine.nodes import (
    NodeSpec,
    PoolNet,
    create_pool_network,
    delete_pool_network,
    halt_node,
    procs,
    sshd,
    start_node,
    stop_node,
    subnet_for_slot,
)

SLOT = 246


@pytest.fixture
def net() -> Iterator[PoolNet]:
    pool = PoolNet(SLOT, subnet_for_slot(SLOT))
    create_pool_network(pool)
    try:
        yield pool
    finally:
        delete_pool_network(pool)


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under /tmp: a node replaces /tmp with its own, and dockerd must see its home.
    path = Path(tempfile.mkdtemp(prefix="shyt-", dir="/var/tmp"))
    try:
        yield path / f"{SLOT}-0"
    finally:
        shutil.rmtree(path, ignore_errors=True)


def eth0_mac(spec: NodeSpec) -> str:
    out = subprocess.run(["ip", "-n", spec.netns, "-o", "link", "show", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    return out.split("link/ether ")[1].split()[0]


def test_sshd_lives_and_dies_with_its_node(net: PoolNet, home: Path) -> None:
    spec = NodeSpec(slot=SLOT, index=0, node_id="tvm-sshd", hostname="nodesshd",
                    ip=net.subnet.network_address + 4, home=home)
    # What an earlier node at this address leaves in the host's neighbour cache. (A fixed
    # bridge MAC: when it follows its ports, a new port's MAC change flushes the cache.)
    subprocess.run(["ip", "link", "set", net.bridge, "address", "02:00:00:00:00:fe"],
                   check=True)
    subprocess.run(["ip", "neigh", "replace", str(spec.ip), "lladdr", "02:00:00:00:00:01",
                    "dev", net.bridge, "nud", "reachable"], check=True)
    pid = start_node(spec, net, timeout=60)
    try:
        first = sshd.find(spec)
        assert first is not None and sshd.greets(spec)
        assert eth0_mac(spec) == spec.mac
        host_key = (sshd.ssh_dir(spec) / "ssh_host_ed25519_key.pub").read_text()
        halt_node(spec, pid)
        assert procs.gone(first) and sshd.find(spec) is None and not sshd.greets(spec)
        pid = start_node(spec, net, timeout=60)
        again = sshd.find(spec)
        assert again is not None and again != first and sshd.greets(spec)
        # The disk survived: same host key; and the same MAC for the same address.
        assert (sshd.ssh_dir(spec) / "ssh_host_ed25519_key.pub").read_text() == host_key
        assert eth0_mac(spec) == spec.mac
    finally:
        stop_node(spec, pid)
    assert sshd.find(spec) is None and not home.exists()
