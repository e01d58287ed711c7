"""Real compute nodes: namespaces, bridge, per-node dockerd, launch, preload, stop, sweep.

No mocks: these need root, the kernel's namespaces and a running host Docker daemon. Pools
use high slots (245-247) to stay clear of anything else on the machine; every node and
network is removed in a finally/fixture even when an assertion fails.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from shipyard.engine.nodes import (
    NodeSpec,
    PoolNet,
    create_pool_network,
    delete_pool_network,
    kill_launched,
    launch,
    mark_bridge,
    node_alive,
    node_docker,
    preload_image,
    procs,
    read_exit,
    start_node,
    stop_node,
    subnet_conflicts,
    subnet_for_slot,
    sweep,
)
from shipyard.engine.nodes.launching import node_python
from shipyard.errors import CapacityError, NodeError

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0
        or shutil.which("dockerd") is None
        or not Path("/var/run/docker.sock").exists(),
        reason="needs root, dockerd and a running host Docker daemon",
    ),
]

TEST_IMAGE = "shipyard-test/busybox:nodes"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Node:
    spec: NodeSpec
    pid: int


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``cond`` until truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def make_spec(net: PoolNet, index: int, root: Path) -> NodeSpec:
    return NodeSpec(
        slot=net.slot, index=index, node_id=f"tvm-{net.slot}-{index}",
        hostname=f"node{net.slot}x{index}", ip=net.subnet.network_address + 4 + index,
        home=root / f"{net.slot}-{index}",
    )


def make_batch_dirs(spec: NodeSpec) -> None:
    for sub in ("startup", "shared", "workitems"):
        (spec.batch_dir / "tasks" / sub).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def root_dir() -> Iterator[Path]:
    # Not under /tmp: a node replaces /tmp with its own, and dockerd must see its home.
    path = Path(tempfile.mkdtemp(prefix="shyt-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Pool:
    """A pool network with nodes, torn down in one place."""

    def __init__(self, slot: int, root: Path) -> None:
        self.net = PoolNet(slot, subnet_for_slot(slot))
        self.root = root
        self.nodes: list[Node] = []
        create_pool_network(self.net)

    def start(self, count: int) -> list[Node]:
        specs = [make_spec(self.net, len(self.nodes) + i, self.root) for i in range(count)]
        with ThreadPoolExecutor(max_workers=count) as ex:
            futures = [ex.submit(start_node, spec, self.net) for spec in specs]
            for spec, fut in zip(specs, futures, strict=True):
                self.nodes.append(Node(spec, fut.result()))
                make_batch_dirs(spec)
        return self.nodes[-count:]

    def close(self) -> None:
        errors = []
        for node in self.nodes:
            try:
                stop_node(node.spec, node.pid)
            except Exception as exc:  # keep tearing down the rest
                errors.append(exc)
        delete_pool_network(self.net)
        assert not errors, errors


@contextlib.contextmanager
def running_pool(slot: int, root: Path, count: int) -> Iterator[Pool]:
    """A pool of ``count`` started nodes on ``slot``, always closed again."""
    p = Pool(slot, root)
    try:
        p.start(count)
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def pool(root_dir: Path) -> Iterator[Pool]:
    with running_pool(247, root_dir, 2) as p:
        yield p


@dataclass
class Result:
    code: int
    out: str
    err: str


def task_paths(spec: NodeSpec) -> tuple[str, Path]:
    """A fresh task dir: its path on the node and on the host."""
    name = uuid.uuid4().hex[:8]
    host_dir = spec.batch_dir / "tasks" / "workitems" / name
    host_dir.mkdir(parents=True)
    return f"/mnt/batch/tasks/workitems/{name}", host_dir


def start_on(node: Node, argv: list[str], env: dict[str, str] | None = None,
             home: Path | None = None) -> tuple[int, Path]:
    """Launch on ``node``: directly, or through the node's launch agent in ``home``."""
    node_dir, host_dir = task_paths(node.spec)
    pid = launch(node.pid, argv, env if env is not None else {"PATH": PATH}, Path(node_dir),
                 Path(node_dir, "stdout.txt"), Path(node_dir, "stderr.txt"),
                 Path(node_dir, "exit"), home=home)
    return pid, host_dir


