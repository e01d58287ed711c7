"""Where the time of a multi-instance task went, node by node: pure, from SDK objects.

One row per instance (the primary is instance 0, subtasks 1..N-1), each a sequence of
bars in this order:

``waiting``       the task was created, the instance had not started (gang scheduling)
``coordination``  the coordination command, until the container's sshd accepted
                  connections (the line ``shipyard: container X accepts ssh on IP:PORT at
                  EPOCH`` the command writes to the instance's stdout.txt; the Batch API
                  has no time for it)
``barrier``       sshd ready, waiting for the slowest instance (the service starts the
                  application once every coordination command has exited)
``application``   from the moment the last instance was ready until the primary ended
                  (the ranks on the other nodes run just as long); the API has no start
                  time of the application command, so the service's launch of it after
                  the barrier counts here
``ending``        a subtask still running after the primary ended, until it was stopped
``cleanup``       the job release task on that node (after the job ends)

Everything comes from what the Batch API exposes (task, subtasks, the instances' stdout,
release task status), so the same rows are drawn for an Azure account and the local engine.
When an instance lacks the ready line (another coordination command, an older task), the
barrier cannot be placed: each instance gets one ``coordination`` bar for its whole run
and the timeline carries a note saying so.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from azure.batch import models


class Phase(StrEnum):
    """A stretch of an instance's life; members are in the order they happen."""

    WAITING = "waiting"
    COORDINATION = "coordination"
    BARRIER = "barrier"
    APPLICATION = "application"
    ENDING = "ending"
    CLEANUP = "cleanup"


PHASES: tuple[Phase, ...] = tuple(Phase)

