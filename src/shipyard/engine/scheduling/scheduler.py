"""The scheduler: which task runs where and when, and every task state change after create.

One thread ticks whenever something happened (a create, an exit, a kick) and at least
every ``POLL`` seconds while anything runs. A tick, under ``lock``, advances running tasks
from their exit files, places active tasks on free slots (``placer``: jobs by priority,
then in submission order, taking turns so no job starves another; a job's manager task
before its other tasks; and a multi-instance task at the head of its pool's queue has
the nodes that free up held for it until it has all it needs, so plain tasks cannot
starve a gang: the rule and why are in ``placer``'s docstring), completes jobs whose
tasks are done, and keeps node counters true. Placed tasks are launched after the tick,
off the lock, and recorded under it again. REST handlers take the same lock to change
tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from shipyard.engine.agent import execution, runs
from shipyard.engine.agent.execution import Node
from shipyard.engine.agent.exits import ExitWatch
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.agent.taskrun import Instance, TaskRun
from shipyard.engine.agent.uploads import Uploads
from shipyard.engine.allocation.allocator import NODE, POOL, Allocator
from shipyard.engine.allocation.health import NodeHealth
from shipyard.engine.model import docs
from shipyard.engine.model.multiinstance import MultiInstance
from shipyard.engine.model.states import (
    NODE_UP,
    TASK_LIVE,
    DependencyAction,
    ErrorCategory,
    JobState,
    NodeState,
    SchedulingState,
    TaskState,
)
from shipyard.engine.scheduling import transitions
from shipyard.engine.scheduling.jobflow import (
    JOB,
    PREP,
    TASK,
    JobFlow,
    PrepProgress,
    dependency_action,
)
from shipyard.engine.scheduling.placement import slots_held, task_nodes
from shipyard.engine.scheduling.placer import Placed, Placer
from shipyard.engine.settings import EngineSettings
from shipyard.engine.store import Json, Record, Store

__all__ = ["JOB", "PREP", "TASK", "Scheduler"]

log = logging.getLogger(__name__)

#: Exits wake the scheduler at once (``exits``); this is the slowest it looks anyway.
POLL = 0.5
HEALTH_EVERY = 1.0
LAUNCH_THREADS = 8


class Scheduler:
    """Owns task placement, task runs and the ends of jobs."""

    def __init__(self, settings: EngineSettings, store: Store, allocator: Allocator) -> None:
        self.settings = settings
        self.store = store
        self.allocator = allocator
        self.lock = threading.RLock()
        self.health = NodeHealth(store, allocator)
        self.flow = JobFlow(self)
        self.placer = Placer(store, self.node, self.flow.ensure_prep, self.kick)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._health_at = 0.0
        self._placed: list[Placed] = []
        self.exits = ExitWatch(self.kick)
        self.hooks: list[Callable[[], None]] = []
        self.uploads = Uploads(self.kick)

    # -- the loop ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.exits.close()
        self.uploads.close()

    def kick(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            # Exits wake us through ``exits``; the timeout is the safety net and the clock
            # for deadlines, health checks and retention.
            self._wake.wait(POLL)
            self._wake.clear()
            try:
                with self.lock:
                    placed = self.tick()
                # Launching takes ~40 ms a node: the API must not wait for it (see _launch_all).
                self._launch_all(placed)
            except Exception:
                log.exception("scheduler tick failed")

    def tick(self) -> list[Placed]:
        """One pass after the ``hooks``; reads only open tasks. Returns the tasks to launch."""
        if time.monotonic() >= self._health_at:
            self._health_at = time.monotonic() + HEALTH_EVERY
            self.health.check()
        self._placed = []
        for hook in self.hooks:
            hook()
        live: dict[str, list[Record]] = {}
        for job in self.store.list(JOB):
            live[job.doc["id"]] = self.store.in_states(TASK, job.doc["id"], TASK_LIVE)
            self.flow.progress_preps(job)
            self._progress_tasks(job, live[job.doc["id"]])
            self.flow.progress_end(job)
        jobs = self.store.list(JOB)
        live = {j.doc["id"]: live.get(j.doc["id"], []) for j in jobs}
        self._placed += self.placer.place(
            [j for j in jobs if j.doc["state"] == JobState.ACTIVE], _live(live))
        self.flow.check_job_limits(jobs)
        self._sync_nodes(live)
        self.flow.retention()
        return self._placed

    # -- nodes --------------------------------------------------------------------------
    def node(self, pool_id: str, node_id: str) -> Node | None:
        """A node that can run commands now, or None."""
        record = self.store.get(NODE, pool_id, node_id)
        if record is None or not record.private.get("pid"):
            return None
        # A node going down with taskcompletion ("draining", see nodeops.py) still runs
        # the tasks it has; placement only ever uses idle and running nodes.
        if record.doc["state"] not in NODE_UP and not record.private.get("draining"):
            return None
        return self.health.usable(record)

    def base_env(self, node: Node) -> dict[str, str]:
        return execution.node_environment(node, self.settings.account, self.settings.url)

    def _sync_nodes(self, tasks: dict[str, list[Record]]) -> None:
        used: dict[tuple[str, str], list[int]] = {}
        for task in _live(tasks):
            slots = slots_held(task)
            for pool_id, node_id in task_nodes(task):
                entry = used.setdefault((pool_id.lower(), node_id.lower()), [0, 0])
                entry[0] += 1
                entry[1] += slots
        for pool in self.store.list(POOL):
            for node in self.store.list(NODE, pool.doc["id"]):
                counts = used.get((pool.doc["id"].lower(), node.doc["id"].lower()), [0, 0])
                self._update_node_counts(pool.doc["id"], node, counts)

    def _update_node_counts(self, pool_id: str, node: Record, counts: list[int]) -> None:
        state = node.doc["state"]
        wanted_state = state
        if state in NODE_UP:
            disabled = node.doc.get("schedulingState") == SchedulingState.DISABLED
            resting = NodeState.OFFLINE if disabled else NodeState.IDLE
            wanted_state = NodeState.RUNNING if counts[0] else resting
        if (node.doc.get("runningTasksCount"), node.doc.get("runningTaskSlotsCount"),
                state) == (counts[0], counts[1], wanted_state):
            return

        def apply(record: Record) -> None:
            record.doc["runningTasksCount"], record.doc["runningTaskSlotsCount"] = counts
            if record.doc["state"] in NODE_UP:
                docs.set_node_state(record.doc, wanted_state)

        self.store.mutate(NODE, pool_id, node.doc["id"], apply)

    # -- running tasks -----------------------------------------------------------------
    def _progress_tasks(self, job: Record, tasks: list[Record]) -> None:
        for task in tasks:
            try:
                if task.doc["state"] == TaskState.PREPARING:
                    self._progress_preparing(job, task)
                elif task.doc["state"] == TaskState.RUNNING:
                    self._progress_running(job, task)
            except OSError as exc:
                # A process or file that vanished while we looked (a race with the
                # process table or file system): the next pass looks again.
                log.warning("task %s/%s: %s; looking again next pass", job.doc["id"],
                            task.doc["id"], exc)

    def _progress_running(self, job: Record, task: Record) -> None:
        # Fresh objects: progress changes them in place; the store sees the difference.
        run = TaskRun.of(task)
        instances = run.instances
        outcome: Outcome | None
        if any(self.node(i.pool_id, i.node_id) is None for i in instances):
            outcome = Outcome(None, "NodeUnusable", "A node of the task became unusable; "
                              "the task is requeued", category=ErrorCategory.SERVER_ERROR,
                              requeue=True)
        elif runs.deadline_passed(run.deadline):
            outcome = Outcome(None, "MaxWallClockTimeExceeded",
                              "The task ran longer than its maxWallClockTime", retry=False)
        else:
            outcome = runs.progress(task.doc, instances, self.node)
            self._watch(instances)
        self._save_instances(job, task, instances)
        # outputFiles go up before the task completes: None while they do.
        outcome = self.uploads.settle(job.doc["id"], task.doc, instances, outcome, self.node)
        if outcome is not None:
            self.finish(job, task, outcome)

    def _progress_preparing(self, job: Record, task: Record) -> None:
        assigned = TaskRun.of(task).assigned
        states = [self.flow.prep_state(job, pool_id, node_id) for pool_id, node_id in assigned]
        nodes = [self.node(p, n) for p, n in assigned]
        if any(n is None for n in nodes):
            self._to_active(job, task, requeue=True)  # a node failed under its preparation
        elif PrepProgress.FAILED in states:
            blocked = [list(a) for a, s in zip(assigned, states, strict=True)
                       if s == PrepProgress.FAILED]
            self._mutate_job(job, lambda r: r.private.setdefault("blocked", []).extend(blocked))
            self._to_active(job, task, requeue=False)
        elif all(s == PrepProgress.DONE for s in states):
            self._placed.append((job, task, [n for n in nodes if n is not None]))

    # -- launching -------------------------------------------------------------------
    def _launch_all(self, batch: list[Placed]) -> None:
        """Start placed tasks in parallel, without the lock, then record them under it.

        Each launch waits ~40 ms for its node's runner; holding the lock that long would
        stall every API call that changes tasks. A task terminated or deleted meanwhile is
        noticed when recording, and what was launched for it is stopped again.
        """
        if not batch:
            return
        with ThreadPoolExecutor(max_workers=min(LAUNCH_THREADS, len(batch))) as workers:
            futures = [workers.submit(runs.start, job.doc, task.doc, MultiInstance.of(task),
                                      nodes, self.base_env) for job, task, nodes in batch]
        with self.lock:
            for (job, task, _), future in zip(batch, futures, strict=True):
                self._record_start(job, task, future)
        self.kick()

    def _record_start(self, job: Record, task: Record, future: Future[list[Instance]]
                      ) -> None:
        error = future.exception()
        instances = [] if error is not None else future.result()
        self._blame_nodes(instances)
        fresh = self.store.get(TASK, job.doc["id"], task.doc["id"])
        fresh_job = self.store.get(JOB, "", job.doc["id"])
        if fresh is None or fresh_job is None or fresh_job.doc["state"] != JobState.ACTIVE or \
                fresh.doc["state"] not in (TaskState.ACTIVE, TaskState.PREPARING) or \
                fresh.doc.get("creationTime") != task.doc.get("creationTime"):
            runs.stop(instances, self.node)  # ended or deleted while it was launching
            return
        task.doc, task.private = fresh.doc, fresh.private
        if runs.node_faults(instances):  # nothing was the task's doing: back to the queue
            self._requeue(job, task, instances)
            return
        started = partial(transitions.started, instances=instances, base_url=self.settings.url)
        self._mutate_task(job, task, started)
        if error is not None:  # a resource file or command line the node cannot take
            log.warning("task %s/%s cannot start: %s", job.doc["id"], task.doc["id"], error)
            self.finish(job, task, runs.start_failure(error))
            return
        self._watch(instances)

    def _watch(self, instances: list[Instance]) -> None:
        for item in instances:
            if item.launched is not None and item.code is None:
                self.exits.watch(item.launched.pid)

    # -- ends of tasks -----------------------------------------------------------------
    def finish(self, job: Record, task: Record, outcome: Outcome) -> None:
        """A run ended: retry, requeue or complete the task, with its consequences."""
        instances = TaskRun.of(task).instances
        if outcome.requeue:
            self._requeue(job, task, instances)
            return
        runs.stop(instances, self.node)
        info = task.doc.get("executionInfo") or {}
        limit = int((task.doc.get("constraints") or {}).get("maxTaskRetryCount") or 0)
        if not outcome.success and outcome.retry and (
                limit == -1 or int(info.get("retryCount") or 0) < limit):
            self._mutate_task(job, task, transitions.retry)
            self.kick()
            return
        subtasks = runs.subtask_docs(instances, self.settings.url, outcome_done=True)
        # Completion and its meaning for dependents change together, in one write.
        dependency = dependency_action(task.doc, outcome)
        self._mutate_task(job, task, partial(transitions.complete, outcome=outcome,
                                             subtasks=subtasks, dependency=dependency))
        self._count_on_nodes(instances, outcome.success)
        self.flow.after_task(job, self._reload(job, task), outcome)
        self.kick()

    def terminate_task(self, job: Record, task: Record) -> None:
        if task.doc["state"] in TASK_LIVE:
            self.finish(job, task, Outcome(None, "TaskEnded", "The task was terminated",
                                           retry=False))
        elif task.doc["state"] == TaskState.ACTIVE:
            self._mutate_task(job, task, lambda r: transitions.complete(
                r, None, [], DependencyAction.BLOCK))

    def _requeue(self, job: Record, task: Record, instances: list[Instance]) -> None:
        """Back to active, counted as a requeue (not a retry): the fault was not the task's.

        Every instance is stopped; a multi-instance task's nodes also lose the containers
        its commands started, so the next attempt starts clean wherever it lands.
        """
        log.info("task %s/%s requeued: %s", job.doc["id"], task.doc["id"], [
            i.node_fault or i.code for i in instances])
        self._blame_nodes(instances)
        runs.stop(instances, self.node)
        if MultiInstance.of(task) is not None:
            runs.remove_containers(instances, self.node)
        self._to_active(job, task, requeue=True)

    def _blame_nodes(self, instances: list[Instance]) -> None:
        for item in runs.node_faults(instances):
            self.health.mark_unusable(item.pool_id, item.node_id, str(item.node_fault))

    def _to_active(self, job: Record, task: Record, requeue: bool) -> None:
        self._mutate_task(job, task, partial(transitions.to_active, requeue=requeue))
        self.kick()

    def _count_on_nodes(self, instances: list[Instance], success: bool) -> None:
        for item in instances:
            def bump(record: Record) -> None:
                record.doc["totalTasksRun"] = int(record.doc.get("totalTasksRun") or 0) + 1
                if success:
                    record.doc["totalTasksSucceeded"] = int(
                        record.doc.get("totalTasksSucceeded") or 0) + 1
            if self.store.get(NODE, item.pool_id, item.node_id) is not None:
                self.store.mutate(NODE, item.pool_id, item.node_id, bump)

    # -- job ends (delegated) ----------------------------------------------------------
    def terminate_job(self, job_id: str, reason: str, user: bool = False) -> Json:
        return self.flow.terminate(job_id, reason, user)

    def delete_job(self, job_id: str) -> None:
        self.flow.delete(job_id)

    # -- store helpers -----------------------------------------------------------------
    def _reload(self, job: Record, task: Record) -> Record:
        fresh = self.store.get(TASK, job.doc["id"], task.doc["id"])
        return fresh if fresh is not None else task

    def _mutate_task(self, job: Record, task: Record, change: Any) -> None:
        updated = self.store.mutate(TASK, job.doc["id"], task.doc["id"], change)
        task.doc, task.private = updated.doc, updated.private

    def _mutate_job(self, job: Record, change: Any) -> None:
        updated = self.store.mutate(JOB, "", job.doc["id"], change)
        job.doc, job.private = updated.doc, updated.private

    def _save_instances(self, job: Record, task: Record, instances: list[Instance]) -> None:
        """Write the run's instances back when progress changed them."""
        if TaskRun.of(task).instances == instances:
            return

        def save(record: Record) -> None:
            run = TaskRun.of(record)
            run.instances = instances
            run.save(record)

        self._mutate_task(job, task, save)


def _live(tasks: dict[str, list[Record]]) -> list[Record]:
    return [t for ts in tasks.values() for t in ts if t.doc["state"] in TASK_LIVE]