def finish(host_dir: Path, timeout: float = 30) -> Result:
    wait_for(lambda: read_exit(host_dir / "exit") is not None, timeout, f"exit file in {host_dir}")
    code = read_exit(host_dir / "exit")
    assert code is not None
    out, err = ((host_dir / name).read_text() for name in ("stdout.txt", "stderr.txt"))
    return Result(code, out, err)


def run_on(node: Node, argv: list[str], env: dict[str, str] | None = None) -> Result:
    return finish(start_on(node, argv, env)[1])


# --- pure parts ------------------------------------------------------------------------


def test_subnet_for_slot() -> None:
    assert subnet_for_slot(7) == ipaddress.IPv4Network("10.213.7.0/24")
    assert subnet_for_slot(3, ipaddress.IPv4Network("10.50.0.0/16")) == ipaddress.IPv4Network(
        "10.50.3.0/24")
    for bad in (0, 251):
        with pytest.raises(CapacityError):
            subnet_for_slot(bad)


def test_subnet_conflicts_sees_docker0_and_passes_free_subnet() -> None:
    docker0 = docker.from_env().networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    reason = subnet_conflicts(ipaddress.IPv4Network(docker0))
    assert reason is not None and docker0 in reason
    assert subnet_conflicts(subnet_for_slot(244)) is None


# --- a running pool of two nodes -------------------------------------------------------


def test_identity_from_a_launched_process(pool: Pool) -> None:
    for node in pool.nodes:
        res = run_on(node, ["/bin/sh", "-c", "hostname; hostname -I"])
        assert res.code == 0, res.err
        assert res.out.split() == [node.spec.hostname, str(node.spec.ip)]
        assert node_alive(node.spec, node.pid)


def test_node_to_node_and_host_to_node_tcp(pool: Pool) -> None:
    server, client = pool.nodes
    ready = server.spec.batch_dir / "tasks" / "shared" / "ready"
    listener = (
        "import socket,sys\n"
        f"s = socket.create_server(('{server.spec.ip}', 5555))\n"
        "open('/mnt/batch/tasks/shared/ready', 'w').close()\n"
        "for _ in range(2):\n"
        "    c, addr = s.accept(); print(addr[0], c.recv(100).decode(), flush=True); c.close()\n"
    )
    _, server_dir = start_on(server, [node_python(), "-I", "-c", listener])
    wait_for(ready.exists, 20, "the listener on node 1")
    talk = f"import socket; socket.create_connection(('{server.spec.ip}', 5555), 5).send(b'hi')"
    assert run_on(client, [node_python(), "-I", "-c", talk]).code == 0
    # From the host: the bridge's gateway address reaches the node too.
    with socket.create_connection((str(server.spec.ip), 5555), 5) as conn:
        conn.send(b"host")
    res = finish(server_dir)
    assert res.code == 0, res.err
    assert res.out.split("\n")[:2] == [f"{client.spec.ip} hi", f"{pool.net.gateway} host"]


def test_node_daemon_is_its_own(pool: Pool) -> None:
    node = pool.nodes[0]
    host_id = docker.from_env().info()["ID"]
    client = node_docker(node.spec)
    try:
        info = client.info()
    finally:
        client.close()
    assert info["ID"] != host_id
    assert info["DockerRootDir"] == str(node.spec.home / "docker")
    # A plain `docker` on the node reaches the node's daemon through /var/run/docker.sock.
    res = run_on(node, ["docker", "info", "--format", "{{.ID}} {{.DockerRootDir}}"])
    assert res.code == 0, res.err
    assert res.out.split() == [info["ID"], str(node.spec.home / "docker")]


