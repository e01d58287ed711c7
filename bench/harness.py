"""The benchmark's own engine, its pools, and the guarantee that nothing of it is left.

``BenchEngine`` starts an engine with a private data dir under /var/tmp (node homes must
not be under /tmp) on a free port, and in ``close`` deletes every pool it made, stops the
engine and checks that no network namespace of its nodes remains.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shipyard.engine import control, nodes
from shipyard.engine.settings import EngineSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL = 0.1


def wait_for(what: str, check: Callable[[], T | None], timeout: float,
             interval: float = POLL) -> T:
    """Poll ``check`` until it returns something truthy; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


@dataclass(frozen=True)
class NodeHandle:
    """A node of an engine pool as the floors need it: spec, dockerd pid, address."""

    spec: nodes.NodeSpec
    pid: int

    @property
    def ip(self) -> str:
        return str(self.spec.ip)


class BenchEngine:
    """A running engine for the benchmark; use as a context manager."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="shyb-", dir="/var/tmp"))
        self.settings = EngineSettings(data_dir=self.data_dir, port=free_port())
        self.state: control.EngineState | None = None
        self.client: BatchClient | None = None
        self.netns_seen: set[str] = set()

    def __enter__(self) -> BenchEngine:
        self.state, _ = control.start(self.settings)
        self.client = BatchClient(self.state.url, AzureNamedKeyCredential(
            self.state.account, self.state.key))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def batch(self) -> BatchClient:
        assert self.client is not None, "the engine is not started"
        return self.client

    def create_pool(self, pool_id: str, count: int, images: list[str], slots: int = 1,
                    inter_node: bool = False) -> None:
        body: dict[str, Any] = {
            "id": pool_id, "vmSize": "standard_d2_v3", "targetDedicatedNodes": count,
            "taskSlotsPerNode": slots, "enableInterNodeCommunication": inter_node,
            "virtualMachineConfiguration": {
                "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04"},
                "nodeAgentSKUId": "batch.node.ubuntu 22.04"}}
        if images:
            body["virtualMachineConfiguration"]["containerConfiguration"] = {
                "type": "dockerCompatible", "containerImageNames": images}
        self.batch.create_pool(models.BatchPoolCreateOptions(body))

    def wait_idle(self, pool_id: str, count: int, timeout: float = 600) -> None:
        def ready() -> bool:
            found = list(self.batch.list_nodes(pool_id))
            bad = [n for n in found if n.state in ("unusable", "starttaskfailed")]
            if bad:
                raise RuntimeError(f"pool {pool_id}: nodes failed: "
                                   f"{[(n.id, n.state, n.errors) for n in bad]}")
            return len(found) == count and all(n.state == "idle" for n in found)

        wait_for(f"{count} idle nodes in {pool_id}", ready, timeout)
        self.netns_seen |= {h.spec.netns for h in self.node_handles(pool_id)}

    def ready_pool(self, pool_id: str, count: int, images: list[str], slots: int = 1,
                   inter_node: bool = False) -> float:
        """Create a pool and wait until all nodes are idle; the seconds it took."""
        started = time.monotonic()
        self.create_pool(pool_id, count, images, slots, inter_node)
        self.wait_idle(pool_id, count)
        return time.monotonic() - started

    def node_handles(self, pool_id: str) -> list[NodeHandle]:
        """The pool's nodes, located through the engine's own naming of their homes."""
        handles = []
        for node in self.batch.list_nodes(pool_id):
            spec = node_spec(self.settings.nodes_dir, node)
            pid = int((spec.home / "docker.pid").read_text().strip())
            handles.append(NodeHandle(spec, pid))
        return sorted(handles, key=lambda h: h.spec.index)

    def delete_pool(self, pool_id: str, timeout: float = 300) -> None:
        try:
            self.batch.begin_delete_pool(pool_id, polling_interval=1)
        except ResourceNotFoundError:
            return
        except ResourceExistsError:
            pass  # already being deleted
        wait_for(f"pool {pool_id} to be deleted", lambda: pool_gone(self.batch, pool_id),
                 timeout, interval=0.3)

    def close(self) -> None:
        """Delete every pool, stop the engine, remove the data dir; raise if nodes remain."""
        try:
            if self.client is not None:
                for pool in list(self.batch.list_pools()):
                    self.delete_pool(str(pool.id))
        finally:
            control.stop(self.data_dir)
            shutil.rmtree(self.data_dir, ignore_errors=True)
        left = self.leftovers()
        if left:
            raise RuntimeError(f"the benchmark's nodes left things behind: {left}")

    def leftovers(self) -> list[str]:
        """Namespaces of our nodes that still hold our processes, and any process of ours.

        Names alone do not tell: another engine on the machine numbers its pools from 1
        too, so ``shy1-0`` may be its node. A process is ours if its command line names
        our data dir.
        """
        found = [f"netns {name}" for name in sorted(self.netns_seen & netns_names())
                 if any(self._ours(pid) for pid in _netns_pids(name))]
        found += [f"process {pid}" for pid in _all_pids() if self._ours(pid)
                  and pid != os.getpid() and "shipyard.engine" not in cmdline_text(pid)]
        return found

    def _ours(self, pid: int) -> bool:
        return str(self.data_dir) in cmdline_text(pid)


def _netns_pids(name: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                         check=False)
    return [int(word) for word in out.stdout.split() if word.isdigit()]


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def cmdline_text(pid: int) -> str:
    """The command line of ``pid``, its words joined by spaces; empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def pool_gone(batch: BatchClient, pool_id: str) -> bool:
    try:
        batch.get_pool(pool_id)
    except ResourceNotFoundError:
        return True
    return False


def node_place(ip: str) -> tuple[int, int]:
    """Where the engine put the node at ``ip``: pool slot = third octet, index = last - 4."""
    packed = ipaddress.IPv4Address(ip).packed
    return packed[2], packed[3] - 4


def node_spec(nodes_dir: Path, node: models.BatchNode) -> nodes.NodeSpec:
    """``node`` as the engine's runtime names it (netns, veth, home under ``nodes_dir``)."""
    slot, index = node_place(str(node.ip_address))
    return nodes.NodeSpec(slot=slot, index=index, node_id=str(node.id),
                          hostname=f"node-{slot}-{index}",
                          ip=ipaddress.IPv4Address(node.ip_address),
                          home=nodes_dir / f"{slot}-{index}")
