"""Pool and node operations as the REST API exposes them: checks, then state changes.

Everything here is synchronous and quick: it validates, refuses what does not fit with the
service's error codes, writes the new state and hands the slow work (nodes coming and
going) to the ``Allocator``. A refused request changes nothing.

A resize to fewer nodes than are busy honours its ``nodeDeallocationOption`` (requeue,
terminate, taskcompletion, retaineddata) within its ``resizeTimeout``, as the service
does: idle and booting nodes go first (the allocator's ``_plan``); the busy nodes still
over the target go through ``shed``, the one path autoscale and removenodes share
(``NodeOps.shed_busy``, wired in by the engine: nodeops sits beside this module and
builds on it, so it cannot be imported here).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.batch import models

from shipyard.engine import nodes
from shipyard.engine.allocation.allocator import NODE, POOL, Allocator
from shipyard.engine.model import docs, requests, wire
from shipyard.engine.model.states import AllocationState, PoolState
from shipyard.engine.services import poolchecks
from shipyard.engine.services.autoscale import settings as autoscale_settings
from shipyard.engine.services.lookup import Lookup
from shipyard.engine.settings import NODE_MEMORY_MB, EngineSettings
from shipyard.engine.store import Json, Record, RecordExists, RecordMissing, Store
from shipyard.errors import BatchError

MAX_SLOTS = 250
#: Node addresses run from .4 to .254 of the pool's /24, as the service starts at .4.
MAX_NODES_PER_POOL = 251
#: What to do with a leaving node's running tasks (``nodeDeallocationOption`` and kin).
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
#: Takes out the busy nodes a shrunk pool has beyond its targets, with a
#: ``nodeDeallocationOption`` (``NodeOps.shed_busy``).
Shed = Callable[[str, str], None]
log = logging.getLogger(__name__)


def shed_busy_nodes(shed: Shed, store: Store, pool_id: str, option: str) -> None:
    """Run ``shed`` after a shrink was applied; the shrink stands whatever happens here.

    A pool deleted meanwhile has nothing left to shed. Any other failure is the engine's:
    logged with its traceback, while the allocator's pass still removes the idle surplus.
    """
    try:
        shed(pool_id, option)
    except (BatchError, RecordMissing):
        if store.get(POOL, "", pool_id) is not None:
            log.exception("pool %s: taking busy nodes out (%s) failed", pool_id, option)


POOLS = Lookup(POOL, "PoolNotFound", "The specified pool does not exist.")
NODES = Lookup(NODE, "NodeNotFound", "The specified compute node does not exist.")


def pool_being_deleted() -> BatchError:
    return BatchError(409, "PoolBeingDeleted",
                      "The specified pool has been marked for deletion and is being reclaimed.")


def option_of(body: dict[str, Any], name: str,
              allowed: tuple[str, ...] = DEALLOCATION_OPTIONS) -> str:
    """The option ``name`` of a request body (default ``requeue``), checked."""
    value = body.get(name) or "requeue"
    if not isinstance(value, str) or value.lower() not in allowed:
        raise requests.bad_value(name, value, f"must be one of {', '.join(allowed)}")
    return value.lower()


def pool_being_resized() -> BatchError:
    return BatchError(409, "PoolBeingResized",
                      "The specified pool is being resized; wait for it to be steady.")


class PoolService:
    """The pool and node half of the engine's API."""

    def __init__(self, settings: EngineSettings, store: Store, allocator: Allocator) -> None:
        self.settings = settings
        self.store = store
        self.allocator = allocator
        #: Set by the engine once the node operations exist (see the module docstring).
        self.shed: Shed | None = None

    # -- pools -------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> Json:
        requests.check_id(body.get("id"))
        if not body.get("vmSize"):
            raise requests.missing("vmSize")
        _check_targets(body)
        _normalise_resize_timeout(body)
        autoscale = autoscale_settings.check_create(body)
        options = requests.parse(models.BatchPoolCreateOptions, body)
        poolchecks.check_create(body, self.settings.account)
        self.check_capacity(
            (options.target_dedicated_nodes or 0) + (options.target_low_priority_nodes or 0))
        with self.store.transaction():
            slot, subnet = self._free_slot()
            doc = docs.new_pool_doc(options, self.settings.url)
            try:
                self.store.insert(POOL, "", doc["id"], Record(
                    doc, {"slot": slot, "subnet": str(subnet), **autoscale}))
            except RecordExists as exc:
                self._release(slot, subnet)
                raise BatchError(409, "PoolExists",
                                 "The specified pool already exists.") from exc
        self.allocator.kick(doc["id"])
        return doc

    def get(self, pool_id: str) -> Record:
        return POOLS.get(self.store, "", pool_id)

    def all(self) -> list[Json]:
        return [r.doc for r in self.store.list(POOL)]

    def delete(self, pool_id: str, if_match: str | None = None) -> None:
        def mark(record: Record) -> None:
            requests.check_etag(record.doc, if_match)
            if record.doc["state"] == PoolState.DELETING:
                raise pool_being_deleted()
            docs.set_pool_state(record.doc, PoolState.DELETING)
            docs.set_allocation_state(record.doc, AllocationState.RESIZING)
            docs.touch(record.doc)

        self._mutate(pool_id, mark)
        self.allocator.kick(pool_id)

    def resize(self, pool_id: str, body: dict[str, Any], if_match: str | None = None) -> Json:
        requests.parse(models.BatchPoolResizeOptions, body)
        _check_targets(body)
        option = option_of(body, "nodeDeallocationOption")
        _normalise_resize_timeout(body)
        self.get(pool_id)
        members = len(self.store.list(NODE, pool_id))
        wanted = (body.get("targetDedicatedNodes") or 0) + (body.get("targetLowPriorityNodes") or 0)
        self.check_capacity(max(0, wanted - members))

        def apply(record: Record) -> None:
            _check_resizable(record.doc, if_match)
            record.doc["targetDedicatedNodes"] = body.get("targetDedicatedNodes") or 0
            record.doc["targetLowPriorityNodes"] = body.get("targetLowPriorityNodes") or 0
            # The pool shows the timeout of its latest resize (creation counts as one).
            record.doc["resizeTimeout"] = (body.get("resizeTimeout")
                                           or requests.DEFAULT_RESIZE_TIMEOUT)
            record.doc.pop("resizeErrors", None)
            record.private.pop("resize_stopped", None)
            docs.set_allocation_state(record.doc, AllocationState.RESIZING)
            docs.touch(record.doc)

        record = self._mutate(pool_id, apply)
        # Busy nodes first, so the allocator's pass counts them out and removes only the
        # idle surplus. The resize stands once applied: a pool deleted meanwhile has
        # nothing left to shed, and the client still gets its 202.
        if self.shed is not None:
            shed_busy_nodes(self.shed, self.store, pool_id, option)
        self.allocator.kick(pool_id)
        return record.doc

    # -- nodes -------------------------------------------------------------------------
    def nodes(self, pool_id: str) -> list[Json]:
        self.get(pool_id)
        return [r.doc for r in self.store.list(NODE, pool_id)]

    def node(self, pool_id: str, node_id: str) -> Record:
        self.get(pool_id)
        return NODES.get(self.store, pool_id, node_id)

    def node_root(self, pool_id: str, node_id: str) -> Path:
        """The host directory that is ``/mnt/batch/tasks`` on that node."""
        spec = self.allocator.node_spec(self.node(pool_id, node_id))
        return Path(spec.batch_dir) / "tasks"

    # -- checks ------------------------------------------------------------------------
    def _mutate(self, pool_id: str, change: Any) -> Record:
        self.get(pool_id)
        return self.store.mutate(POOL, "", pool_id, change)

    def _free_slot(self) -> tuple[int, ipaddress.IPv4Network]:
        used = {r.private["slot"] for r in self.store.list(POOL)}
        reasons: list[str] = []
        for slot in range(1, MAX_SLOTS + 1):
            if slot in used:
                continue
            subnet = nodes.subnet_for_slot(slot, self.settings.subnet_base)
            conflict = nodes.slot_in_use(slot) or nodes.subnet_conflicts(subnet)
            if conflict is None:
                conflict = self._claim(slot, subnet)
            if conflict is None:
                return slot, subnet
            reasons.append(f"{subnet}: {conflict}")
        raise BatchError(409, "PoolQuotaReached",
                         "No free address range is left for another pool on this engine.",
                         [("Reason", "; ".join(reasons[-3:]) or "all slots in use")])

    def _claim(self, slot: int, subnet: ipaddress.IPv4Network) -> str | None:
        """Take the slot for good by creating its bridge (the marker first, as the allocator
        does); why not, when another engine took it since ``slot_in_use`` looked."""
        nodes.mark_bridge(self.settings.nodes_dir, slot, present=True)
        if nodes.claim_bridge(nodes.PoolNet(slot, subnet)):
            return None
        nodes.mark_bridge(self.settings.nodes_dir, slot, present=False)
        return "taken by another engine meanwhile"

    def _release(self, slot: int, subnet: ipaddress.IPv4Network) -> None:
        nodes.delete_pool_network(nodes.PoolNet(slot, subnet))
        nodes.mark_bridge(self.settings.nodes_dir, slot, present=False)

    def check_capacity(self, new_nodes: int) -> None:
        """Refuse ``new_nodes`` more nodes when this machine's memory cannot hold them."""
        if new_nodes <= 0:
            return
        available = _available_memory_mb()
        needed = new_nodes * NODE_MEMORY_MB
        if needed > available - 1024:
            raise requests.bad_value(
                "targetDedicatedNodes", new_nodes,
                f"{new_nodes} more nodes need about {needed} MB of memory and this machine has "
                f"{available} MB available; ask for fewer nodes or delete another pool",
            )