def test_batch_dir_and_tmp_are_the_nodes_own(pool: Pool) -> None:
    a, b = pool.nodes
    marker = f"m-{uuid.uuid4().hex[:8]}"
    (a.spec.batch_dir / "tasks" / "shared" / marker).write_text("from host")
    script = f"cat /mnt/batch/tasks/shared/{marker}; echo x > /tmp/{marker}"
    res = run_on(a, ["/bin/sh", "-c", script])
    assert (res.code, res.out) == (0, "from host"), res.err
    assert (a.spec.home / "tmp" / marker).read_text() == "x\n"
    assert not Path("/tmp", marker).exists()
    assert run_on(b, ["/bin/test", "-e", f"/tmp/{marker}"]).code == 1
    assert run_on(b, ["/bin/test", "-e", f"/mnt/batch/tasks/shared/{marker}"]).code == 1


def test_a_later_node_holds_no_copies_of_other_namespaces(pool: Pool) -> None:
    # Nodes 0 and 1 exist, so /run/netns on the host holds their nsfs mounts right now.
    node = pool.start(1)[0]
    mountinfo = Path(f"/proc/{node.pid}/mountinfo").read_text().splitlines()
    assert [m for m in mountinfo if " - nsfs " in m] == []
    assert [m for m in mountinfo if " /var/lib/docker/" in m] == []
    assert run_on(node, ["/usr/bin/test", "-S", "/var/run/docker.sock"]).code == 0


@pytest.mark.parametrize(
    ("argv", "code", "err_part"),
    [
        (["/bin/true"], 0, ""),
        (["/bin/sh", "-c", "echo oops >&2; exit 3"], 3, "oops"),
        (["no-such-command-xyz", "arg"], 127, "no-such-command-xyz"),
        (["/bin/sh", "-c", "kill -KILL $$"], 137, ""),
    ],
)
def test_exit_codes(pool: Pool, argv: list[str], code: int, err_part: str) -> None:
    res = run_on(pool.nodes[0], argv)
    assert res.code == code
    assert err_part in res.err


def test_env_reaches_the_process_exactly(pool: Pool) -> None:
    env = {"PATH": PATH, "TRICKY": "a b \"c\" 'd' $HOME `x` \\ e\nsecond line", "EMPTY": ""}
    res = run_on(pool.nodes[1], ["/usr/bin/env", "-0"], env)
    got = dict(item.split("=", 1) for item in res.out.split("\0") if item)
    assert got == env


def test_cwd_is_the_given_node_path(pool: Pool) -> None:
    node = pool.nodes[0]
    res = run_on(node, ["/bin/pwd"])
    assert res.out.startswith("/mnt/batch/tasks/workitems/")


