"""Read one pool's metrics from the engine's own records: what a sample holds.

Task metrics count the tasks of the pool's jobs that are still open (active, disabling,
disabled, terminating), by state: ``$ActiveTasks`` (active), ``$RunningTasks`` (preparing
or running), ``$PendingTasks`` (both), ``$SucceededTasks`` and ``$FailedTasks``
(completed, by result). Node metrics count the pool's nodes; ``$PreemptedNodeCount`` is 0
because local nodes are never preempted. ``$CPUPercent`` is the whole machine's CPU use
since the previous sample, in percent: the local nodes share the machine's cores, so that
is what they use. The disk, network, memory and wall-clock metrics have no source here
and stay without samples (a formula asking for them gets the service's
insufficient-data error rather than invented numbers).
"""

from __future__ import annotations

from pathlib import Path

from shipyard.engine.allocation.allocator import NODE, POOL
from shipyard.engine.model.states import (
    NODE_SCHEDULABLE,
    JobState,
    NodeState,
    PoolState,
    TaskResult,
    TaskState,
)
from shipyard.engine.scheduling.scheduler import JOB, TASK
from shipyard.engine.store import Json, Record, Store

_OPEN_JOB_STATES = frozenset({JobState.ACTIVE, JobState.DISABLING, JobState.DISABLED,
                              JobState.TERMINATING})


def task_metrics(store: Store, pool_id: str) -> dict[str, float]:
    counts = {"$ActiveTasks": 0.0, "$RunningTasks": 0.0, "$SucceededTasks": 0.0,
              "$FailedTasks": 0.0}
    for job in store.list(JOB):
        if not _on_pool(job.doc, pool_id) or job.doc.get("state") not in _OPEN_JOB_STATES:
            continue
        rows = store.tally(TASK, job.doc["id"], ("$.state", "$.executionInfo.result"),
                           "$.requiredSlots")
        for state, result, number, _slots in rows:
            counts[_bucket(state, result)] = counts.get(_bucket(state, result), 0.0) + number
    counts.pop("", None)
    counts["$PendingTasks"] = counts["$ActiveTasks"] + counts["$RunningTasks"]
    return counts


def _bucket(state: str, result: str | None) -> str:
    if state == TaskState.ACTIVE:
        return "$ActiveTasks"
    if state in (TaskState.PREPARING, TaskState.RUNNING):
        return "$RunningTasks"
    if state == TaskState.COMPLETED:
        return "$FailedTasks" if result == TaskResult.FAILURE else "$SucceededTasks"
    return ""


def _on_pool(job: Json, pool_id: str) -> bool:
    return str((job.get("poolInfo") or {}).get("poolId", "")).lower() == pool_id.lower()


def node_metrics(nodes: list[Record]) -> dict[str, float]:
    members = [n for n in nodes if n.doc["state"] != NodeState.LEAVING_POOL]
    return {"$SampleNodeCount": float(len(members)),
            "$PreemptedNodeCount": float(sum(n.doc["state"] == NodeState.PREEMPTED
                                             for n in members))}


def counts(store: Store, pool: Record) -> dict[str, float]:
    """The read-only doubles of a formula: present values, not samples."""
    nodes = store.list(NODE, pool.doc["id"])
    return {
        "$CurrentDedicatedNodes": float(pool.doc.get("currentDedicatedNodes", 0)),
        "$CurrentLowPriorityNodes": float(pool.doc.get("currentLowPriorityNodes", 0)),
        "$TaskSlotsPerNode": float(pool.doc.get("taskSlotsPerNode", 1)),
        "$UsableNodeCount": float(sum(n.doc["state"] in NODE_SCHEDULABLE for n in nodes)),
    }


def sample(store: Store, pool: Record, cpu_percent: float | None) -> dict[str, float]:
    """Every metric with a source, for one sample of ``pool``."""
    values = {**task_metrics(store, pool.doc["id"]),
              **node_metrics(store.list(NODE, pool.doc["id"]))}
    if cpu_percent is not None:
        values["$CPUPercent"] = cpu_percent
    return values


class CpuMeter:
    """The machine's CPU use between two readings of /proc/stat, in percent."""

    def __init__(self, stat: Path = Path("/proc/stat")) -> None:
        self.stat = stat
        self._last: tuple[int, int] | None = None

    def read(self) -> float | None:
        """Percent busy since the previous call; None on the first call."""
        try:
            fields = [int(v) for v in self.stat.read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        if len(fields) < 4:
            return None
        # idle and iowait are the idle columns of the aggregate "cpu" line.
        total, idle = sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)
        last, self._last = self._last, (total, idle)
        if last is None or total <= last[0]:
            return None
        return 100.0 * (1 - (idle - last[1]) / (total - last[0]))


def pools_with_nodes(store: Store) -> list[Record]:
    return [p for p in store.list(POOL) if p.doc.get("state") != PoolState.DELETING]
