"""What the real-node tests share: pools of started nodes, launching on them, a host image,
and the check that a stopped node left nothing on the host.

No mocks: these need root, the kernel's namespaces and a running host Docker daemon
(``NEEDS_NODES`` is the modules' ``pytestmark``). Every node and network is removed in a
finally/fixture even when an assertion fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
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
    launch,
    procs,
    read_exit,
    start_node,
    stop_node,
    subnet_for_slot,
)

NEEDS_NODES = [
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
