"""Floor nodes: the project's node runtime used directly, without the engine.

``FloorPool`` starts ``count`` nodes in parallel on a bridge of its own (a slot no pool
uses), which is what a pool costs at the least; it always stops them and removes the
bridge again. ``run_direct`` is the least a task costs: enter a node, run the command,
wait for it.
"""

from __future__ import annotations

import logging
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shipyard.engine import nodes
from shipyard.engine.nodes import host
from shipyard.engine.nodes.model import MAX_SLOT

log = logging.getLogger(__name__)

FIRST_SLOT = 240


def free_slot() -> int:
    """A pool slot whose bridge does not exist and whose subnet is free."""
    for slot in range(FIRST_SLOT, MAX_SLOT + 1):
        if host.link_exists(f"shybr{slot}"):
            continue
        if nodes.subnet_conflicts(nodes.subnet_for_slot(slot)) is None:
            return slot
    raise RuntimeError(f"no free pool slot in {FIRST_SLOT}..{MAX_SLOT}")


class FloorPool:
    """``count`` bare nodes under ``root``; a context manager that always cleans up."""

    def __init__(self, root: Path, count: int) -> None:
        self.slot = free_slot()
        self.net = nodes.PoolNet(self.slot, nodes.subnet_for_slot(self.slot))
        self.specs = [
            nodes.NodeSpec(slot=self.slot, index=i, node_id=f"floor-{i}",
                           hostname=f"floor-{self.slot}-{i}",
                           ip=self.net.subnet.network_address + 4 + i,
                           home=root / f"{self.slot}-{i}")
            for i in range(count)]
        self.pids: dict[int, int] = {}

    def __enter__(self) -> FloorPool:
        nodes.create_pool_network(self.net)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> float:
        """Start every node in parallel; the seconds until all daemons answer."""
        started = time.monotonic()
        with ThreadPoolExecutor(len(self.specs)) as pool:
            pids = list(pool.map(lambda s: nodes.start_node(s, self.net), self.specs))
        self.pids = {spec.index: pid for spec, pid in zip(self.specs, pids, strict=True)}
        return time.monotonic() - started

    def preload(self, image: str, index: int = 0) -> float:
        """Load ``image`` into one node; the seconds it took."""
        started = time.monotonic()
        nodes.preload_image(self.specs[index], image)
        return time.monotonic() - started

    def close(self) -> None:
        errors = []
        with ThreadPoolExecutor(max(1, len(self.specs))) as pool:
            for spec, outcome in zip(self.specs, pool.map(self._stop, self.specs), strict=True):
                if outcome:
                    errors.append(f"{spec.node_id}: {outcome}")
        nodes.delete_pool_network(self.net)
        if errors:
            raise RuntimeError("floor nodes did not stop cleanly: " + "; ".join(errors))

    def _stop(self, spec: nodes.NodeSpec) -> str:
        try:
            nodes.stop_node(spec, self.pids.get(spec.index))
        except Exception as exc:  # every node must get its turn, whatever failed before
            return str(exc)
        return ""


def run_direct(pid: int, argv: list[str]) -> float:
    """Run ``argv`` in the namespaces of the node of dockerd ``pid`` and wait; seconds.

    The least a command on a node costs: enter the node (nsenter) and exec, no supervisor,
    no exit file, no engine.
    """
    started = time.monotonic()
    done = subprocess.run(["nsenter", f"--target={pid}", "--net", "--mount", "--uts", "--",
                           *argv], capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode} on the node: {done.stderr[-300:]}")
    return elapsed
