"""Operations on nodes: reboot, reimage, deallocate, start, remove, (dis)able scheduling.

Each request is checked and answered at once: the node (or pool) takes its transitional
state in the same write, so the SDK's pollers see ``rebooting``/``reimaging``/
``deallocating``/``starting`` or a ``resizing`` pool from their first look. A worker
thread then settles the node's running tasks the way the option says, and hands the node
to the ``Allocator`` (restart, halt, remove):

- ``requeue``: running tasks go back to ``active`` (requeueCount + 1, retryCount as it
  was) and run again elsewhere or later;
- ``terminate``: running tasks complete with failureInfo ``TaskEnded`` and never rerun;
- ``taskcompletion``: no new task is placed; the running ones finish first;
- ``retaineddata``: as taskcompletion; the node's task data is kept (a reboot, a
  deallocation and a removal's wait never touch it).

While it waits the node is "draining" (``private["draining"]``): the scheduler keeps
watching its tasks, but places nothing there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from contextlib import suppress
from datetime import timedelta
from functools import partial
from typing import Any

from azure.batch import models
from azure.batch.models import _models  # the node option models are not exported

from shipyard.engine.agent.runs import Outcome
from shipyard.engine.allocation.allocator import NODE, POOL, Allocator, NodeRef
from shipyard.engine.model import docs, requests
from shipyard.engine.model.states import (
    NODE_REMOVABLE,
    NODE_UP,
    TASK_LIVE,
    AllocationState,
    ErrorCategory,
    NodeState,
    PoolState,
    SchedulingState,
    TaskResult,
)
from shipyard.engine.scheduling.jobflow import JOB, PREP, TASK
from shipyard.engine.scheduling.placement import manager_terms, task_nodes
from shipyard.engine.scheduling.scheduler import Scheduler
from shipyard.engine.services.pools import (
    DEALLOCATION_OPTIONS,
    PoolService,
    option_of,
    pool_being_deleted,
)
from shipyard.engine.store import Json, Record, RecordMissing, Store
from shipyard.errors import BatchError, ShipyardError

log = logging.getLogger(__name__)

OPTIONS = DEALLOCATION_OPTIONS
WAITING = ("taskcompletion", "retaineddata")
#: States a node may be rebooted or reimaged from (a failed node is what one reboots).
RESTARTABLE = NODE_UP | {NodeState.START_TASK_FAILED, NodeState.UNUSABLE}
DEALLOCATABLE = NODE_UP
MAX_REMOVE = 100
POLL = 0.5

#: The service's own conflict codes for a node that is busy with something else.
_BUSY: dict[str, tuple[str, str]] = {
    NodeState.CREATING: ("NodeBeingCreated", "The specified node is being created."),
    NodeState.STARTING: ("NodeBeingStarted", "The specified node is being started."),
    NodeState.WAITING_FOR_START_TASK: ("NodeBeingStarted",
                                       "The specified node is being started."),
    NodeState.REBOOTING: ("NodeBeingRebooted", "The specified node is being rebooted."),
    NodeState.REIMAGING: ("NodeBeingReimaged", "The specified node is being reimaged."),
    NodeState.UNUSABLE: ("NodeStateUnusable", "The state of the specified node is unusable."),
}


def node_conflict(state: str) -> BatchError:
    """409 for an operation the node's current ``state`` does not allow."""
    code, message = _BUSY.get(state, (
        "OperationInvalidForCurrentState",
        "The specified operation is not valid for the current state of the resource."))
    return BatchError(409, code, message, [("NodeState", state)])