def _check_targets(body: dict[str, Any]) -> None:
    dedicated = requests.check_count(body.get("targetDedicatedNodes"), "targetDedicatedNodes")
    low = requests.check_count(body.get("targetLowPriorityNodes"), "targetLowPriorityNodes")
    if dedicated + low > MAX_NODES_PER_POOL:
        raise requests.bad_value("targetDedicatedNodes", dedicated + low,
                                 f"a local pool holds at most {MAX_NODES_PER_POOL} nodes")


def _check_resizable(pool: Json, if_match: str | None) -> None:
    """A resize's refusals: a stale eTag, a pool going or resizing, an autoscale pool."""
    requests.check_etag(pool, if_match)
    if pool["state"] == PoolState.DELETING:
        raise pool_being_deleted()
    if pool["allocationState"] != AllocationState.STEADY:
        raise pool_being_resized()
    if pool.get("enableAutoScale"):
        # The service's documented 409: an autoscale pool is sized by its formula.
        raise BatchError(409, "OperationInvalidForCurrentState",
                         "The specified operation is not valid for the current state "
                         "of the resource.",
                         [("Reason", "the pool has autoscale enabled: disable it "
                                     "before resizing the pool")])


def _normalise_resize_timeout(body: dict[str, Any]) -> None:
    """The body's ``resizeTimeout`` checked and in the service's form, when it has one."""
    if body.get("resizeTimeout") is not None:
        body["resizeTimeout"] = wire.format_duration(
            requests.check_resize_timeout(body["resizeTimeout"]))


def _available_memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0
