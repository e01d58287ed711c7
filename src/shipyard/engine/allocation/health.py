"""Node health: one test for "can this node run a command now", used everywhere.

The health check (every second), placement (``usable``) and every launch ask the same
question (``nodes.node_fault``: daemon running, namespace present), so the scheduler never
places a task on a node a launch would refuse. A node that fails it, or refuses a launch
for its own reasons (agent unreachable, out of processes or disk), is marked ``unusable``
at once with the reason (``mark_unusable``), and the task that was to run there is
requeued by the scheduler. A node whose fault goes away (a full disk with room again) is
taken back after ``HEAL_AFTER`` seconds; one whose daemon died stays out until it is
rebooted (an engine restart does that).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import suppress
from pathlib import Path

from shipyard.engine import nodes
from shipyard.engine.agent import execution
from shipyard.engine.allocation.allocator import NODE, POOL, Allocator
from shipyard.engine.model import docs, wire
from shipyard.engine.model.states import NODE_UP, NodeState
from shipyard.engine.store import Record, RecordMissing, Store

log = logging.getLogger(__name__)

#: The error code of a node taken out by this module (and only by it).
UNHEALTHY = "NodeUnhealthy"
#: How long a node that refused a launch stays out before it is tried again.
HEAL_AFTER = 15.0


class NodeHealth:
    """Marks nodes unusable and usable again; see the module docstring."""

    def __init__(self, store: Store, allocator: Allocator) -> None:
        self.store = store
        self.allocator = allocator

    def check(self) -> list[tuple[str, str]]:
        """Mark unhealthy nodes unusable, take healed ones back; (pool, node) just failed."""
        failed = []
        for pool in self.store.list(POOL):
            for record in self.store.list(NODE, pool.doc["id"]):
                if not record.private.get("pid"):
                    continue
                if record.doc["state"] in NODE_UP and self.usable(record) is None:
                    failed.append((pool.doc["id"], record.doc["id"]))
                elif _healable(record):
                    self._heal(record)
        return failed

    def usable(self, record: Record) -> execution.Node | None:
        """The node as a place to run commands, or None (and marked unusable) if it is not."""
        node = self.allocator.node(record)
        fault = nodes.node_fault(node.spec, node.daemon_pid)
        if fault is None:
            return node
        self.mark_unusable(node.pool_id, node.node_id, fault)
        return None

    def mark_unusable(self, pool_id: str, node_id: str, reason: str) -> None:
        """Take a node that was usable out of scheduling at once, saying why."""
        def fail(record: Record) -> None:
            if record.doc["state"] in NODE_UP:
                log.warning("node %s unusable: %s", node_id, reason)
                docs.node_error(record.doc, UNHEALTHY, reason)

        with suppress(RecordMissing):
            self.store.mutate(NODE, pool_id, node_id, fail)

    def _heal(self, record: Record) -> None:
        node = self.allocator.node(record)
        if nodes.node_fault(node.spec, node.daemon_pid) is not None or \
                not _writable(node.host_path(execution.EXIT_DIR)):
            return

        def restore(r: Record) -> None:
            if _healable(r):
                r.doc.pop("errors", None)
                docs.set_node_state(r.doc, NodeState.IDLE)

        log.info("node %s is healthy again: usable", node.node_id)
        with suppress(RecordMissing):
            self.store.mutate(NODE, node.pool_id, node.node_id, restore)


def _healable(record: Record) -> bool:
    """Unusable by this module's verdict (not by its boot), for long enough to retry."""
    errors = record.doc.get("errors") or [{}]
    if record.doc["state"] != NodeState.UNUSABLE or errors[0].get("code") != UNHEALTHY:
        return False
    since = wire.parse_datetime(record.doc["stateTransitionTime"]).timestamp()
    return time.time() - since >= HEAL_AFTER


def _writable(directory: Path) -> bool:
    """Whether a small file can be written, synced and removed in ``directory``."""
    probe = directory / f".probe-{threading.get_ident()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        return False
    finally:
        with suppress(OSError):
            probe.unlink()
    return True
