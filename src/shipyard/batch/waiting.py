"""Waiting on the Batch service: polls with backoff and a deadline, and file tailing.

Waits report each observation through a callback so the CLI can show progress; they
never sleep blindly and always end, with a ``ShipyardError`` that says what was awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from shipyard.errors import ShipyardError

if TYPE_CHECKING:  # the SDK is imported by whoever made the client, not by this module
    from azure.batch import BatchClient, models

T = TypeVar("T")

#: Node states from which a node will not reach idle without help.
FAILED_NODE_STATES = ("unusable", "starttaskfailed")


def poll(what: str, check: Callable[[], T | None], timeout: float,
         interval: float = 0.25, max_interval: float = 3.0) -> T:
    """Call ``check`` until it returns a value; back off up to ``max_interval``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise ShipyardError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
        interval = min(max_interval, interval * 1.5)


def nodes_ready(client: BatchClient, pool_id: str, count: int,
                report: Callable[[list[models.BatchNode]], None],
                timeout: float) -> list[models.BatchNode]:
    """Wait until ``count`` nodes are idle (or running); fail fast on failed nodes."""
    def check() -> list[models.BatchNode] | None:
        nodes = list(client.list_nodes(pool_id))
        report(nodes)
        failed = [n for n in nodes if n.state in FAILED_NODE_STATES]
        if failed:
            node = failed[0]
            why = (node.errors[0].message if node.errors else
                   getattr(node.start_task_info, "failure_info", None) or node.state)
            raise ShipyardError(f"node {node.id} of pool {pool_id} is {node.state}: {why}",
                                hint="see 'shipyard pool nodes list' and the node's "
                                     "startup/stderr.txt")
        ready = [n for n in nodes if n.state in ("idle", "running")]
        return nodes if len(nodes) >= count and len(ready) >= count else None

    return poll(f"{count} nodes of pool {pool_id} to be ready", check, timeout)


def tasks_done(client: BatchClient, job_id: str,
               report: Callable[[list[models.BatchTask]], None],
               timeout: float) -> list[models.BatchTask]:
    """Wait until every task of the job has completed."""
    def check() -> list[models.BatchTask] | None:
        tasks = list(client.list_tasks(job_id))
        report(tasks)
        return tasks if tasks and all(t.state == "completed" for t in tasks) else None

    return poll(f"the tasks of job {job_id}", check, timeout)


def gone(what: str, probe: Callable[[], object], timeout: float) -> None:
    """Wait until ``probe`` raises ResourceNotFoundError."""
    from azure.core.exceptions import ResourceNotFoundError

    def check() -> bool | None:
        try:
            probe()
        except ResourceNotFoundError:
            return True
        return None

    poll(what, check, timeout)


def tail_task_file(client: BatchClient, job_id: str, task_id: str, name: str,
                   write: Callable[[bytes], None], timeout: float,
                   interval: float = 0.05, max_interval: float = 1.0,
                   read_every: float = 0.5,
                   note: Callable[[str], None] | None = None) -> models.BatchTask:
    """Stream a task file as it grows until the task completes; the completed task.

    The task's state is looked at after a pause of a fortieth of the time waited so far
    (``interval``..``max_interval``): a short task's end shows within ~25 ms on average,
    a long one costs the service a request a second. A look costs ~1 ms of CPU on each
    side (measured on the engine); twenty a second for the first two seconds is the most
    it asks. The file is read at most every ``read_every`` seconds and once more at the
    end, since every read also costs the nodes' CPU on a small machine. Why a queued task
    cannot start (a failureInfo on an active task) goes to ``note``, once per reason.
    """
    offset = 0
    started = time.monotonic()
    read_at = started
    said = ""
    while True:
        task = client.get_task(job_id, task_id)
        now = time.monotonic()
        said = _note_waiting(task, said, note)
        if task.state == "completed" or now >= read_at:
            # Read after looking at the state, so the bytes written before completion show.
            offset += _read_new(client, job_id, task_id, name, offset, write)
            read_at = now + read_every
        if task.state == "completed":
            return task
        waited = now - started
        if waited >= timeout:
            raise ShipyardError(f"timed out after {timeout:.0f} s tailing {name} of "
                                f"{job_id}/{task_id}")
        time.sleep(min(max_interval, max(interval, waited / 40)))


def _note_waiting(task: models.BatchTask, said: str,
                  note: Callable[[str], None] | None) -> str:
    """Pass on why a queued task waits, when that reason is new; the reason said last."""
    info = task.execution_info
    failure = info.failure_info if info is not None and task.state == "active" else None
    reason = str(failure.message) if failure is not None and failure.message else ""
    if note is not None and reason and reason != said:
        note(reason)
    return reason or said


def _read_new(client: BatchClient, job_id: str, task_id: str, name: str, offset: int,
              write: Callable[[bytes], None]) -> int:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        size = client.get_task_file_properties(job_id, task_id, name).content_length
    except ResourceNotFoundError:
        return 0  # not started yet, or no such file yet
    if size <= offset:
        return 0
    data = b"".join(client.download_task_file(job_id, task_id, name,
                                              ocp_range=f"bytes={offset}-{size - 1}"))
    write(data)
    return len(data)