def test_launched_command_survives_its_launcher_being_killed(pool: Pool) -> None:
    node = pool.nodes[0]
    node_dir, host_dir = task_paths(node.spec)
    waiter = f"while [ ! -e {node_dir}/go ]; do sleep 0.05; done; echo survived"
    script = (
        "import sys; from pathlib import Path; from shipyard.engine.nodes import launch\n"
        f"d = Path({node_dir!r})\n"
        f"pid = launch({node.pid}, ['/bin/sh', '-c', {waiter!r}], {{'PATH': {PATH!r}}}, d,"
        " d / 'stdout.txt', d / 'stderr.txt', d / 'exit')\n"
        "print(pid, flush=True); sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as launcher:
        assert launcher.stdout is not None
        supervisor = int(launcher.stdout.readline())
        launcher.kill()
        launcher.wait(10)
    assert not procs.gone(supervisor)
    (host_dir / "go").touch()
    res = finish(host_dir)
    assert (res.code, res.out) == (0, "survived\n")


def test_kill_launched_ends_the_group_and_records_the_signal(pool: Pool) -> None:
    node = pool.nodes[1]
    pid, host_dir = start_on(node, ["/bin/sh", "-c", "sleep 300 & sleep 300; wait"])
    wait_for(lambda: len([p for p in procs.all_procs() if p.pgrp == pid]) >= 3, 10,
             "the command and its background child")
    kill_launched(pid, grace=5)
    assert finish(host_dir, timeout=5).code == 128 + signal.SIGTERM
    assert not [p for p in procs.all_procs() if p.pgrp == pid and p.state != "Z"]
    kill_launched(pid)  # idempotent


def test_launch_on_a_gone_node_is_a_node_error(pool: Pool) -> None:
    gone = subprocess.Popen(["/bin/true"])
    gone.wait()
    with pytest.raises(NodeError, match="not running"):
        launch(gone.pid, ["/bin/true"], {}, Path("/"), Path("/dev/null"), Path("/dev/null"),
               Path("/dev/null"))


# --- images ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_image() -> Iterator[str]:
    """A tiny image built on the host daemon from busybox-static, no registry involved."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox-static on the host (apt-get install -y busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "hostname"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    client = docker.from_env()
    repo, tag = TEST_IMAGE.split(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
    try:
        yield TEST_IMAGE
    finally:
        client.images.remove(TEST_IMAGE, force=True)
        client.close()


def test_preload_loads_from_the_host_then_is_present(pool: Pool, host_image: str) -> None:
    node = pool.nodes[0]
    started = time.monotonic()
    assert preload_image(node.spec, host_image) == "loaded"
    print(f"preload of {host_image}: {time.monotonic() - started:.2f}s")
    assert preload_image(node.spec, host_image) == "present"
    client = node_docker(node.spec)
    try:
        out = client.containers.run(host_image, ["hostname"], network_mode="host", remove=True)
    finally:
        client.close()
    # A --net=host container on the node daemon gets the node's UTS and network.
    assert out.decode().strip() == node.spec.hostname


def test_preload_through_the_cache_saves_once_for_every_node(
        pool: Pool, host_image: str) -> None:
    cache = Path(tempfile.mkdtemp(prefix="shyimg-", dir="/var/tmp"))
    for node in pool.nodes:
        client = node_docker(node.spec)
        try:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(host_image, force=True)
        finally:
            client.close()
    try:
        with ThreadPoolExecutor(max_workers=len(pool.nodes)) as workers:
            results = list(workers.map(
                lambda node: preload_image(node.spec, host_image, cache=cache), pool.nodes))
        assert results == ["loaded"] * len(pool.nodes)
        archives = list(cache.glob("*.tar"))
        assert len(archives) == 1, archives
        assert not list(cache.glob("*.partial"))
        for node in pool.nodes:
            assert preload_image(node.spec, host_image, cache=cache) == "present"
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_preload_of_an_image_nowhere_says_why(pool: Pool) -> None:
    with pytest.raises(NodeError) as info:
        preload_image(pool.nodes[1].spec, "shipyard-test/absent:nope", timeout=30)
    text = str(info.value)
    assert "shipyard-test/absent:nope" in text and "pull failed" in text
    assert "host" in text and pool.nodes[1].spec.node_id in text


# --- teardown and sweep ----------------------------------------------------------------


def netns_names() -> set[str]:
    return {line.split()[0] for line in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.splitlines()}


def leftovers(spec: NodeSpec, net: PoolNet | None, netns_inode: int | None) -> list[str]:
    """Everything of node ``spec`` (and pool ``net``) still on the host, described."""
    found = []
    if spec.netns in netns_names():
        found.append(f"netns {spec.netns}")
    for link in [spec.veth] + ([net.bridge] if net else []):
        if Path("/sys/class/net", link).exists():
            found.append(f"link {link}")
    if net is not None:
        rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
        found += [f"rule {r}" for r in rules.splitlines() if net.bridge in r.split()]
    for p in procs.all_procs():
        if str(spec.home) in " ".join(procs.cmdline(p.pid)):
            found.append(f"process {p.pid} {procs.cmdline(p.pid)}")
        elif netns_inode is not None and procs.ns_inode(p.pid, "net") == netns_inode:
            found.append(f"process {p.pid} in the node netns")
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if str(spec.home) in line]
    if spec.home.exists():
        found.append(f"dir {spec.home}")
    return found


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


def test_the_runner_needs_no_path_a_node_hides(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI may clone the project under /tmp, which every node replaces with its own.
    from shipyard.engine.nodes import launching

    monkeypatch.setattr(sys, "executable", "/tmp/somewhere/.venv/bin/python3")
    chosen = launching.node_python()
    assert not chosen.startswith(("/tmp/", "/run/", "/dev/shm/")), chosen
    assert "shipyard-node-runner" not in launching.RUNNER_SOURCE.splitlines()[0]
    assert "def supervise" in launching.RUNNER_SOURCE
