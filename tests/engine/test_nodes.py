"""Real compute nodes: namespaces, bridge, per-node dockerd, launch and preload.

No mocks: these need root, the kernel's namespaces and a running host Docker daemon
(tests/engine/nodekit.py holds what the node tests share). The pool uses a high slot
(247) to stay clear of anything else on the machine; stopping nodes and sweeping them is
test_node_teardown.py's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from shipyard.engine.nodes import (
    kill_launched,
    launch,
    node_alive,
    node_docker,
    preload_image,
    procs,
    subnet_conflicts,
    subnet_for_slot,
)
from shipyard.engine.nodes.launching import node_python
from shipyard.errors import CapacityError, NodeError
from tests.engine.nodekit import (
    NEEDS_NODES,
    PATH,
    Pool,
    finish,
    host_image,
    root_dir,
    run_on,
    running_pool,
    start_on,
    task_paths,
    wait_for,
)

__all__ = ["host_image", "root_dir"]  # the fixtures, imported for pytest
pytestmark = NEEDS_NODES


@pytest.fixture(scope="module")
def pool(root_dir: Path) -> Iterator[Pool]:
    with running_pool(247, root_dir, 2) as p:
        yield p


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


def test_the_runner_needs_no_path_a_node_hides(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI may clone the project under /tmp, which every node replaces with its own.
    from shipyard.engine.nodes import launching

    monkeypatch.setattr(sys, "executable", "/tmp/somewhere/.venv/bin/python3")
    chosen = launching.node_python()
    assert not chosen.startswith(("/tmp/", "/run/", "/dev/shm/")), chosen
    assert "shipyard-node-runner" not in launching.RUNNER_SOURCE.splitlines()[0]
    assert "def supervise" in launching.RUNNER_SOURCE
