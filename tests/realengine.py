"""Helpers for tests that drive a real engine through the azure-batch SDK over real HTTP.

Polling with bounded timeouts (``wait_for``), pool bodies and waits, and the machine-wide
check that an engine left nothing behind. The session fixtures built on these live in
tests/engine_fixtures.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shipyard.engine import control

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
IMAGE = "debian:bookworm-slim"
GREETING = "it's \"quoted\" $HOME, with  two spaces"
IDENTITY_COMMAND = (
    "/bin/bash -c 'docker run --rm --net=host " + IMAGE +
    " sh -c \"hostname; hostname -I\" > $AZ_BATCH_NODE_SHARED_DIR/identity.txt "
    "&& printf %s \"$GREETING\" > $AZ_BATCH_NODE_SHARED_DIR/greeting.txt "
    "&& cat $AZ_BATCH_NODE_SHARED_DIR/identity.txt && env | grep ^AZ_BATCH_ | sort'"
)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0,
             interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def task_processes(job_id: str, task_id: str, argv: list[str]) -> list[int]:
    """Host pids of live processes running ``argv`` with this task's ids in their environment.

    A task's container processes are host processes too (no VM between): this finds what
    runs for a task on any node, whether or not the engine still knows of it.
    """
    cmdline = b"".join(arg.encode() + b"\0" for arg in argv)
    wanted = {f"AZ_BATCH_JOB_ID={job_id}".encode(), f"AZ_BATCH_TASK_ID={task_id}".encode()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() != cmdline:
                continue
            if wanted <= set((entry / "environ").read_bytes().split(b"\0")):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def build_recipe(recipe: str) -> None:
    """Build a recipe's image with recipes/build.sh (cached after the first time)."""
    build = subprocess.run([str(RECIPES / "build.sh"), recipe], capture_output=True,
                           text=True, timeout=1800, check=False)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_client(state: control.EngineState, key: str | None = None,
                account: str | None = None) -> BatchClient:
    credential = AzureNamedKeyCredential(account or state.account, key or state.key)
    return BatchClient(state.url, credential)


def pool_options(pool_id: str, nodes: int, command: str | None = IDENTITY_COMMAND,
                 **extra: Any) -> models.BatchPoolCreateOptions:
    body: dict[str, Any] = {
        "id": pool_id, "vmSize": "standard_d2_v3", "targetDedicatedNodes": nodes,
        "enableInterNodeCommunication": True,
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc",
                               "sku": "2204"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
            "containerConfiguration": {"type": "dockerCompatible",
                                       "containerImageNames": [IMAGE]},
        },
        **extra,
    }
    if command:
        body["startTask"] = {"commandLine": command, "waitForSuccess": True,
                             "environmentSettings": [{"name": "GREETING",
                                                      "value": GREETING}]}
    return models.BatchPoolCreateOptions(body)


def wait_nodes(client: BatchClient, pool_id: str, count: int, states: tuple[str, ...] = (
        "idle",), timeout: float = 180.0) -> list[models.BatchNode]:
    def ready() -> list[models.BatchNode] | None:
        nodes = list(client.list_nodes(pool_id))
        done = len(nodes) == count and all(n.state in states for n in nodes)
        failed = [n for n in nodes if n.state in ("unusable", "starttaskfailed")
                  and n.state not in states]
        assert not failed, "nodes failed: " + "; ".join(
            f"{n.id} {n.state} {n.errors} {n.start_task_info}: {_stderr(client, pool_id, n.id)}"
            for n in failed)
        return nodes if done else None

    return list(wait_for(f"{count} nodes of {pool_id} in {states}", ready, timeout))


def exists(get: Callable[[str], object], name: str) -> bool:
    """Whether ``get(name)`` (an SDK get of a job, schedule, ...) finds it."""
    try:
        get(name)
    except ResourceNotFoundError:
        return False
    return True


def pool_exists(client: BatchClient, pool_id: str) -> bool:
    """``pool_exists`` of SDK 15.1 raises on the service's 404 instead of returning False."""
    try:
        return bool(client.pool_exists(pool_id))
    except ResourceNotFoundError:
        return False


