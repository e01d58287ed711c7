"""Where a task may go: free slots per node, dependencies, multi-instance requirements.

Pure bookkeeping over store records; the scheduler decides, this counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class Capacity:
    """Free task slots on every usable node, taken as tasks are placed in one tick."""

    free: dict[tuple[str, str], int] = field(default_factory=dict)
    nodes: dict[tuple[str, str], Node] = field(default_factory=dict)
    order: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

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
        for task in live:
            capacity._use(task)
        return capacity

    def _use(self, task: Record) -> None:
        slots = slots_held(task)
        for pool_id, node_id in task_nodes(task):
            key = (pool_id.lower(), node_id.lower())
            if key in self.free:
                self.free[key] -= slots

    def full(self, pool_id: str) -> bool:
        """No usable node of the pool has a free slot left: nothing more fits this tick."""
        return all(self.free[k] <= 0 for k in self.order.get(pool_id.lower(), []))

    def take(self, pool: Json, task: Record, blocked: set[tuple[str, ...]]
             ) -> list[Node] | None:
        """Nodes for ``task`` (taken out of the free slots), or None if it does not fit now."""
        keys = [k for k in self.order.get(pool["id"].lower(), [])
                if (self.nodes[k].pool_id, self.nodes[k].node_id) not in blocked]
        multi = MultiInstance.of(task)
        if multi:
            whole = int(pool.get("taskSlotsPerNode") or 1)
            chosen = [k for k in keys if self.free[k] >= whole][:multi.instances]
            if len(chosen) < multi.instances:
                return None
            needed = 1
        else:
            needed = int(task.doc.get("requiredSlots") or 1)
            fitting = [k for k in keys if self.free[k] >= needed]
            if not fitting:
                return None
            pack = (pool.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "Pack"
            chosen = [min(fitting, key=lambda k: self.free[k]) if pack
                      else max(fitting, key=lambda k: self.free[k])]
        for key in chosen:
            self.free[key] -= needed
        return [self.nodes[k] for k in chosen]


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


def requirements_error(pool: Json, task: Record) -> str | None:
    """Why a task can never run on this pool as it is, or None."""
    multi = MultiInstance.of(task)
    slots = int(pool.get("taskSlotsPerNode") or 1)
    required = task.doc.get("requiredSlots")
    if not multi:
        if int(required or 1) > slots:
            return (f"the task needs {required} slots but nodes of pool "
                    f"{pool['id']} have {slots}")
        return None
    problems = []
    if not pool.get("enableInterNodeCommunication"):
        problems.append("the pool must have enableInterNodeCommunication set to true")
    if slots != 1:
        problems.append(f"the pool must have taskSlotsPerNode 1 (it has {slots})")
    if int(required or 1) != 1:
        problems.append("a multi-instance task must have requiredSlots 1")
    wanted = multi.instances
    size = int(pool.get("targetDedicatedNodes") or 0) + int(
        pool.get("targetLowPriorityNodes") or 0)
    if wanted > size:
        problems.append(f"it needs {wanted} nodes and the pool has {size}")
    if not problems:
        return None
    return "The multi-instance task cannot be scheduled: " + "; ".join(problems) + "."


class ReadyQueue:
    """A job's active tasks whose dependencies are met, in submission order, read lazily.

    ``fetch(after_seq, limit)`` reads the next active tasks; a tick that can place a few
    tasks reads a page or two, not the job's whole backlog.
    """

    PAGE = 64

    def __init__(self, fetch: Callable[[int, int], list[Record]],
                 lookup: Callable[[str], Record | None]) -> None:
        self._fetch = fetch
        self._lookup = lookup
        self._after = 0
        self._buffer: list[Record] = []
        self._exhausted = False

    def peek(self) -> Record | None:
        while not self._buffer and not self._exhausted:
            page = self._fetch(self._after, self.PAGE)
            self._exhausted = len(page) < self.PAGE
            if page:
                self._after = page[-1].seq
            self._buffer = [t for t in page if dependencies_met(t.doc, self._lookup)]
        return self._buffer[0] if self._buffer else None

    def pop(self) -> Record | None:
        head = self.peek()
        if head is not None:
            self._buffer.pop(0)
        return head


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
