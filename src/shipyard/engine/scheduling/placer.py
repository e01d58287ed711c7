"""One tick's placement pass: the ready tasks of active jobs onto free slots, fairly.

Jobs take turns, one task at a time, in ``urgency`` order (priority aged by how long the
job's oldest ready task waits, then age), so no job starves another; a job whose pool has
no free slot left stops reading its backlog. A placed task gets its nodes in the store:
on a job with a preparation task it turns ``preparing`` while that runs on each node
(the scheduler starts it when they are done); otherwise it comes back from ``place`` to
be launched. A task its pool can never run says why in its ``failureInfo`` and waits.
What fits where is counted by ``placement``; this decides and records. Runs inside a
scheduler tick, under ``Scheduler.lock``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from shipyard.engine.agent.execution import Node
from shipyard.engine.allocation.allocator import POOL
from shipyard.engine.model import docs
from shipyard.engine.model.states import ErrorCategory, PoolState, TaskState
from shipyard.engine.scheduling import transitions
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.scheduling.placement import (
    Capacity,
    NodeLookup,
    ReadyQueue,
    requirements_error,
    urgency,
)
from shipyard.engine.store import Record, Store

#: A task to launch: its job, itself, and its nodes (the primary first).
Placed = tuple[Record, Record, list[Node]]


class Placer:
    """Places ready tasks; ``prepare`` starts a job's preparation task on a node."""

    def __init__(self, store: Store, lookup: NodeLookup,
                 prepare: Callable[[Record, Node], None], kick: Callable[[], None]) -> None:
        self.store = store
        self.lookup = lookup
        self.prepare = prepare
        self.kick = kick

    def place(self, jobs: list[Record], live: list[Record]) -> list[Placed]:
        """Place what fits of ``jobs`` (active) beside the ``live`` tasks; those to launch."""
        if not jobs:
            return []
        capacity = Capacity.measure(self.store, live, self.lookup)
        queues = {j.doc["id"]: self._ready_queue(j) for j in jobs}
        placed: list[Placed] = []
        placed_any = True
        while placed_any:
            placed_any = False
            heads = {j.doc["id"]: queues[j.doc["id"]].peek() for j in jobs}
            waiting = [(j, head) for j in jobs if (head := heads[j.doc["id"]]) is not None]
            for job, _ in sorted(waiting, key=lambda pair: urgency(*pair)):
                if self._place_one(job, queues[job.doc["id"]], capacity, placed):
                    placed_any = True
                    break
        return placed

    def _ready_queue(self, job: Record) -> ReadyQueue:
        job_id = job.doc["id"]
        return ReadyQueue(partial(self.store.in_states, TASK, job_id, TaskState.ACTIVE),
                          partial(self.store.get, TASK, job_id))

    def _place_one(self, job: Record, queue: ReadyQueue, capacity: Capacity,
                   placed: list[Placed]) -> bool:
        pool_id = docs.pool_id_of(job.doc)
        while (task := queue.pop()) is not None:
            if self._try_place(job, task, capacity, placed):
                return True
            if capacity.full(pool_id):
                return False  # the rest of the backlog cannot fit either: stop reading it
        return False

    def _try_place(self, job: Record, task: Record, capacity: Capacity,
                   placed: list[Placed]) -> bool:
        pool = self.store.get(POOL, "", docs.pool_id_of(job.doc))
        if pool is None or pool.doc["state"] != PoolState.ACTIVE:
            return False
        problem = requirements_error(pool.doc, task)
        if problem:
            self._note_unschedulable(job, task, problem)
            return False
        blocked = {tuple(b) for b in job.private.get("blocked", [])}
        nodes = capacity.take(pool.doc, task, blocked)
        if nodes is None:
            return False
        self._assign(job, task, nodes, placed)
        return True

    def _assign(self, job: Record, task: Record, nodes: list[Node],
                placed: list[Placed]) -> None:
        pairs = [(n.pool_id, n.node_id) for n in nodes]
        _refresh(job, self.store.mutate(JOB, "", job.doc["id"],
                                        lambda r: _remember_nodes(r, pairs)))
        if not job.doc.get("jobPreparationTask"):
            placed.append((job, task, nodes))
            return
        for node in nodes:
            self.prepare(job, node)
        _refresh(task, self.store.mutate(TASK, job.doc["id"], task.doc["id"],
                                         partial(transitions.prepare, nodes=pairs)))
        self.kick()

    def _note_unschedulable(self, job: Record, task: Record, problem: str) -> None:
        info = task.doc.get("executionInfo") or {}
        if (info.get("failureInfo") or {}).get("message") == problem:
            return

        def note(record: Record) -> None:
            record.doc.setdefault("executionInfo", {})["failureInfo"] = {
                "category": ErrorCategory.USER_ERROR, "code": "MultiInstanceRequirementsNotMet",
                "message": problem}

        _refresh(task, self.store.mutate(TASK, job.doc["id"], task.doc["id"], note))


def _refresh(record: Record, updated: Record) -> None:
    """Keep the caller's record what the store now holds."""
    record.doc, record.private = updated.doc, updated.private


def _remember_nodes(job: Record, pairs: list[tuple[str, str]]) -> None:
    """The job's nodes, for its release task and its directories' removal."""
    known = job.private.setdefault("nodes", [])
    for pair in pairs:
        if list(pair) not in known:
            known.append(list(pair))