def _stderr(client: BatchClient, pool_id: str, node_id: str) -> str:
    try:
        data = b"".join(client.download_node_file(pool_id, node_id, "startup/stderr.txt"))
    except ResourceNotFoundError:
        return "(no stderr.txt)"
    return data.decode(errors="replace")[-600:]


def answers_404(get: Callable[[], object]) -> bool:
    """Whether ``get`` (one GET of the service) is told the thing is not there."""
    try:
        get()
    except ResourceNotFoundError:
        return True
    return False


def delete_and_wait(what: str, begin: Callable[[], object], get: Callable[[], object],
                    being_deleted: str, timeout: float) -> None:
    """Start deleting ``what``, tolerating it already gone or already being deleted (the
    service's 409 ``being_deleted`` code), and wait until ``get`` answers 404."""
    try:
        begin()
    except ResourceNotFoundError:
        return
    except ResourceExistsError as exc:
        assert exc.error.code == being_deleted, exc
    wait_for(f"{what} to be deleted", lambda: answers_404(get), timeout)


def delete_pool(client: BatchClient, pool_id: str, timeout: float = 120.0) -> None:
    delete_and_wait(f"pool {pool_id}",
                    partial(client.begin_delete_pool, pool_id, polling_interval=0.5),
                    partial(client.get_pool, pool_id), "PoolBeingDeleted", timeout)


def cmdlines() -> dict[int, bytes]:
    """The command line of every live process, as /proc has it (each word ends in NUL)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):  # gone since the listing
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
    return found


def leftovers(data_dir: Path) -> list[str]:
    """Everything an engine with this data dir could have left on the host.

    Kernel objects are named by slot only, so the check is machine-wide, less the slots
    that another engine still running on this machine holds (developers and CI may run
    several at once); an object of a dead engine counts as left behind.
    """
    others = _slots_of_other_engines(data_dir)

    def ours(text: str) -> bool:
        slot = re.search(r"shy(?:v|br)?(\d+)", text)
        return slot is not None and int(slot[1]) not in others

    found = [f"netns {n}" for n in _lines(["ip", "netns", "list"])
             if n.startswith("shy") and ours(n)]
    found += [f"link {line}" for line in _lines(["ip", "-o", "link"])
              if ": shy" in line and ours(line.split(": ", 2)[1])]
    found += [f"iptables {r}" for r in _lines(["iptables", "-S"]) if "shybr" in r and ours(r)]
    for pid, raw in cmdlines().items():
        cmdline = raw.replace(b"\0", b" ")
        if str(data_dir).encode() in cmdline and b"shipyard.engine" not in cmdline:
            found.append(f"process {pid}: {cmdline[:120]!r}")
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if str(data_dir) in line]
    nodes_dir = data_dir / "n"
    if nodes_dir.exists():
        found += [f"node dir {p}" for p in nodes_dir.iterdir()]
    return found


def _slots_of_other_engines(data_dir: Path) -> set[int]:
    """Pool slots held by the other engines running now (their node homes and bridge marks)."""
    slots: set[int] = set()
    for raw in cmdlines().values():
        argv = raw.decode(errors="replace").split("\0")
        if "shipyard.engine" not in argv or "--data-dir" not in argv[:-1]:
            continue
        other = Path(argv[argv.index("--data-dir") + 1])
        if other.resolve() == data_dir.resolve():
            continue
        # Node homes are n/<slot>-<index>; bridge marks n/bridge-<slot> (the engine's
        # nodes_dir): a pool whose nodes are not made yet holds its slot by the mark alone.
        names = [p.name.removeprefix("bridge-") + "-" for p in (other / "n").glob("bridge-*")]
        names += [p.name for p in (other / "n").glob("*-*")]
        slots |= {int(n.split("-")[0]) for n in names if n.split("-")[0].isdigit()}
    return slots


def assert_nothing_left(data_dir: Path) -> None:
    try:
        wait_for("the engine's leftovers to disappear", lambda: not leftovers(data_dir), 30)
    except AssertionError:
        raise AssertionError(f"left behind: {leftovers(data_dir)}") from None


def _lines(argv: list[str]) -> list[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.stdout.splitlines()
