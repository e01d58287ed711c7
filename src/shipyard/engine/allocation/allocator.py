"""Allocation: turning a pool's target counts into running nodes, and taking them away.

One worker thread per pool reconciles the node records with the targets, then marks the
pool ``steady``; each new node then boots on its own thread (images, start task). Deleting
a pool stops every node and removes its network. ``restart``, ``halt`` and ``remove_node``
are what the node operations (nodeops.py) do to one node. All of it is resumable: after a
restart or a crash, ``recover`` picks up each pool and node from the store and finishes the
work. Threads are daemons: stopping the engine never waits for a slow node.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from shipyard.engine import nodes
from shipyard.engine.agent import boot, execution, sharedmounts
from shipyard.engine.model import docs
from shipyard.engine.model.states import (
    NODE_REMOVABLE,
    AllocationState,
    NodeState,
    PoolState,
    StartTaskState,
)
from shipyard.engine.nodes import imagestore
from shipyard.engine.settings import EngineSettings
from shipyard.engine.storage.link import StorageLink
from shipyard.engine.store import Json, Record, RecordMissing, Store
from shipyard.errors import ShipyardError, StorageError

log = logging.getLogger(__name__)

POOL, NODE = "pool", "node"
AGENT_VERSION = "shipyard-local"


@dataclass(frozen=True)
class NodeRef:
    pool_id: str
    node_id: str


class Allocator:
    """Owns every node-changing thread of the engine."""

    def __init__(self, settings: EngineSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._workers: dict[str, threading.Thread] = {}
        self._again: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        #: The account's linked storage (the engine's Azurite), given to every node.
        self.auto_storage: StorageLink | None = None

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
            list(pool_exec.map(self._remove_node, remove))
            started = list(pool_exec.map(lambda d: self._allocate_node(pool, d), add))
        for ref in started:
            if ref is not None:
                self._spawn(f"boot-{ref.node_id[:12]}", partial(self._boot, ref))
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

    # -- networks ----------------------------------------------------------------------
    def pool_net(self, pool: Record) -> nodes.PoolNet:
        return nodes.PoolNet(pool.private["slot"], ipaddress.IPv4Network(pool.private["subnet"]))

    def _ensure_network(self, pool: Record) -> None:
        # The marker first: a crash right after creating the bridge must still find it ours.
        nodes.mark_bridge(self.settings.nodes_dir, pool.private["slot"], present=True)
        nodes.create_pool_network(self.pool_net(pool))

    # -- one node ----------------------------------------------------------------------
    def node_spec(self, record: Record) -> nodes.NodeSpec:
        private = record.private
        return nodes.NodeSpec(
            slot=private["slot"], index=private["index"], node_id=record.doc["id"],
            hostname=private["hostname"], ip=ipaddress.IPv4Address(record.doc["ipAddress"]),
            home=Path(private["home"]),
        )

    def _allocate_node(self, pool: Record, dedicated: bool) -> NodeRef | None:
        current = self.store.get(POOL, "", pool.doc["id"])
        if current is None or current.private.get("resize_stopped"):
            return None  # stopped (or gone) before this node started: it never is
        record = self._new_node_record(pool, dedicated)
        ref = NodeRef(pool.doc["id"], record.doc["id"])
        spec = self.node_spec(record)
        try:
            boot.prepare_node_dirs(spec.batch_dir)
            sharedmounts.link_node(self.settings, pool.doc["id"], spec.batch_dir)
            pid = self._start_daemon(spec, pool)
        except ShipyardError as exc:
            self._fail_node(ref, "NodeAllocationFailed", str(exc))
            self._resize_error(pool.doc["id"], str(exc))
            return None
        self._mutate_node(ref, lambda r: _started(r, pid))
        return ref

    def _new_node_record(self, pool: Record, dedicated: bool) -> Record:
        with self.store.transaction():
            taken = {r.private["index"] for r in self.store.list(NODE, pool.doc["id"])}
            index = next(i for i in range(len(taken) + 1) if i not in taken)
            slot = pool.private["slot"]
            subnet = ipaddress.IPv4Network(pool.private["subnet"])
            ip = str(subnet.network_address + 4 + index)
            node_id = docs.node_id_for(pool.doc["id"], slot, index, docs.now(), dedicated)
            doc = docs.new_node_doc(pool.doc, node_id, ip, dedicated, self.settings.url)
            home = self.settings.nodes_dir / f"{slot}-{index}"
            private = {"pool_id": pool.doc["id"], "slot": slot, "index": index,
                       "home": str(home),
                       "hostname": f"node-{slot}-{index}", "pid": None}
            record = Record(doc, private)
            self.store.insert(NODE, pool.doc["id"], node_id, record)
        return record

    def _boot(self, ref: NodeRef) -> None:
        """Preload images, then run the start task; any failure is shown on the node."""
        try:
            record = self._node(ref)
            pool = self._pool(ref.pool_id)
            spec = self.node_spec(record)
            for image in docs.container_images(pool.doc):
                nodes.preload_image(spec, image, cache=self.settings.images_dir)
            self._run_start_task(ref, record, pool)
        except RecordMissing:
            return  # the node or pool went away while booting
        except ShipyardError as exc:
            self._fail_node(ref, "NodeBootFailed", str(exc))

    def _run_start_task(self, ref: NodeRef, record: Record, pool: Record) -> None:
        start_task = pool.doc.get("startTask")
        if not start_task:
            self._mutate_node(ref, lambda r: docs.set_node_state(r.doc, NodeState.IDLE))
            return
        wait = bool(start_task.get("waitForSuccess", True))
        retries = int(start_task.get("maxTaskRetryCount") or 0)
        node = self.node(self._node(ref))
        base = execution.node_environment(node, self.settings.account, self.settings.url)
        env = boot.start_task_environment(base, start_task)
        attempt = 0
        while True:
            launched = boot.launch_start_task(node, start_task, env)
            if isinstance(launched, StorageError):  # a resource file failed, as on Azure
                self._mutate_node(ref, partial(boot.start_task_unfetched, error=launched,
                                               wait=wait))
                return
            self._mutate_node(ref, partial(boot.mark_running, launched=launched, wait=wait,
                                           attempt=attempt))
            code = boot.wait_exit(launched, self._stopping.is_set)
            if self._stopping.is_set():
                return
            if code == 0 or attempt == retries:
                break
            attempt += 1
        self._mutate_node(ref, lambda r: boot.mark_done(r, code, wait))

    def node(self, record: Record) -> execution.Node:
        """A node record as a place to run commands (its daemon must be up)."""
        return execution.Node(record.private["pool_id"], record.doc["id"],
                              record.doc["ipAddress"], bool(record.doc["isDedicated"]),
                              self.node_spec(record), int(record.private["pid"]),
                              self.auto_storage)

    def remove_node(self, record: Record) -> None:
        """Take one node out of its pool for good (its disk too); the pool settles after."""
        self._remove_node(record)
        self._finish_resize(record.private["pool_id"])

    def _remove_node(self, record: Record) -> None:
        ref = NodeRef(record.private["pool_id"], record.doc["id"])
        self._mutate_node(ref, lambda r: docs.set_node_state(r.doc, NodeState.LEAVING_POOL))
        nodes.stop_node(self.node_spec(record), record.private.get("pid"))
        self.store.delete(NODE, ref.pool_id, ref.node_id)
        log.info("node %s of pool %s removed", ref.node_id, ref.pool_id)

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
                    self._spawn("recover", partial(self._recover_node, record))
            self.kick(pool.doc["id"])
        return swept

    def _recover_node(self, record: Record) -> None:
        ref = NodeRef(record.private["pool_id"], record.doc["id"])
        spec, pid, state = self.node_spec(record), record.private.get("pid"), record.doc["state"]
        try:
            if state == NodeState.LEAVING_POOL:
                self.remove_node(record)
            elif state in (NodeState.DEALLOCATING, NodeState.DEALLOCATED):
                self.halt(ref)  # a deallocation the crash interrupted ends as one
            elif state in (NodeState.REBOOTING, NodeState.REIMAGING) or not (
                    pid and _alive(spec, pid)):
                self._reboot(ref, record, keep_disk=state != NodeState.REIMAGING)
            elif state in (NodeState.CREATING, NodeState.STARTING):
                nodes.ensure_sshd(spec, pid)
                self._mutate_node(ref, lambda r: _started(r, pid))
                self._boot(ref)
            else:
                nodes.ensure_sshd(spec, pid)
                if (record.doc.get("startTaskInfo") or {}).get("state") == \
                        StartTaskState.RUNNING:
                    self._readopt_start_task(ref, record)
        except RecordMissing:
            pass
        except ShipyardError as exc:
            self._fail_node(ref, "NodeRecoveryFailed", str(exc))

    def _reboot(self, ref: NodeRef, record: Record, keep_disk: bool = False) -> None:
        """The node's daemon is gone: bring it up again under the same id and address."""
        self._mutate_node(ref, lambda r: docs.set_node_state(r.doc, NodeState.STARTING))
        self.restart(ref, keep_disk)

    def restart(self, ref: NodeRef, keep_disk: bool) -> None:
        """Stop the node and start it again, same id and address, then boot it to idle.

        With ``keep_disk`` its home stays (files, images, users, host key: a reboot);
        without, it comes back as new (a reimage). The node keeps whatever transitional
        state the caller set until its daemon answers, then turns ``starting``.
        """
        record = self._node(ref)
        spec = self.node_spec(record)
        stop = nodes.halt_node if keep_disk else nodes.stop_node
        stop(spec, record.private.get("pid"))
        self._mutate_node(ref, lambda r: r.private.__setitem__("pid", None))
        boot.prepare_node_dirs(spec.batch_dir)
        sharedmounts.link_node(self.settings, ref.pool_id, spec.batch_dir)
        # A wiped data-root is seeded afresh like a new node's; a kept one is left as it is.
        pid = self._start_daemon(spec, self._pool(ref.pool_id))
        self._mutate_node(ref, lambda r: _started(r, pid))
        self._boot(ref)

    def halt(self, ref: NodeRef) -> None:
        """Deallocate: every process and the network go, the disk stays; ``deallocated``."""
        record = self._node(ref)
        nodes.halt_node(self.node_spec(record), record.private.get("pid"))

        def down(r: Record) -> None:
            r.private["pid"] = None
            r.private.pop("draining", None)
            docs.set_node_state(r.doc, NodeState.DEALLOCATED)

        self._mutate_node(ref, down)

    def _start_daemon(self, spec: nodes.NodeSpec, pool: Record) -> int:
        """Start the node seeded from prepared image stores: a pool shares one unpack."""
        return nodes.start_node(spec, self.pool_net(pool), cache=self.settings.images_dir,
                                images=docs.container_images(pool.doc))

    def _readopt_start_task(self, ref: NodeRef, record: Record) -> None:
        launched = execution.Launched.from_json(record.private["start_task"])
        code = boot.wait_exit(launched, self._stopping.is_set)
        if not self._stopping.is_set():
            wait = bool((record.doc.get("startTask") or {}).get("waitForSuccess", True))
            self._mutate_node(ref, lambda r: boot.mark_done(r, code, wait))

    # -- pool deletion -----------------------------------------------------------------
    def _delete_pool(self, pool: Record) -> None:
        pool_id = pool.doc["id"]
        members = self.store.list(NODE, pool_id)
        with ThreadPoolExecutor(max_workers=16) as pool_exec:
            list(pool_exec.map(self._remove_node, members))
        nodes.delete_pool_network(self.pool_net(pool))
        nodes.mark_bridge(self.settings.nodes_dir, pool.private["slot"], present=False)
        sharedmounts.remove_pool(self.settings, pool_id)
        self.store.delete(POOL, "", pool_id)
        log.info("pool %s deleted", pool_id)

    # -- store helpers -----------------------------------------------------------------
    def _pool(self, pool_id: str) -> Record:
        record = self.store.get(POOL, "", pool_id)
        if record is None:
            raise RecordMissing(f"pool {pool_id} is gone")
        return record

    def _node(self, ref: NodeRef) -> Record:
        record = self.store.get(NODE, ref.pool_id, ref.node_id)
        if record is None:
            raise RecordMissing(f"node {ref.node_id} is gone")
        return record

    def _mutate_pool(self, pool_id: str, change: Callable[[Record], None]) -> None:
        with suppress(RecordMissing):
            self.store.mutate(POOL, "", pool_id, change)

    def _mutate_node(self, ref: NodeRef, change: Callable[[Record], None]) -> None:
        def guarded(record: Record) -> None:
            # Once a node is leaving, nothing else may bring it back to life.
            if record.doc["state"] != NodeState.LEAVING_POOL:
                change(record)

        self.store.mutate(NODE, ref.pool_id, ref.node_id, guarded)

    def _fail_node(self, ref: NodeRef, code: str, message: str) -> None:
        log.warning("node %s: %s", ref.node_id, message)
        with suppress(RecordMissing):
            self._mutate_node(ref, lambda r: docs.node_error(r.doc, code, message))

    def _resize_error(self, pool_id: str, message: str) -> None:
        def add(record: Record) -> None:
            record.doc.setdefault("resizeErrors", []).append(
                {"code": "AllocationFailed", "message": message})

        self._mutate_pool(pool_id, add)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()


def _alive(spec: nodes.NodeSpec, pid: int, attempts: int = 3) -> bool:
    """A busy daemon can miss one ping; rebooting a live node would kill its tasks."""
    for attempt in range(attempts):
        if nodes.node_alive(spec, pid):
            return True
        time.sleep(0.5 * (attempt + 1))
    return False


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


def _started(record: Record, pid: int) -> None:
    record.private["pid"] = pid
    # A node that went down while draining (an engine restart mid-wait) comes back clean.
    record.private.pop("draining", None)
    docs.node_booted(record.doc, AGENT_VERSION)
    docs.set_node_state(record.doc, NodeState.STARTING)
