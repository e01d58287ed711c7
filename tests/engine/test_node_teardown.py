"""Real compute nodes going away: stop, the pool network's deletion, a node outliving a
killed engine, a start that times out, and the sweep of a forgotten node; after each,
nothing of the node may be left on the host (``nodekit.leftovers``).

Pools use slots 245-246 (test_nodes.py's pool has 247); another engine's node is faked
as ``shy244-9`` to prove the sweep leaves it alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.engine.nodes import (
    PoolNet,
    delete_pool_network,
    mark_bridge,
    node_alive,
    node_docker,
    preload_image,
    start_node,
    stop_node,
    subnet_for_slot,
    sweep,
)
from shipyard.errors import NodeError
from tests.engine.nodekit import (
    NEEDS_NODES,
    Node,
    Pool,
    host_image,
    leftovers,
    make_spec,
    netns_names,
    root_dir,
    run_on,
    start_on,
)

__all__ = ["host_image", "root_dir"]  # the fixtures, imported for pytest
pytestmark = NEEDS_NODES


def busy_node(pool: Pool, host_image: str) -> tuple[Node, int | None]:
    """Start a node and give it a container, a launched command and an escaped process."""
    node = pool.start(1)[0]
    assert preload_image(node.spec, host_image) == "loaded"
    client = node_docker(node.spec)
    try:
        client.containers.run(host_image, ["sleep", "300"], detach=True)
        client.containers.run(host_image, ["sleep", "300"], detach=True, network_mode="host")
    finally:
        client.close()
    start_on(node, ["/bin/sleep", "300"])
    start_on(node, ["/bin/sleep", "302"], home=node.spec.home)  # and its launch agent
    start_on(node, ["/usr/bin/setsid", "/bin/sleep", "301"])  # leaves the runner's group
    return node, os.stat(f"/var/run/netns/{node.spec.netns}").st_ino


def test_stop_node_and_delete_network_leave_nothing(root_dir: Path, host_image: str) -> None:
    pool = Pool(246, root_dir)
    try:
        node, inode = busy_node(pool, host_image)
        stop_node(node.spec, node.pid)
        stop_node(node.spec, node.pid)  # idempotent
        delete_pool_network(pool.net)
        delete_pool_network(pool.net)
        assert leftovers(node.spec, pool.net, inode) == []
    finally:
        pool.close()


def test_node_survives_the_engine_being_killed(root_dir: Path) -> None:
    pool = Pool(246, root_dir)
    spec = make_spec(pool.net, 0, root_dir)
    script = (
        "import sys, ipaddress; from pathlib import Path\n"
        "from shipyard.engine.nodes import NodeSpec, PoolNet, start_node\n"
        f"net = PoolNet({pool.net.slot}, ipaddress.IPv4Network('{pool.net.subnet}'))\n"
        f"spec = NodeSpec({spec.slot}, {spec.index}, {spec.node_id!r}, {spec.hostname!r},"
        f" ipaddress.IPv4Address('{spec.ip}'), Path({str(spec.home)!r}))\n"
        "print(start_node(spec, net), flush=True); sys.stdin.read()\n"
    )
    pid = None
    try:
        with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) as engine:
            assert engine.stdout is not None
            pid = int(engine.stdout.readline())
            engine.kill()  # SIGKILL: the engine gets no chance to clean anything up
            engine.wait(10)
        assert node_alive(spec, pid)
        assert run_on(Node(spec, pid), ["/bin/hostname"]).out == f"{spec.hostname}\n"
    finally:
        stop_node(spec, pid)
        pool.close()
    assert leftovers(spec, pool.net, None) == []


def test_start_timeout_cleans_up_and_shows_the_log(root_dir: Path) -> None:
    pool = Pool(246, root_dir)
    spec = make_spec(pool.net, 5, root_dir)
    try:
        with pytest.raises(NodeError, match="did not answer within 0s") as info:
            start_node(spec, pool.net, timeout=0)
        assert f"{spec.home}/dockerd.log" in str(info.value)
        assert leftovers(spec, None, None) == []
    finally:
        pool.close()


def test_a_home_the_node_would_hide_is_refused(root_dir: Path) -> None:
    net = PoolNet(246, subnet_for_slot(246))
    spec = make_spec(net, 0, Path("/tmp/shyt"))
    with pytest.raises(NodeError, match="under /tmp"):
        start_node(spec, net)
    assert not Path("/tmp/shyt").exists()


def test_sweep_reclaims_a_forgotten_node(root_dir: Path, host_image: str) -> None:
    # Whatever else lives on this machine (other pools, other sessions) is "known": the
    # sweep may only take what this test forgot.
    known_netns = netns_names()
    known_slots = {int(n[5:]) for n in os.listdir("/sys/class/net")
                   if n.startswith("shybr") and n[5:].isdigit()}
    data_dir = root_dir / "sweep"
    pool = Pool(245, data_dir)
    # Another engine's node on the same machine: named like ours, home elsewhere.
    subprocess.run(["ip", "netns", "add", "shy244-9"], check=True)
    try:
        mark_bridge(data_dir, 245, present=True)
        node, inode = busy_node(pool, host_image)
        removed = sweep(known_netns, known_slots - {245}, data_dir)
        assert any(node.spec.netns in r for r in removed), removed
        assert any(pool.net.bridge in r for r in removed), removed
        assert leftovers(node.spec, pool.net, inode) == []
        assert "shy244-9" in netns_names(), "the sweep took another engine's node"
        assert sweep(known_netns, known_slots - {245}, data_dir) == []
    finally:
        subprocess.run(["ip", "netns", "delete", "shy244-9"], check=False)
        pool.close()
