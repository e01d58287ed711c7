"""Figures over pools, nodes, jobs and tasks: counts per state and durations.

Pure functions of SDK objects, shared by the dashboard and by ``jobs stats`` /
``pool stats``, so a number means the same wherever it is shown.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from azure.batch import models

#: Task states in the order a task passes through them.
TASK_STATES = ("active", "preparing", "running", "completed")
#: Node states worth a column of their own, most common first; others are counted as they come.
NODE_STATES = ("idle", "running", "starting", "waitingforstarttask", "creating", "rebooting",
               "leavingpool", "offline", "starttaskfailed", "unusable", "unknown")


class Stateful(Protocol):
    """A pool, node, job or task: anything the service gives a ``state``."""

    @property
    def state(self) -> object: ...


@dataclass(frozen=True)
class Durations:
    """Seconds of a set of intervals: how many, and their total, mean, median and extremes.

    >>> Durations.of([1.0, 3.0]).mean
    2.0
    """

    count: int
    total: float
    mean: float
    median: float
    shortest: float
    longest: float

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Durations:
        values = sorted(seconds)
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return cls(len(values), sum(values), statistics.fmean(values),
                   statistics.median(values), values[0], values[-1])

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def state_name(state: object) -> str:
    """An SDK state (a str enum, or a string the SDK does not know) as its wire name."""
    return str(getattr(state, "value", state) or "unknown")


def state_counts(items: Iterable[Stateful], usual: Iterable[str] = ()) -> dict[str, int]:
    """Items per state; the ``usual`` states always appear, with 0, in their order."""
    counts: Counter[str] = Counter({s: 0 for s in usual})
    counts.update(state_name(item.state) for item in items)
    return dict(counts)


def task_state_counts(tasks: Iterable[models.BatchTask]) -> dict[str, int]:
    """Tasks per state, plus ``succeeded``/``failed`` among the completed ones."""
    found = list(tasks)
    ended = [task_result(t) for t in found if state_name(t.state) == "completed"]
    return {**state_counts(found, TASK_STATES),
            "succeeded": ended.count("success"), "failed": len(ended) - ended.count("success")}


def task_result_counts(tasks: Iterable[models.BatchTask]) -> dict[str, int]:
    """Tasks per result (``success``, ``failure``), of the tasks that have one."""
    return dict(Counter(r for r in map(task_result, tasks) if r is not None))


def task_result(task: models.BatchTask) -> str | None:
    info = task.execution_info
    if info is None:
        return None
    if info.result is not None:
        return state_name(info.result)
    return None if info.exit_code is None else ("success" if info.exit_code == 0 else "failure")


def task_run_seconds(task: models.BatchTask) -> float | None:
    """How long the task's last run took (running tasks: not yet known)."""
    info = task.execution_info
    return seconds_between(info.start_time, info.end_time) if info else None


def task_wait_seconds(task: models.BatchTask) -> float | None:
    """From the task's creation until its (last) run started."""
    info = task.execution_info
    return seconds_between(task.creation_time, info.start_time) if info else None


def task_durations(tasks: Iterable[models.BatchTask]) -> dict[str, Durations]:
    """``run`` (start to end of completed tasks) and ``wait`` (creation to start)."""
    found = list(tasks)
    runs = [s for s in map(task_run_seconds, found) if s is not None]
    waits = [s for s in map(task_wait_seconds, found) if s is not None]
    return {"run": Durations.of(runs), "wait": Durations.of(waits)}


def retries(tasks: Iterable[models.BatchTask]) -> int:
    return sum(t.execution_info.retry_count or 0 for t in tasks if t.execution_info)


def node_state_counts(nodes: Iterable[models.BatchNode]) -> dict[str, int]:
    """Nodes per state; the usual states always appear, with 0."""
    return state_counts(nodes, NODE_STATES)


def start_task_durations(nodes: Iterable[models.BatchNode]) -> Durations:
    """How long the start task took on the nodes where it ended."""
    spans = (seconds_between(n.start_task_info.start_time, n.start_task_info.end_time)
             for n in nodes if n.start_task_info is not None)
    return Durations.of(s for s in spans if s is not None)


def job_stats(tasks: Iterable[models.BatchTask]) -> dict[str, Any]:
    """What ``jobs stats`` shows for one job (or several, their tasks together)."""
    found = list(tasks)
    durations = task_durations(found)
    return {"tasks": len(found), "states": task_state_counts(found), "retries": retries(found),
            "run_seconds": durations["run"].as_json(),
            "wait_seconds": durations["wait"].as_json()}


def pool_stats(pool: models.BatchPool, nodes: Iterable[models.BatchNode]) -> dict[str, Any]:
    """What ``pool stats`` shows for one pool."""
    found = list(nodes)
    return {"pool": pool.id, "state": state_name(pool.state),
            "allocation_state": state_name(pool.allocation_state),
            "target_dedicated": pool.target_dedicated_nodes or 0,
            "current_dedicated": pool.current_dedicated_nodes or 0,
            "nodes": len(found), "states": node_state_counts(found),
            "running_tasks": sum(n.running_tasks_count or 0 for n in found),
            "tasks_run": sum(n.total_tasks_run or 0 for n in found),
            "start_task_seconds": start_task_durations(found).as_json()}
