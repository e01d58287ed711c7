"""Where a task may go: free slots per node, dependencies, multi-instance requirements,
and the terms of a job manager task.

Pure bookkeeping over store records; the scheduler decides, this counts. A job manager
task carries its manager's terms in its record (``mark_manager``): ``runExclusive`` (the
default) takes a whole free node and leaves it to nothing else while the manager runs;
``allowLowPriorityNode`` false keeps it to dedicated nodes (``isDedicated``), and a pool
sized without any says so on the task (``requirements_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from shipyard.engine.agent.execution import Node
from shipyard.engine.agent.taskrun import NodeKey, TaskRun
from shipyard.engine.allocation.allocator import NODE, POOL
from shipyard.engine.model import docs, wire
from shipyard.engine.model.multiinstance import MultiInstance
from shipyard.engine.model.states import (
    NODE_SCHEDULABLE,
    DependencyAction,
    SchedulingState,
    TaskState,
)
from shipyard.engine.store import Json, Record, Store

NodeLookup = Callable[[str, str], Node | None]
#: How much a job's effective priority grows per second its oldest ready task waits.
AGING_PER_SECOND = 1.0
#: The key of a job manager task's terms in its record's private part.
MANAGER_KEY = "job_manager"


@dataclass(frozen=True)
class ManagerTerms:
    """How a job manager task may be placed: the job's ``jobManagerTask`` settings."""

    #: ``runExclusive``: no other task on its node while it runs.
    exclusive: bool = True
    #: ``allowLowPriorityNode``: false keeps it to dedicated nodes.
    low_priority: bool = True


def mark_manager(record: Record, manager: Json) -> None:
    """Keep a job manager's terms in its task record (the service's defaults: true)."""
    record.private[MANAGER_KEY] = {
        "exclusive": manager.get("runExclusive") is not False,
        "low_priority": manager.get("allowLowPriorityNode") is not False}


def manager_terms(task: Record) -> ManagerTerms | None:
    """The terms of a job manager task, or None for any other task."""
    raw = task.private.get(MANAGER_KEY)
    if raw is None:
        return None
    return ManagerTerms(bool(raw["exclusive"]), bool(raw["low_priority"]))


