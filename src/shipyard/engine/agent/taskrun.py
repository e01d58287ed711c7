"""A task's run as its record keeps it: one ``Instance`` per node, and the bookkeeping around.

A task record's private part holds what the engine knows of the task's run and nothing
the service shows: the instances of the current run (one for a plain task, one per node
for a multi-instance task), the nodes it was given while job preparation runs there, its
wall-clock deadline, and after it ended what that means for its dependents and when its
directories go. ``TaskRun`` reads and writes exactly those keys, spelled on disk as the
engine always spelled them, so a record stored by an earlier engine loads and a restarted
engine picks every run up where it was.

Instances change in place while a run progresses (``runs.progress``); whoever changes
them writes them back with ``TaskRun.save`` inside a ``Store.mutate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from shipyard.engine.agent.execution import Launched
from shipyard.engine.store import Json, Record

#: A node as (pool id, node id).
NodeKey = tuple[str, str]
#: The private key of a completed task's retention time (``Store.due`` looks it up).
RETAIN_UNTIL = "retain_until"


class Phase(StrEnum):
    """Which command of its task an instance runs (persisted as the value)."""

    WAITING = "waiting"
    """Laid out on its node; nothing launched yet (or a node fault stopped it)."""
    COORDINATION = "coordination"
    """The multi-instance task's coordination command, on every instance at once."""
    APPLICATION = "application"
    """The task's command line: a plain task's only phase, a multi-instance task's last
    (on the primary only)."""


@dataclass
class Instance:
    """One node's part of a task's run: what was launched there and how it ended."""

    instance: int
    pool_id: str
    node_id: str
    ip: str
    env: dict[str, str]
    #: When the instance was laid out (a wire datetime).
    start: str
    job_id: str
    task_id: str
    phase: Phase = Phase.WAITING
    #: The exit code of the current phase's command, once it has one.
    code: int | None = None
    end: str | None = None
    launched: Launched | None = None
    #: Earlier launches on this node (the primary's coordination command), stopped with it.
    history: list[Launched] = field(default_factory=list)
    #: Why the node could not take the command (then the task is requeued, not failed).
    node_fault: str | None = None
    #: The command's process vanished without an exit code.
    lost: bool = False
    #: Why the command could not be started (with code 127).
    error: str | None = None

    @property
    def node(self) -> NodeKey:
        return (self.pool_id, self.node_id)

    def to_json(self) -> Json:
        raw: Json = {"instance": self.instance, "pool_id": self.pool_id,
                     "node_id": self.node_id, "ip": self.ip, "env": self.env,
                     "start": self.start, "phase": self.phase, "job_id": self.job_id,
                     "task_id": self.task_id, "code": self.code}
        optional: dict[str, Any] = {
            "end": self.end, "node_fault": self.node_fault, "error": self.error,
            "lost": self.lost or None,
            "launched": self.launched.as_json() if self.launched else None,
            "history": [earlier.as_json() for earlier in self.history] or None}
        raw.update((key, value) for key, value in optional.items() if value is not None)
        return raw

    @classmethod
    def from_json(cls, raw: Json) -> Instance:
        launched = raw.get("launched")
        return cls(
            instance=int(raw["instance"]), pool_id=raw["pool_id"], node_id=raw["node_id"],
            ip=raw["ip"], env=dict(raw.get("env") or {}), start=raw["start"],
            job_id=raw["job_id"], task_id=raw["task_id"],
            phase=Phase(raw.get("phase", Phase.WAITING)), code=raw.get("code"),
            end=raw.get("end"), launched=Launched.from_json(launched) if launched else None,
            history=[Launched.from_json(earlier) for earlier in raw.get("history") or []],
            node_fault=raw.get("node_fault"), lost=bool(raw.get("lost")),
            error=raw.get("error"))


@dataclass
class TaskRun:
    """What a task's record keeps privately about its run (see the module docstring)."""

    #: The instances of the current run (none while the task is queued or preparing).
    instances: list[Instance] = field(default_factory=list)
    #: The nodes given to the task while their job preparation runs.
    assigned: list[NodeKey] = field(default_factory=list)
    #: When the running task's ``maxWallClockTime`` ends (seconds since the epoch).
    deadline: float | None = None
    #: The next start is a retry (``retryCount`` moves when the task runs again).
    retry_pending: bool = False
    #: ``satisfy`` or ``block``: what the completed task means for its dependents.
    dependency: str | None = None
    #: The completed task's ``subtasksinfo`` entries.
    subtasks: list[Json] = field(default_factory=list)
    #: When the completed task's directories go (its ``retentionTime``).
    retain_until: float | None = None
    #: Its directories went.
    retained: bool = False

    KEYS: ClassVar[tuple[str, ...]] = (
        "instances", "assigned", "deadline", "retry_pending", "dependency", "subtasks",
        RETAIN_UNTIL, "retained")

    def to_json(self) -> Json:
        """The keys with a value, as the engine always stored them."""
        raw: dict[str, Any] = {
            "instances": [item.to_json() for item in self.instances] or None,
            "assigned": [list(node) for node in self.assigned] or None,
            "deadline": self.deadline, "retry_pending": self.retry_pending or None,
            "dependency": self.dependency, "subtasks": self.subtasks or None,
            RETAIN_UNTIL: self.retain_until, "retained": self.retained or None}
        return {key: value for key, value in raw.items() if value is not None}

    @classmethod
    def from_json(cls, private: Json) -> TaskRun:
        return cls(
            instances=[Instance.from_json(item) for item in private.get("instances") or []],
            assigned=[(str(pool), str(node)) for pool, node in private.get("assigned") or []],
            deadline=_number(private.get("deadline")),
            retry_pending=bool(private.get("retry_pending")),
            dependency=private.get("dependency"),
            subtasks=list(private.get("subtasks") or []),
            retain_until=_number(private.get(RETAIN_UNTIL)),
            retained=bool(private.get("retained")))

    @classmethod
    def of(cls, record: Record) -> TaskRun:
        """The run of a task record (fresh objects: changing them changes no record)."""
        return cls.from_json(record.private)

    def save(self, record: Record) -> None:
        """Write this run into ``record``; its other private keys stay as they are."""
        for key in self.KEYS:
            record.private.pop(key, None)
        record.private.update(self.to_json())


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