_READY = re.compile(r"^shipyard: container (?P<name>\S+) accepts ssh on (?P<ip>[^\s:]+):"
                    r"(?P<port>\d+)(?: at (?P<epoch>\d+(?:[.,]\d+)?))?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Ready:
    """What an instance's ready line says: where its sshd listens, and since when."""

    address: str
    at: datetime | None


def parse_ready(output: str) -> Ready | None:
    """The first ready line in an instance's stdout.

    >>> parse_ready("shipyard: container c accepts ssh on 10.0.0.4:23 at 1.5\\n").address
    '10.0.0.4'
    """
    found = _READY.search(output)
    if found is None:
        return None
    epoch = found["epoch"]
    at = datetime.fromtimestamp(float(epoch.replace(",", ".")), UTC) if epoch else None
    return Ready(found["ip"], at)


@dataclass(frozen=True)
class Instance:
    """One instance of the task as the API shows it (SDK-neutral input of ``build``)."""

    index: int
    node_id: str
    start: datetime | None
    end: datetime | None
    exit_code: int | None = None
    ready: Ready | None = None
    cleanup: tuple[datetime, datetime | None] | None = None


@dataclass(frozen=True)
class Bar:
    phase: Phase
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Row:
    """An instance's bars, in phase order, on its node."""

    instance: int
    node_id: str
    address: str | None
    exit_code: int | None
    bars: tuple[Bar, ...]

    def phases(self) -> list[Phase]:
        return [bar.phase for bar in self.bars]


@dataclass(frozen=True)
class Timeline:
    """The rows of one task; ``origin`` is the task's creation, ``late`` the slowest node."""

    job_id: str
    task_id: str
    origin: datetime
    rows: tuple[Row, ...]
    late: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def end(self) -> datetime:
        ends = [bar.end for row in self.rows for bar in row.bars]
        return max(ends, default=self.origin)

    def as_json(self) -> dict[str, Any]:
        """Offsets in seconds from ``origin``: what the dashboard and the plots draw."""
        def offset(moment: datetime) -> float:
            return round((moment - self.origin).total_seconds(), 3)

        rows = [{"instance": r.instance, "node": r.node_id, "address": r.address,
                 "exit_code": r.exit_code,
                 "bars": [{"phase": b.phase.value, "start": offset(b.start),
                           "end": offset(b.end), "seconds": round(b.seconds, 3)}
                          for b in r.bars]} for r in self.rows]
        return {"job": self.job_id, "task": self.task_id, "origin": self.origin.isoformat(),
                "span": offset(self.end), "late": self.late, "phases": list(PHASES),
                "notes": list(self.notes), "rows": rows}


def build(job_id: str, task_id: str, created: datetime, instances: Sequence[Instance],
          now: datetime, multi: bool = True) -> Timeline:
    """The rows of a task created at ``created``; open phases end at ``now``.

    A task that is not multi-instance (``multi=False``) has no coordination: its command
    is the application from the moment it started.
    """
    ordered = sorted(instances, key=lambda i: i.index)
    primary = next((i for i in ordered if i.index == 0), None)
    readies = [i.ready.at for i in ordered if i.ready is not None and i.ready.at is not None]
    release = max(readies) if ordered and len(readies) == len(ordered) else None
    if not multi and primary is not None:
        release = primary.start
    finished = (primary.end if primary is not None else None)
    rows = tuple(_row(i, created, release, finished, now) for i in ordered)
    late = None
    if release is not None and len(ordered) > 1:
        late = next(i.node_id for i in ordered if i.ready and i.ready.at == release)
    notes = () if release is not None or not ordered or not multi else (
        "not every instance wrote its ready line: coordination and barrier are not told apart",)
    return Timeline(job_id, task_id, created, rows, late, notes)


def _row(item: Instance, created: datetime, release: datetime | None,
         finished: datetime | None, now: datetime) -> Row:
    stop = item.end or finished or now
    failed_alone = item.index != 0 and item.exit_code not in (None, 0) and item.end is not None
    marks: list[tuple[Phase | None, datetime]] = [(Phase.WAITING, created)]
    if item.start is not None:
        ready = item.ready.at if item.ready is not None else None
        marks.append((Phase.COORDINATION, item.start))
        if ready is not None and release is not None:
            marks.append((Phase.BARRIER, ready))
        if release is not None and not (failed_alone and stop <= release):
            marks.append((Phase.APPLICATION, release))
        app_end = finished or now
        if failed_alone:
            app_end = min(app_end, stop)
        marks.append((Phase.ENDING, app_end))
        marks.append((None, max(stop, app_end)))
    else:
        marks.append((None, now))
    bars = list(_bars(marks))
    if item.cleanup is not None:
        begin, end = item.cleanup
        bars.append(Bar(Phase.CLEANUP, begin, end or now))
    return Row(item.index, item.node_id, item.ready.address if item.ready else None,
               item.exit_code, tuple(bars))


def _bars(marks: list[tuple[Phase | None, datetime]]) -> Iterable[Bar]:
    """Consecutive marks as bars; a phase of no length is left out, time never runs back."""
    for (phase, start), (_, end) in itertools.pairwise(marks):
        if phase is None or end <= start:
            continue
        yield Bar(phase, start, end)


# ---- from the SDK's objects -----------------------------------------------------------------

def instances_from_sdk(task: models.BatchTask, subtasks: Iterable[models.BatchSubtask],
                       outputs: dict[int, str],
                       releases: Iterable[models.BatchJobPreparationAndReleaseTaskStatus]
                       ) -> list[Instance]:
    """The instances of ``task``: the primary from the task, the rest from its subtasks.

    ``outputs`` maps an instance index to (the start of) its stdout.txt; ``releases`` is
    the job's preparation/release status per node.
    """
    cleanup = {s.node_id: _release_span(s) for s in releases if s.node_id}
    info = task.execution_info
    primary_node = task.node_info.node_id if task.node_info else None
    found = [Instance(0, primary_node or "?", info.start_time if info else None,
                      info.end_time if info else None, info.exit_code if info else None,
                      parse_ready(outputs.get(0, "")), cleanup.get(primary_node or ""))]
    for sub in subtasks:
        node = sub.node_info.node_id if sub.node_info else None
        index = int(sub.id or 0)
        found.append(Instance(index, node or "?", sub.start_time, sub.end_time, sub.exit_code,
                              parse_ready(outputs.get(index, "")), cleanup.get(node or "")))
    return found


def _release_span(status: models.BatchJobPreparationAndReleaseTaskStatus
                  ) -> tuple[datetime, datetime | None] | None:
    release = status.job_release_task_execution_info
    if release is None or release.start_time is None:
        return None
    return release.start_time, release.end_time
