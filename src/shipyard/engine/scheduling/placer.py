"""One tick's placement pass: the ready tasks of active jobs onto free slots, fairly.

Jobs take turns, one task at a time, in ``urgency`` order (priority aged by how long the
job's oldest ready task waits, then age), so no job starves another; a job whose pool has
no free slot left stops reading its backlog. A placed task gets its nodes in the store:
on a job with a preparation task it turns ``preparing`` while that runs on each node
(the scheduler starts it when they are done); otherwise it comes back from ``place`` to
be launched. A task its pool can never run says why in its ``failureInfo`` and waits.
What fits where is counted by ``placement``; this decides and records. Runs inside a
scheduler tick, under ``Scheduler.lock``.

Job managers. A job's manager task goes first among the job's tasks whenever it waits:
each tick tries it before any other task of its job, as the service "tries to schedule
the Job Manager Task before any other Tasks in the Job". That is a priority, not a gate:
when it does not fit now (``runExclusive`` waiting for a whole free node, say) the job's
other tasks take what is free. A manager its pool can never run as sized (dedicated nodes
only, on a pool of none) says so in its ``failureInfo``, as an unfit multi-instance task
does, and waits. Across jobs only the jobs' urgency counts.

Multi-instance tasks and node reservation. A multi-instance task needs all its nodes
free at once (gang scheduling, as the service does); nodes free up one at a time, so a
stream of plain tasks would take each as it frees and the gang could wait forever. The
service documents no rule for this. The rule here: when the most urgent ready task of a
pool (the head of the pool's most urgent job) is a multi-instance task, the pool is
reserved for it. From then on, each tick tries that task first; while it does not fit,
the whole free nodes it could use are held for it (at most its instance count) and no
other task gets them; nodes it does not need stay everyone's. The reservation ends when
the task is placed or stops waiting (completed, deleted, its job no longer active). One
reservation per pool, so at most one gang's worth of nodes ever sits idle. The
reservation bypasses urgency for that one task only: it was at the head when it
reserved, so it takes nothing it was not owed. Reservations live in memory: after an
engine restart the next tick makes them anew.

Two limits keep a reservation from idling nodes for good:
- Nothing is held unless the task could start on the pool's usable nodes once every task
  on them that ends by itself has ended. A node under a live job manager does not count:
  the manager runs until its job's tasks are done, and those may need the very nodes
  held, so holding them could deadlock. A node down does not count either.
- A reservation that has held its nodes ``HOLD_SECONDS`` without gaining another gives
  up: its pool is everyone's for ``REST_SECONDS``, then a tick may reserve it again. This
  bounds what any other waiting (a task that waits on tasks without being a manager, a
  task that never ends) can cost: idle nodes for a while, never forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from shipyard.engine.agent.execution import Node
from shipyard.engine.allocation.allocator import POOL
from shipyard.engine.model import docs
from shipyard.engine.model.multiinstance import MultiInstance
from shipyard.engine.model.states import ErrorCategory, PoolState, TaskState
from shipyard.engine.scheduling import transitions
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.scheduling.placement import (
    Capacity,
    NodeLookup,
    ReadyQueue,
    Unschedulable,
    requirements_error,
    urgency,
)
from shipyard.engine.store import Record, Store

#: A task to launch: its job, itself, and its nodes (the primary first).
Placed = tuple[Record, Record, list[Node]]
#: A reservation gives up when it held nodes this long without gaining another (seconds)...
HOLD_SECONDS = 120.0
#: ...and its pool is everyone's this long before a task may reserve it again.
REST_SECONDS = 60.0


@dataclass
class Reservation:
    """A pool reserved for a waiting multi-instance task (see the module docstring)."""

    job_id: str
    task_id: str
    #: When it last gained a held node (or began), on the placer's clock.
    since: float
    #: How many nodes it held at its latest tick.
    held: int = 0


class Placer:
    """Places ready tasks; ``prepare`` starts a job's preparation task on a node."""

    def __init__(self, store: Store, lookup: NodeLookup,
                 prepare: Callable[[Record, Node], None], kick: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.lookup = lookup
        self.prepare = prepare
        self.kick = kick
        self.clock = clock
        #: Pool id (lower case) -> the reservation of the multi-instance task it waits for.
        self.reserved: dict[str, Reservation] = {}
        #: Pool id (lower case) -> until when no task may reserve it (``REST_SECONDS``).
        self.resting: dict[str, float] = {}

    def place(self, jobs: list[Record], live: list[Record]) -> list[Placed]:
        """Place what fits of ``jobs`` (active) beside the ``live`` tasks; those to launch."""
        if not jobs:
            self.reserved.clear()
            self.resting.clear()
            return []
        capacity = Capacity.measure(self.store, live, self.lookup)
        queues = {j.doc["id"]: self._ready_queue(j) for j in jobs}
        placed: list[Placed] = []
        self._reserve(jobs, queues)
        self._serve_reserved(jobs, queues, capacity, placed)
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
        manager = self._manager_waiting(job)
        ahead = manager is not None and manager.doc["state"] == TaskState.ACTIVE
        return ReadyQueue(partial(self.store.in_states, TASK, job_id, TaskState.ACTIVE),
                          partial(self.store.get, TASK, job_id),
                          first=manager if ahead else None)

    def _manager_waiting(self, job: Record) -> Record | None:
        """The job's manager task while it waits to run (active or preparing), or None."""
        spec = job.doc.get("jobManagerTask")
        if not spec:
            return None
        task = self.store.get(TASK, job.doc["id"], str(spec.get("id", "")))
        if task is None or task.doc["state"] not in (TaskState.ACTIVE, TaskState.PREPARING):
            return None
        return task

    # -- reservations for multi-instance tasks (see the module docstring) -----------------
    def _reserve(self, jobs: list[Record], queues: dict[str, ReadyQueue]) -> None:
        """Reserve each pool whose most urgent ready task is a multi-instance task."""
        now = self.clock()
        self.resting = {k: until for k, until in self.resting.items() if until > now}
        waiting = [(j, head) for j in jobs if (head := queues[j.doc["id"]].peek()) is not None]
        seen: set[str] = set()
        for job, head in sorted(waiting, key=lambda pair: urgency(*pair)):
            pool_key = docs.pool_id_of(job.doc).lower()
            if pool_key in seen:
                continue
            seen.add(pool_key)
            if pool_key not in self.reserved and pool_key not in self.resting and \
                    MultiInstance.of(head) is not None:
                self.reserved[pool_key] = Reservation(job.doc["id"], head.doc["id"], now)

    def _serve_reserved(self, jobs: list[Record], queues: dict[str, ReadyQueue],
                        capacity: Capacity, placed: list[Placed]) -> None:
        """Each reserved task first: placed if it fits, else its pool's free nodes held."""
        active = {j.doc["id"]: j for j in jobs}
        for pool_key, held in list(self.reserved.items()):
            job = active.get(held.job_id)
            task = self.store.get(TASK, held.job_id, held.task_id) if job else None
            if job is None or task is None or task.doc["state"] != TaskState.ACTIVE or \
                    docs.pool_id_of(job.doc).lower() != pool_key:
                del self.reserved[pool_key]
                continue
            queues[held.job_id].drop(held.task_id)  # dealt with here this tick
            if self._try_place(job, task, capacity, placed) or \
                    not self._hold(job, task, capacity, held):
                del self.reserved[pool_key]

    def _hold(self, job: Record, task: Record, capacity: Capacity, held: Reservation
              ) -> bool:
        """Hold free nodes for a reserved task that did not fit; False to end the
        reservation (it can never start, or could not without what may wait on it, or
        it gained nothing for ``HOLD_SECONDS``: its pool then rests)."""
        pool = self.store.get(POOL, "", docs.pool_id_of(job.doc))
        if pool is None or pool.doc["state"] != PoolState.ACTIVE or \
                requirements_error(pool.doc, task):
            return False
        keys = capacity.holdable(pool.doc, task, _blocked(job))
        if keys is None:
            return False
        now = self.clock()
        if len(keys) > held.held or not keys:  # gained a node, or idles none
            held.since = now
        elif now - held.since >= HOLD_SECONDS:
            self.resting[docs.pool_id_of(job.doc).lower()] = now + REST_SECONDS
            return False
        held.held = len(keys)
        capacity.hold(keys)
        return True

    # -- one task ------------------------------------------------------------------------
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
        nodes = capacity.take(pool.doc, task, _blocked(job))
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

    def _note_unschedulable(self, job: Record, task: Record, problem: Unschedulable) -> None:
        """Say on the waiting task why it cannot run (the start clears it)."""
        info = task.doc.get("executionInfo") or {}
        if (info.get("failureInfo") or {}).get("message") == problem.message:
            return

        def note(record: Record) -> None:
            record.doc.setdefault("executionInfo", {})["failureInfo"] = {
                "category": ErrorCategory.USER_ERROR, "code": problem.code,
                "message": problem.message}

        _refresh(task, self.store.mutate(TASK, job.doc["id"], task.doc["id"], note))


def _blocked(job: Record) -> set[tuple[str, ...]]:
    """Nodes where the job's preparation failed: none of its tasks go there."""
    return {tuple(b) for b in job.private.get("blocked", [])}


def _refresh(record: Record, updated: Record) -> None:
    """Keep the caller's record what the store now holds."""
    record.doc, record.private = updated.doc, updated.private


def _remember_nodes(job: Record, pairs: list[tuple[str, str]]) -> None:
    """The job's nodes, for its release task and its directories' removal."""
    known = job.private.setdefault("nodes", [])
    for pair in pairs:
        if list(pair) not in known:
            known.append(list(pair))
