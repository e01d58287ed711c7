"""Allocation: turning a pool's target counts into running nodes, and taking them away.

One worker thread per pool reconciles the node records with the targets, then marks the
pool ``steady``; each new node then boots on its own thread (images, start task). Deleting
a pool stops every node and removes its network. What happens to one node (allocate,
boot, restart, halt, remove, recover) is ``NodeLife``'s (nodelife.py); ``restart``,
``halt`` and ``remove_node`` here are what the node operations (nodeops.py) ask of it.
All of it is resumable: after a restart or a crash, ``recover`` picks up each pool and
node from the store and finishes the work. Threads are daemons: stopping the engine never
waits for a slow node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial

from shipyard.engine import nodes
from shipyard.engine.agent import execution, sharedmounts
from shipyard.engine.allocation.nodelife import NODE, POOL, NodeLife, NodeRef, pool_net
from shipyard.engine.model import docs
from shipyard.engine.model.states import NODE_REMOVABLE, AllocationState, NodeState, PoolState
from shipyard.engine.nodes import imagestore
from shipyard.engine.settings import EngineSettings
from shipyard.engine.storage.link import StorageLink
from shipyard.engine.store import Json, Record, RecordMissing, Store

__all__ = ["NODE", "POOL", "Allocator", "NodeRef"]

log = logging.getLogger(__name__)


class Allocator:
    """Owns every node-changing thread of the engine."""

    def __init__(self, settings: EngineSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._workers: dict[str, threading.Thread] = {}
        self._again: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.nodes = NodeLife(settings, store, self._stopping, self._finish_resize)

    @property
    def auto_storage(self) -> StorageLink | None:
        """The account's linked storage (the engine's Azurite), given to every node."""
        return self.nodes.auto_storage

    @auto_storage.setter
    def auto_storage(self, link: StorageLink | None) -> None:
        self.nodes.auto_storage = link

    def stop(self) -> None:
        """Ask long waits to give up; state on disk stays resumable."""
        self._stopping.set()

    # -- per-pool worker ---------------------------------------------------------------
    def kick(self, pool_id: str) -> None:
        """Make sure a worker reconciles this pool (again, if one is already busy)."""
        key = pool_id.lower()
        with self._lock:
            worker = self._workers.get(key)
            if worker is not None and worker.is_alive():
                self._again.add(key)
                return
            worker = threading.Thread(target=self._work, args=(pool_id,), daemon=True,
                                      name=f"pool-{pool_id}")
            self._workers[key] = worker
        worker.start()

    def _work(self, pool_id: str) -> None:
        key = pool_id.lower()
        while True:
            try:
                self._reconcile(pool_id)
            except Exception:
                log.exception("pool %s: reconcile failed", pool_id)
            with self._lock:
                if key not in self._again:
                    self._workers.pop(key, None)
                    return
                self._again.discard(key)

    def _reconcile(self, pool_id: str) -> None:
        pool = self.store.get(POOL, "", pool_id)
        if pool is None:
            return
        if pool.doc["state"] == PoolState.DELETING:
            self._delete_pool(pool)
            return
        members = self._members(pool_id)
        # A stopped resize makes no further change until the next resize clears the mark.
        stopped = pool.private.get("resize_stopped")
        add, remove = ([], []) if stopped else _plan(pool.doc, members)
        if add or remove:
            self._ensure_network(pool)
        with ThreadPoolExecutor(max_workers=16) as pool_exec:
            list(pool_exec.map(self.nodes.remove, remove))
            started = list(pool_exec.map(lambda d: self._allocate_node(pool, d), add))
        for ref in started:
            if ref is not None:
                self._spawn(f"boot-{ref.node_id[:12]}", partial(self.nodes.boot, ref))
        self._finish_resize(pool_id)

    def _members(self, pool_id: str) -> list[Record]:
        return [r for r in self.store.list(NODE, pool_id)
                if r.doc["state"] != NodeState.LEAVING_POOL]

    def _finish_resize(self, pool_id: str) -> None:
        # Nodes still leaving count; one that removenodes is taking out (its tasks first,
        # see nodeops.py) keeps the pool resizing until it is gone.
        members = self.store.list(NODE, pool_id)
        leaving = any(m.doc["state"] == NodeState.LEAVING_POOL and m.private.get("removing")
                      for m in members)

        def settle(record: Record) -> None:
            record.doc["currentDedicatedNodes"] = sum(m.doc["isDedicated"] for m in members)
            record.doc["currentLowPriorityNodes"] = sum(
                not m.doc["isDedicated"] for m in members)
            if record.doc["state"] == PoolState.ACTIVE and not leaving:
                if record.private.get("resize_stopped"):
                    docs.resize_stopped(record.doc)
                docs.set_allocation_state(record.doc, AllocationState.STEADY)

        self._mutate_pool(pool_id, settle)

    def _ensure_network(self, pool: Record) -> None:
        # The marker first: a crash right after creating the bridge must still find it ours.
        nodes.mark_bridge(self.settings.nodes_dir, pool.private["slot"], present=True)
        nodes.create_pool_network(pool_net(pool))

    def _allocate_node(self, pool: Record, dedicated: bool) -> NodeRef | None:
        current = self.store.get(POOL, "", pool.doc["id"])
        if current is None or current.private.get("resize_stopped"):
            return None  # stopped (or gone) before this node started: it never is
        return self.nodes.allocate(pool, dedicated, partial(self._resize_error, pool.doc["id"]))

    # -- one node (NodeLife's work) -------------------------------------------------------
    def node_spec(self, record: Record) -> nodes.NodeSpec:
        return self.nodes.node_spec(record)

    def node(self, record: Record) -> execution.Node:
        """A node record as a place to run commands (its daemon must be up)."""
        return self.nodes.node(record)

    def restart(self, ref: NodeRef, keep_disk: bool) -> None:
        """A reboot (``keep_disk``) or a reimage; see ``NodeLife.restart``."""
        self.nodes.restart(ref, keep_disk)

    def halt(self, ref: NodeRef) -> None:
        """Deallocate: every process and the network go, the disk stays; ``deallocated``."""
        self.nodes.halt(ref)

    def remove_node(self, record: Record) -> None:
        """Take one node out of its pool for good (its disk too); the pool settles after."""
        self.nodes.remove(record)
        self._finish_resize(record.private["pool_id"])

    # -- recovery after a restart or a crash --------------------------------------------
    def recover(self) -> list[str]:
        """Re-adopt every stored pool and node, finish interrupted work, reclaim leftovers."""
        pools = self.store.list(POOL)
        members = {p.doc["id"]: self.store.list(NODE, p.doc["id"]) for p in pools}
        known_netns = {self.node_spec(n).netns for ns in members.values() for n in ns}
        swept: list[str] = nodes.sweep(known_netns, {p.private["slot"] for p in pools},
                                       self.settings.nodes_dir)
        swept += imagestore.sweep_builds(self.settings.images_dir)
        for pool in pools:
            if pool.doc["state"] != PoolState.DELETING and members[pool.doc["id"]]:
                self._ensure_network(pool)
                for record in members[pool.doc["id"]]:
                    self._spawn("recover", partial(self.nodes.recover, record))
            self.kick(pool.doc["id"])
        return swept

    # -- pool deletion -----------------------------------------------------------------
    def _delete_pool(self, pool: Record) -> None:
        pool_id = pool.doc["id"]
        members = self.store.list(NODE, pool_id)
        with ThreadPoolExecutor(max_workers=16) as pool_exec:
            list(pool_exec.map(self.nodes.remove, members))
        nodes.delete_pool_network(pool_net(pool))
        nodes.mark_bridge(self.settings.nodes_dir, pool.private["slot"], present=False)
        sharedmounts.remove_pool(self.settings, pool_id)
        self.store.delete(POOL, "", pool_id)
        log.info("pool %s deleted", pool_id)

    # -- store helpers -----------------------------------------------------------------
    def _mutate_pool(self, pool_id: str, change: Callable[[Record], None]) -> None:
        with suppress(RecordMissing):
            self.store.mutate(POOL, "", pool_id, change)

    def _resize_error(self, pool_id: str, message: str) -> None:
        def add(record: Record) -> None:
            record.doc.setdefault("resizeErrors", []).append(
                {"code": "AllocationFailed", "message": message})

        self._mutate_pool(pool_id, add)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()


def _plan(pool: Json, members: list[Record]) -> tuple[list[bool], list[Record]]:
    """Which nodes to add (True = dedicated) and which records to remove."""
    add: list[bool] = []
    remove: list[Record] = []
    for dedicated, target in ((True, pool["targetDedicatedNodes"]),
                              (False, pool["targetLowPriorityNodes"])):
        have = [m for m in members if bool(m.doc["isDedicated"]) == dedicated]
        add.extend([dedicated] * max(0, target - len(have)))
        surplus = len(have) - target
        if surplus > 0:
            candidates = [m for m in have if m.doc["state"] in NODE_REMOVABLE]
            candidates.sort(key=lambda m: m.private["index"], reverse=True)
            remove.extend(candidates[:surplus])
    return add, remove