@dataclass
class Capacity:
    """Free task slots on every usable node, taken as tasks are placed in one tick."""

    free: dict[NodeKey, int] = field(default_factory=dict)
    nodes: dict[NodeKey, Node] = field(default_factory=dict)
    order: dict[str, list[NodeKey]] = field(default_factory=dict)
    #: Low-priority (spot) nodes: ``isDedicated`` false.
    low_priority: set[NodeKey] = field(default_factory=set)
    #: Nodes under a live task that may wait for other tasks to run: a job manager.
    waiting: set[NodeKey] = field(default_factory=set)

    @classmethod
    def measure(cls, store: Store, live: list[Record], lookup: NodeLookup) -> Capacity:
        capacity = cls()
        for pool in store.list(POOL):
            slots = int(pool.doc.get("taskSlotsPerNode") or 1)
            keys = capacity.order.setdefault(pool.doc["id"].lower(), [])
            for record in store.list(NODE, pool.doc["id"]):
                node = lookup(pool.doc["id"], record.doc["id"])
                if node is None or record.doc["state"] not in NODE_SCHEDULABLE or \
                        record.doc.get("schedulingState",
                                       SchedulingState.ENABLED) != SchedulingState.ENABLED:
                    continue
                key = (pool.doc["id"].lower(), record.doc["id"].lower())
                capacity.free[key] = slots
                capacity.nodes[key] = node
                keys.append(key)
                if not record.doc.get("isDedicated", True):
                    capacity.low_priority.add(key)
        for task in live:
            capacity._use(task)
        return capacity

    def _use(self, task: Record) -> None:
        slots = slots_held(task)
        terms = manager_terms(task)
        for pool_id, node_id in task_nodes(task):
            key = (pool_id.lower(), node_id.lower())
            if key in self.free:
                self.free[key] -= slots
                if terms is not None:
                    self.waiting.add(key)
                if terms is not None and terms.exclusive:
                    self.free[key] = min(self.free[key], 0)

    def full(self, pool_id: str) -> bool:
        """No usable node of the pool has a free slot left: nothing more fits this tick."""
        return all(self.free[k] <= 0 for k in self.order.get(pool_id.lower(), []))

    def candidates(self, pool: Json, task: Record, blocked: set[tuple[str, ...]]
                   ) -> list[NodeKey]:
        """The pool's usable nodes ``task`` may use at all, busy or not."""
        terms = manager_terms(task)
        return [k for k in self.order.get(pool["id"].lower(), [])
                if (self.nodes[k].pool_id, self.nodes[k].node_id) not in blocked
                and (terms is None or terms.low_priority or k not in self.low_priority)]

    def take(self, pool: Json, task: Record, blocked: set[tuple[str, ...]]
             ) -> list[Node] | None:
        """Nodes for ``task`` (taken out of the free slots), or None if it does not fit now."""
        keys = self.candidates(pool, task, blocked)
        whole = int(pool.get("taskSlotsPerNode") or 1)
        multi = MultiInstance.of(task)
        if multi:
            chosen = [k for k in keys if self.free[k] >= whole][:multi.instances]
            if len(chosen) < multi.instances:
                return None
            needed = 1
        else:
            terms = manager_terms(task)
            needed = int(task.doc.get("requiredSlots") or 1)
            if terms is not None and terms.exclusive:
                needed = whole  # the whole node, so nothing else lands beside it
            fitting = [k for k in keys if self.free[k] >= needed]
            if not fitting:
                return None
            pack = (pool.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "Pack"
            chosen = [min(fitting, key=lambda k: self.free[k]) if pack
                      else max(fitting, key=lambda k: self.free[k])]
        for key in chosen:
            self.free[key] -= needed
        return [self.nodes[k] for k in chosen]

    def holdable(self, pool: Json, task: Record, blocked: set[tuple[str, ...]]
                 ) -> list[NodeKey] | None:
        """The whole free nodes a waiting multi-instance ``task`` could use now (at most
        its instance count), to hold for it; None when holding any would only idle them.

        That is when the pool's usable nodes could not start it even once every task on
        them that ends by itself had ended: a node under a live job manager counts out,
        for a manager waits for its job's tasks, which may need the very nodes held.
        """
        multi = MultiInstance.of(task)
        keys = [k for k in self.candidates(pool, task, blocked) if k not in self.waiting]
        if multi is None or len(keys) < multi.instances:
            return None
        whole = int(pool.get("taskSlotsPerNode") or 1)
        return [k for k in keys if self.free[k] >= whole][:multi.instances]

    def hold(self, keys: list[NodeKey]) -> None:
        """Keep ``keys`` from every other task this tick."""
        for key in keys:
            self.free[key] = 0


def task_nodes(task: Record) -> list[NodeKey]:
    """(pool, node) pairs a live task holds: assigned while preparing, its instances after."""
    run = TaskRun.of(task)
    if task.doc["state"] == TaskState.PREPARING:
        return run.assigned
    return [item.node for item in run.instances]


def slots_held(task: Record) -> int:
    """Slots a live task holds on each of its nodes (an instance of a multi-instance task: 1)."""
    return 1 if MultiInstance.of(task) else int(task.doc.get("requiredSlots") or 1)


def urgency(job: Record, oldest: Record) -> tuple[float, str, int]:
    """Sort key: job priority aged by how long its oldest ready task waits, then age.

    Equal priorities serve the oldest task first, so a job that keeps adding tasks cannot
    hold a later job back; aging lets even a low-priority job through eventually.
    """
    created = oldest.doc.get("creationTime") or docs.now()
    waited = (wire.utcnow() - wire.parse_datetime(created)).total_seconds()
    effective = int(job.doc.get("priority") or 0) + waited * AGING_PER_SECOND
    return (-effective, created, int(job.private["seq"]))


class Unschedulable(NamedTuple):
    """Why a task can never run on its pool as the pool is: its ``failureInfo``."""

    code: str
    message: str


def requirements_error(pool: Json, task: Record) -> Unschedulable | None:
    """Why a task can never run on this pool as it is, or None."""
    multi = MultiInstance.of(task)
    slots = int(pool.get("taskSlotsPerNode") or 1)
    required = task.doc.get("requiredSlots")
    if multi:
        return _multi_instance_error(pool, multi, slots, int(required or 1))
    if int(required or 1) > slots:
        return Unschedulable("TaskRequirementsNotMet", (
            f"The task cannot be scheduled: it needs {required} slots but nodes of pool "
            f"{pool['id']} have {slots}."))
    terms = manager_terms(task)
    if terms is not None and not terms.low_priority and \
            not int(pool.get("targetDedicatedNodes") or 0):
        return Unschedulable("JobManagerRequirementsNotMet", (
            "The job manager task cannot be scheduled: it may not run on low-priority "
            f"nodes (allowLowPriorityNode false) and pool {pool['id']} has no dedicated "
            "nodes (targetDedicatedNodes 0)."))
    return None


def _multi_instance_error(pool: Json, multi: MultiInstance, slots: int, required: int
                          ) -> Unschedulable | None:
    problems = []
    if not pool.get("enableInterNodeCommunication"):
        problems.append("the pool must have enableInterNodeCommunication set to true")
    if slots != 1:
        problems.append(f"the pool must have taskSlotsPerNode 1 (it has {slots})")
    if required != 1:
        problems.append("a multi-instance task must have requiredSlots 1")
    size = int(pool.get("targetDedicatedNodes") or 0) + int(
        pool.get("targetLowPriorityNodes") or 0)
    if multi.instances > size:
        problems.append(f"it needs {multi.instances} nodes and the pool has {size}")
    if not problems:
        return None
    return Unschedulable("MultiInstanceRequirementsNotMet",
                         "The multi-instance task cannot be scheduled: "
                         + "; ".join(problems) + ".")


class ReadyQueue:
    """A job's active tasks whose dependencies are met, in submission order, read lazily.

    ``fetch(after_seq, limit)`` reads the next active tasks; a tick that can place a few
    tasks reads a page or two, not the job's whole backlog. ``first`` (a job manager
    waiting to run) comes before them all.
    """

    PAGE = 64

    def __init__(self, fetch: Callable[[int, int], list[Record]],
                 lookup: Callable[[str], Record | None], first: Record | None = None
                 ) -> None:
        self._fetch = fetch
        self._lookup = lookup
        self._after = 0
        self._skip: set[str] = set()
        self._buffer: list[Record] = []
        self._exhausted = False
        if first is not None:
            self._skip.add(first.doc["id"])
            if dependencies_met(first.doc, lookup):
                self._buffer.append(first)

    def peek(self) -> Record | None:
        while not self._buffer and not self._exhausted:
            page = self._fetch(self._after, self.PAGE)
            self._exhausted = len(page) < self.PAGE
            if page:
                self._after = page[-1].seq
            self._buffer = [t for t in page if t.doc["id"] not in self._skip
                            and dependencies_met(t.doc, self._lookup)]
        return self._buffer[0] if self._buffer else None

    def pop(self) -> Record | None:
        head = self.peek()
        if head is not None:
            self._buffer.pop(0)
        return head

    def drop(self, task_id: str) -> None:
        """Leave ``task_id`` out from now on (it was dealt with outside the queue)."""
        self._skip.add(task_id)
        self._buffer = [t for t in self._buffer if t.doc["id"] != task_id]


def dependencies_met(task: Json, lookup: Callable[[str], Record | None]) -> bool:
    """True when every task this one depends on completed and satisfied its dependents."""
    depends = task.get("dependsOn") or {}
    wanted = [str(i) for i in depends.get("taskIds") or []]
    for span in depends.get("taskIdRanges") or []:
        wanted += [str(i) for i in range(int(span["start"]), int(span["end"]) + 1)]
    for task_id in wanted:
        other = lookup(task_id)
        if other is None or other.doc["state"] != TaskState.COMPLETED:
            return False
        if (TaskRun.of(other).dependency or DependencyAction.BLOCK) != DependencyAction.SATISFY:
            return False
    return True