class NodeOps:
    """The node-changing half of the node API; pool and node lookups come from PoolService."""

    def __init__(self, store: Store, pools: PoolService, allocator: Allocator,
                 scheduler: Scheduler) -> None:
        self.store = store
        self.pools = pools
        self.allocator = allocator
        self.scheduler = scheduler

    # -- restart, halt, start ----------------------------------------------------------
    def reboot(self, pool_id: str, node_id: str, body: dict[str, Any]) -> None:
        requests.parse(_models.BatchNodeRebootOptions, body)
        option = option_of(body, "nodeRebootOption", OPTIONS)
        ref = self._begin(pool_id, node_id, RESTARTABLE, NodeState.REBOOTING, option)
        self._spawn(ref, option, lambda: self._restart(ref, reimage=False))

    def reimage(self, pool_id: str, node_id: str, body: dict[str, Any]) -> None:
        requests.parse(_models.BatchNodeReimageOptions, body)
        option = option_of(body, "nodeReimageOption", OPTIONS)
        ref = self._begin(pool_id, node_id, RESTARTABLE, NodeState.REIMAGING, option)
        self._spawn(ref, option, lambda: self._restart(ref, reimage=True))

    def deallocate(self, pool_id: str, node_id: str, body: dict[str, Any]) -> None:
        requests.parse(_models.BatchNodeDeallocateOptions, body)
        option = option_of(body, "nodeDeallocateOption", OPTIONS)
        ref = self._begin(pool_id, node_id, DEALLOCATABLE, NodeState.DEALLOCATING, option)
        self._spawn(ref, option, lambda: self.allocator.halt(ref))

    def start(self, pool_id: str, node_id: str) -> None:
        ref = self._begin(pool_id, node_id, {NodeState.DEALLOCATED}, NodeState.STARTING, None)
        self._spawn(ref, None, lambda: self.allocator.restart(ref, keep_disk=True))

    def _begin(self, pool_id: str, node_id: str, allowed: Collection[NodeState],
               state: NodeState, option: str | None) -> NodeRef:
        """Check the node's state and enter ``state`` in one write (404s as the pool API)."""
        self.pools.node(pool_id, node_id)

        def enter(record: Record) -> None:
            if record.doc["state"] not in allowed:
                raise node_conflict(record.doc["state"])
            docs.set_node_state(record.doc, state)
            if option is not None:
                record.private["draining"] = option

        with self.scheduler.lock:
            record = self.store.mutate(NODE, pool_id, node_id, enter)
        return NodeRef(record.private["pool_id"], record.doc["id"])

    def _restart(self, ref: NodeRef, reimage: bool) -> None:
        self._forget_preps(ref, reimage)
        self.allocator.restart(ref, keep_disk=not reimage)

    def _forget_preps(self, ref: NodeRef, reimage: bool) -> None:
        """Job preparation runs again after a reimage, and after a reboot unless it
        succeeded and ``rerunOnNodeRebootAfterSuccess`` is false, as on the service."""
        for job in self.store.list(JOB):
            record = self.store.get(PREP, job.doc["id"], ref.node_id)
            if record is None:
                continue
            info = record.doc.get("jobPreparationTaskExecutionInfo") or {}
            rerun = (job.doc.get("jobPreparationTask") or {}).get(
                "rerunOnNodeRebootAfterSuccess", True)
            if reimage or rerun or info.get("result") != TaskResult.SUCCESS:
                self.store.delete(PREP, job.doc["id"], ref.node_id)

    # -- scheduling ----------------------------------------------------------------------
    def disable_scheduling(self, pool_id: str, node_id: str, body: dict[str, Any]) -> None:
        requests.parse(models.BatchNodeDisableSchedulingOptions, body)
        option = option_of(body, "nodeDisableSchedulingOption", OPTIONS[:3])
        record = self._set_scheduling(pool_id, node_id, SchedulingState.DISABLED)
        ref = NodeRef(record.private["pool_id"], record.doc["id"])
        if option != "taskcompletion":  # running tasks simply finish otherwise
            self._spawn(ref, option, lambda: None)

    def enable_scheduling(self, pool_id: str, node_id: str) -> None:
        self._set_scheduling(pool_id, node_id, SchedulingState.ENABLED)
        self.scheduler.kick()

    def _set_scheduling(self, pool_id: str, node_id: str, wanted: SchedulingState) -> Record:
        """Turn a node's scheduling on or off; an idle node shows ``offline`` while off."""
        self.pools.node(pool_id, node_id)
        shown, instead = ((NodeState.IDLE, NodeState.OFFLINE)
                          if wanted == SchedulingState.DISABLED
                          else (NodeState.OFFLINE, NodeState.IDLE))

        def change(record: Record) -> None:
            _check_scheduling_change(record, wanted)
            record.doc["schedulingState"] = wanted
            if record.doc["state"] == shown:
                docs.set_node_state(record.doc, instead)

        with self.scheduler.lock:
            return self.store.mutate(NODE, pool_id, node_id, change)

    # -- removal -----------------------------------------------------------------------
    def remove(self, pool_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        """``removenodes``: the pool shrinks by exactly these nodes; 202 with the pool."""
        requests.parse(models.BatchNodeRemoveOptions, body)
        ids = _node_list(body)
        option = option_of(body, "nodeDeallocationOption", OPTIONS)
        timeout = requests.check_resize_timeout(body.get("resizeTimeout"))
        records = [self.pools.node(pool_id, node_id) for node_id in ids]
        with self.scheduler.lock:
            pool = self.store.mutate(POOL, "", pool_id,
                                     lambda r: _shrink(r, records, if_match))
            self._take_out(pool_id, records, option, timeout)
        return pool.doc

    def shed_busy(self, pool_id: str, option: str) -> None:
        """A resize or an autoscale formula lowered the pool's targets below its busy nodes:
        take out the surplus busy nodes as ``option`` (``nodeDeallocationOption``, or the
        formula's ``$NodeDeallocationOption``) says.

        Idle and booting nodes go first and are the allocator's (``_plan``); only what
        they cannot cover is taken here: nodes running ordinary tasks before nodes running
        a job manager task (the service keeps those as long as it can), the newest nodes
        first, as the allocator picks.
        """
        with self.scheduler.lock:
            pool = self.pools.get(pool_id)
            busy = _busy_surplus(pool.doc, self.store.list(NODE, pool_id),
                                 self._manager_nodes())
            timeout = requests.check_resize_timeout(pool.doc.get("resizeTimeout"))
            self._take_out(pool_id, busy, option, timeout)

    def _manager_nodes(self) -> set[tuple[str, str]]:
        """Nodes running a job manager task, as lower-cased (pool, node) pairs."""
        found: set[tuple[str, str]] = set()
        for job in self.store.list(JOB):
            for task in self.store.in_states(TASK, job.doc["id"], TASK_LIVE):
                if manager_terms(task) is not None:
                    found.update((p.lower(), n.lower()) for p, n in task_nodes(task))
        return found

    def _take_out(self, pool_id: str, records: list[Record], option: str,
                  timeout: timedelta) -> None:
        """Mark the nodes leaving and settle each on its own thread (scheduler lock held)."""
        for record in records:
            self.store.mutate(NODE, pool_id, record.doc["id"], lambda r: _leave(r, option))
        deadline = time.monotonic() + timeout.total_seconds()
        for record in records:
            ref = NodeRef(record.private["pool_id"], record.doc["id"])
            self._spawn(ref, option, partial(self._remove, ref), deadline)

    def _remove(self, ref: NodeRef) -> None:
        record = self.store.get(NODE, ref.pool_id, ref.node_id)
        if record is not None:
            self.allocator.remove_node(record)

    # -- extensions --------------------------------------------------------------------
    def extensions(self, pool_id: str, node_id: str) -> list[Json]:
        """No VM extensions run on a local node: a valid, empty list."""
        self.pools.node(pool_id, node_id)
        return []

    def extension(self, pool_id: str, node_id: str, name: str) -> Json:
        self.pools.node(pool_id, node_id)
        raise BatchError(404, "ResourceNotFound", "The specified resource does not exist.",
                         [("ExtensionName", name)])

    # -- the worker ----------------------------------------------------------------------
    def _spawn(self, ref: NodeRef, option: str | None, then: Callable[[], None],
               deadline: float | None = None) -> None:
        def work() -> None:
            try:
                if option is not None:
                    self._settle(ref, option, deadline)
                then()
            except RecordMissing:
                pass  # the node or its pool went away meanwhile
            except ShipyardError as exc:
                log.warning("node %s: %s", ref.node_id, exc)
                self._fail(ref, str(exc))
            except Exception:
                log.exception("node %s: operation failed", ref.node_id)
                self._fail(ref, "the engine failed to complete the node operation")

        threading.Thread(target=work, name=f"nodeop-{ref.node_id[:12]}", daemon=True).start()

    def _settle(self, ref: NodeRef, option: str, deadline: float | None) -> None:
        """Deal with the node's running tasks as ``option`` says, then stop draining."""
        if option in WAITING:
            while self._live_on(ref) and (deadline is None or time.monotonic() < deadline):
                time.sleep(POLL)
        # Past a removal's resizeTimeout, what still runs is requeued.
        outcome = _outcome(option)
        with self.scheduler.lock:
            for job, task in self._live_on(ref):
                self.scheduler.finish(job, task, outcome)
            self.store.mutate(NODE, ref.pool_id, ref.node_id,
                              lambda r: r.private.pop("draining", None))

    def _live_on(self, ref: NodeRef) -> list[tuple[Record, Record]]:
        """(job, task) of every running or preparing task holding the node."""
        key = (ref.pool_id.lower(), ref.node_id.lower())
        found = []
        for job in self.store.list(JOB):
            for task in self.store.in_states(TASK, job.doc["id"], TASK_LIVE):
                if key in {(p.lower(), n.lower()) for p, n in task_nodes(task)}:
                    found.append((job, task))
        return found

    def _fail(self, ref: NodeRef, message: str) -> None:
        with suppress(RecordMissing):
            self.store.mutate(NODE, ref.pool_id, ref.node_id,
                              lambda r: docs.node_error(r.doc, "NodeOperationFailed", message))
        # An unusable node the pool no longer wants (a failed removal) goes in the next pass.
        self.allocator.kick(ref.pool_id)


def _outcome(option: str) -> Outcome:
    if option == "terminate":
        return Outcome(None, "TaskEnded", "The task was terminated because its node was "
                       "taken down with the terminate option", retry=False)
    return Outcome(None, "TaskRequeued", "The task's node was taken down; the task is "
                   "requeued", category=ErrorCategory.SERVER_ERROR, requeue=True)


def _check_scheduling_change(record: Record, wanted: SchedulingState) -> None:
    if record.doc["state"] in (NodeState.LEAVING_POOL, NodeState.DEALLOCATING,
                               NodeState.DEALLOCATED):
        raise node_conflict(record.doc["state"])
    if record.doc.get("schedulingState", SchedulingState.ENABLED) == wanted:
        raise BatchError(409, "NodeAlreadyInTargetSchedulingState",
                         "The specified node is already in the target scheduling state.")


def _node_list(body: dict[str, Any]) -> list[str]:
    ids = body.get("nodeList")
    if ids is None or ids == []:
        raise requests.missing("nodeList")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise requests.bad_value("nodeList", ids, "must be a list of node ids")
    if len(ids) > MAX_REMOVE:
        raise requests.bad_value("nodeList", len(ids),
                                 f"at most {MAX_REMOVE} nodes can be removed per request")
    return list(dict.fromkeys(ids))


def _shrink(pool: Record, leaving: list[Record], if_match: str | None) -> None:
    """The pool side of removenodes: checks, smaller targets, ``resizing``, new eTag."""
    requests.check_etag(pool.doc, if_match)
    if pool.doc["state"] == PoolState.DELETING:
        raise pool_being_deleted()
    if pool.doc["allocationState"] != AllocationState.STEADY:
        raise BatchError(409, "PoolBeingResized",
                         "The specified pool is being resized; wait for it to be steady.")
    for record in leaving:
        if record.doc["state"] == NodeState.LEAVING_POOL:
            raise node_conflict(NodeState.LEAVING_POOL)
    dedicated = sum(bool(r.doc["isDedicated"]) for r in leaving)
    pool.doc["targetDedicatedNodes"] = max(0, pool.doc["targetDedicatedNodes"] - dedicated)
    pool.doc["targetLowPriorityNodes"] = max(
        0, pool.doc["targetLowPriorityNodes"] - (len(leaving) - dedicated))
    docs.set_allocation_state(pool.doc, AllocationState.RESIZING)
    docs.touch(pool.doc)


def _busy_surplus(pool: Json, members: list[Record], managers: set[tuple[str, str]]
                  ) -> list[Record]:
    """Busy nodes beyond the pool's targets once every removable node is counted out;
    nodes running a job manager (``managers``) last, then the newest first."""
    staying = [m for m in members if m.doc["state"] != NodeState.LEAVING_POOL]
    found: list[Record] = []

    def order(member: Record) -> tuple[bool, int]:
        key = (member.private["pool_id"].lower(), member.doc["id"].lower())
        return key in managers, -int(member.private["index"])

    for dedicated, target in ((True, pool["targetDedicatedNodes"]),
                              (False, pool["targetLowPriorityNodes"])):
        have = [m for m in staying if bool(m.doc["isDedicated"]) == dedicated]
        removable = sum(m.doc["state"] in NODE_REMOVABLE for m in have)
        busy = [m for m in have if m.doc["state"] in NODE_UP - NODE_REMOVABLE
                and not m.private.get("draining")]
        busy.sort(key=order)
        found += busy[:max(0, len(have) - target - removable)]
    return found


def _leave(record: Record, option: str) -> None:
    docs.set_node_state(record.doc, NodeState.LEAVING_POOL)
    record.private["draining"] = option
    # Holds the pool in ``resizing`` until the record is gone (Allocator._finish_resize).
    record.private["removing"] = True
