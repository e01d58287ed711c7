"""One node's life in its pool: allocated, booted to idle, restarted, halted, removed.

A node is a record (its wire document, and privately its slot, index, home and daemon pid)
and a node daemon in its own namespaces (``engine.nodes``). ``allocate`` makes both;
``boot`` preloads the pool's images and runs its start task; ``restart`` (a reboot or a
reimage), ``halt`` (a deallocation) and ``remove`` are what the node operations and a
shrinking pool do to it; ``recover`` finishes whatever an engine restart interrupted.
The pool's side (how many nodes, when the pool is steady) is the ``Allocator``'s, which
is told through ``settle`` when a node left its pool. Once a node is ``leavingpool``
nothing brings it back (``mutate`` refuses).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from shipyard.engine import nodes
from shipyard.engine.agent import boot, execution, sharedmounts
from shipyard.engine.model import docs
from shipyard.engine.model.states import NodeState, StartTaskState
from shipyard.engine.settings import EngineSettings
from shipyard.engine.storage.link import StorageLink
from shipyard.engine.store import Record, RecordMissing, Store
from shipyard.errors import ShipyardError, StorageError

log = logging.getLogger(__name__)

POOL, NODE = "pool", "node"
AGENT_VERSION = "shipyard-local"


@dataclass(frozen=True)
class NodeRef:
    pool_id: str
    node_id: str


def pool_net(pool: Record) -> nodes.PoolNet:
    """The network of a pool record (its bridge slot and subnet)."""
    return nodes.PoolNet(pool.private["slot"], ipaddress.IPv4Network(pool.private["subnet"]))


class NodeLife:
    """Every change of one node's record and daemon; see the module docstring."""

    def __init__(self, settings: EngineSettings, store: Store, stopping: threading.Event,
                 settle: Callable[[str], None]) -> None:
        self.settings = settings
        self.store = store
        self._stopping = stopping
        self._settle = settle
        #: The account's linked storage (the engine's Azurite), given to every node.
        self.auto_storage: StorageLink | None = None

    def node_spec(self, record: Record) -> nodes.NodeSpec:
        private = record.private
        return nodes.NodeSpec(
            slot=private["slot"], index=private["index"], node_id=record.doc["id"],
            hostname=private["hostname"], ip=ipaddress.IPv4Address(record.doc["ipAddress"]),
            home=Path(private["home"]),
            binds=sharedmounts.node_binds(self.settings, private["pool_id"]),
        )

    def node(self, record: Record) -> execution.Node:
        """A node record as a place to run commands (its daemon must be up)."""
        return execution.Node(record.private["pool_id"], record.doc["id"],
                              record.doc["ipAddress"], bool(record.doc["isDedicated"]),
                              self.node_spec(record), int(record.private["pid"]),
                              self.auto_storage)

    # -- coming ------------------------------------------------------------------------
    def allocate(self, pool: Record, dedicated: bool, failed: Callable[[str], None]
                 ) -> NodeRef | None:
        """A new node record and its running daemon, or None: the node says why it failed,
        and so does ``failed`` (the pool's ``resizeErrors``)."""
        record = self._new_record(pool, dedicated)
        ref = NodeRef(pool.doc["id"], record.doc["id"])
        spec = self.node_spec(record)
        try:
            boot.prepare_node_dirs(spec.batch_dir)
            sharedmounts.prepare_node(self.settings, pool.doc["id"], spec.batch_dir)
            pid = self.start_daemon(spec, pool)
        except ShipyardError as exc:
            self.fail(ref, "NodeAllocationFailed", str(exc))
            failed(str(exc))
            return None
        self.mutate(ref, lambda r: _started(r, pid))
        return ref

    def _new_record(self, pool: Record, dedicated: bool) -> Record:
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

    def boot(self, ref: NodeRef) -> None:
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
            self.fail(ref, "NodeBootFailed", str(exc))

    def _run_start_task(self, ref: NodeRef, record: Record, pool: Record) -> None:
        start_task = pool.doc.get("startTask")
        if not start_task:
            self.mutate(ref, lambda r: docs.set_node_state(r.doc, NodeState.IDLE))
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
                self.mutate(ref, partial(boot.start_task_unfetched, error=launched, wait=wait))
                return
            self.mutate(ref, partial(boot.mark_running, launched=launched, wait=wait,
                                     attempt=attempt))
            code = boot.wait_exit(launched, self._stopping.is_set)
            if self._stopping.is_set():
                return
            if code == 0 or attempt == retries:
                break
            attempt += 1
        self.mutate(ref, lambda r: boot.mark_done(r, code, wait))

    def start_daemon(self, spec: nodes.NodeSpec, pool: Record) -> int:
        """Start the node seeded from prepared image stores: a pool shares one unpack."""
        return nodes.start_node(spec, pool_net(pool), cache=self.settings.images_dir,
                                images=docs.container_images(pool.doc))

    # -- going and coming back -----------------------------------------------------------
    def remove(self, record: Record) -> None:
        """Take one node out of its pool for good (its disk too); the pool is not settled."""
        ref = NodeRef(record.private["pool_id"], record.doc["id"])
        self.mutate(ref, lambda r: docs.set_node_state(r.doc, NodeState.LEAVING_POOL))
        nodes.stop_node(self.node_spec(record), record.private.get("pid"))
        self.store.delete(NODE, ref.pool_id, ref.node_id)
        log.info("node %s of pool %s removed", ref.node_id, ref.pool_id)

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
        self.mutate(ref, lambda r: r.private.__setitem__("pid", None))
        boot.prepare_node_dirs(spec.batch_dir)
        sharedmounts.prepare_node(self.settings, ref.pool_id, spec.batch_dir)
        # A wiped data-root is seeded afresh like a new node's; a kept one is left as it is.
        pid = self.start_daemon(spec, self._pool(ref.pool_id))
        self.mutate(ref, lambda r: _started(r, pid))
        self.boot(ref)

    def halt(self, ref: NodeRef) -> None:
        """Deallocate: every process and the network go, the disk stays; ``deallocated``."""
        record = self._node(ref)
        nodes.halt_node(self.node_spec(record), record.private.get("pid"))

        def down(r: Record) -> None:
            r.private["pid"] = None
            r.private.pop("draining", None)
            docs.set_node_state(r.doc, NodeState.DEALLOCATED)

        self.mutate(ref, down)

    # -- recovery after a restart or a crash --------------------------------------------
    def recover(self, record: Record) -> None:
        """Finish what the node was doing when the engine stopped, from its stored state."""
        ref = NodeRef(record.private["pool_id"], record.doc["id"])
        spec, pid, state = self.node_spec(record), record.private.get("pid"), record.doc["state"]
        try:
            if state == NodeState.LEAVING_POOL:
                self.remove(record)
                self._settle(ref.pool_id)
            elif state in (NodeState.DEALLOCATING, NodeState.DEALLOCATED):
                self.halt(ref)  # a deallocation the crash interrupted ends as one
            elif state in (NodeState.REBOOTING, NodeState.REIMAGING) or not (
                    pid and _alive(spec, pid)):
                self._reboot(ref, keep_disk=state != NodeState.REIMAGING)
            elif state in (NodeState.CREATING, NodeState.STARTING):
                nodes.ensure_sshd(spec, pid)
                self.mutate(ref, lambda r: _started(r, pid))
                self.boot(ref)
            else:
                nodes.ensure_sshd(spec, pid)
                if (record.doc.get("startTaskInfo") or {}).get("state") == \
                        StartTaskState.RUNNING:
                    self._readopt_start_task(ref, record)
        except RecordMissing:
            pass
        except ShipyardError as exc:
            self.fail(ref, "NodeRecoveryFailed", str(exc))

    def _reboot(self, ref: NodeRef, keep_disk: bool = False) -> None:
        """The node's daemon is gone: bring it up again under the same id and address."""
        self.mutate(ref, lambda r: docs.set_node_state(r.doc, NodeState.STARTING))
        self.restart(ref, keep_disk)

    def _readopt_start_task(self, ref: NodeRef, record: Record) -> None:
        launched = execution.Launched.from_json(record.private["start_task"])
        code = boot.wait_exit(launched, self._stopping.is_set)
        if not self._stopping.is_set():
            wait = bool((record.doc.get("startTask") or {}).get("waitForSuccess", True))
            self.mutate(ref, lambda r: boot.mark_done(r, code, wait))

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

    def mutate(self, ref: NodeRef, change: Callable[[Record], None]) -> None:
        def guarded(record: Record) -> None:
            # Once a node is leaving, nothing else may bring it back to life.
            if record.doc["state"] != NodeState.LEAVING_POOL:
                change(record)

        self.store.mutate(NODE, ref.pool_id, ref.node_id, guarded)

    def fail(self, ref: NodeRef, code: str, message: str) -> None:
        log.warning("node %s: %s", ref.node_id, message)
        with suppress(RecordMissing):
            self.mutate(ref, lambda r: docs.node_error(r.doc, code, message))


def _alive(spec: nodes.NodeSpec, pid: int, attempts: int = 3) -> bool:
    """A busy daemon can miss one ping; rebooting a live node would kill its tasks."""
    for attempt in range(attempts):
        if nodes.node_alive(spec, pid):
            return True
        time.sleep(0.5 * (attempt + 1))
    return False


def _started(record: Record, pid: int) -> None:
    record.private["pid"] = pid
    # A node that went down while draining (an engine restart mid-wait) comes back clean.
    record.private.pop("draining", None)
    docs.node_booted(record.doc, AGENT_VERSION)
    docs.set_node_state(record.doc, NodeState.STARTING)
