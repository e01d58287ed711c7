"""The job manager task: the task a job (often one a schedule made) brings with it.

When a job with a ``jobManagerTask`` is active, its manager becomes a task of the job with
the manager's id, marked as the job's manager (``placement.mark_manager``). The placer
then tries it before the job's other tasks each tick, a priority and not a gate: they run
when it cannot (see ``placer``); with ``runExclusive`` (the default) it has its node to
itself while it runs, and with ``allowLowPriorityNode`` false it runs on dedicated nodes
only (on a pool without any it says why it waits). A pool shrinking takes
nodes running ordinary tasks before those running a manager. When it completes and
``killJobOnCompletion`` is true (the default), the job terminates with the reason
``JMComplete``, as the service does. The scheduler calls ``tick`` under its lock, so the
manager is marked before the tick places anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shipyard.engine.model import requests
from shipyard.engine.model.states import JobState, TaskState
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.scheduling.placement import mark_manager
from shipyard.engine.scheduling.scheduler import Scheduler
from shipyard.engine.services.autopool import note_scheduling_error
from shipyard.engine.store import Json, Record, Store
from shipyard.errors import BatchError

#: Adds a task to a job and returns its document: the task service's ``create``, passed in
#: because the task service sits above this module (it imports the job service, which
#: checks managers here).
CreateTask = Callable[[str, Json], Json]

log = logging.getLogger(__name__)

#: Properties only a job manager has; the rest is a task's own.
_MANAGER_ONLY = ("killJobOnCompletion", "runExclusive", "allowLowPriorityNode")


def manager_task_body(manager: Json) -> Json:
    return {k: v for k, v in manager.items() if k not in _MANAGER_ONLY}


def check_manager(manager: object, where: str = "jobManagerTask") -> None:
    """The manager's id and command line are required, as for any task."""
    if manager is None:
        return
    if not isinstance(manager, dict):
        raise requests.bad_value(where, manager, "must be a JSON object")
    requests.check_id(manager.get("id"), f"{where}.id")
    if not manager.get("commandLine"):
        raise requests.missing(f"{where}.commandLine")


class JobManagers:
    """Adds the manager task of each active job once, and ends the job after it."""

    def __init__(self, store: Store, create_task: CreateTask, scheduler: Scheduler) -> None:
        self.create_task = create_task
        self.store = store
        self.scheduler = scheduler

    def tick(self) -> None:
        for job in self.store.in_states(JOB, "", JobState.ACTIVE):
            manager = job.doc.get("jobManagerTask")
            if not manager:
                continue
            if not job.private.get("manager_added"):
                self._add(job, manager)
            elif manager.get("killJobOnCompletion", True):
                self._end_job_after(job, manager)

    def _add(self, job: Record, manager: Json) -> None:
        refused: BatchError | None = None
        try:
            doc = self.create_task(job.doc["id"], manager_task_body(manager))
            self.store.mutate(TASK, job.doc["id"], doc["id"],
                              lambda r: mark_manager(r, manager))
        except BatchError as exc:  # shown on the job, as a scheduling error of the job
            log.warning("job %s: its job manager task was refused: %s", job.doc["id"],
                        exc.detail)
            refused = exc

        def added(record: Record) -> None:
            record.private["manager_added"] = True
            if refused is not None:
                note_scheduling_error(record.doc, refused)

        self.store.mutate(JOB, "", job.doc["id"], added)

    def _end_job_after(self, job: Record, manager: Json) -> None:
        task = self.store.get(TASK, job.doc["id"], str(manager.get("id", "")))
        if task is not None and task.doc["state"] == TaskState.COMPLETED:
            self.scheduler.terminate_job(job.doc["id"], "JMComplete")

