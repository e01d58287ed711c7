"""Wire the job-side additions into an engine: job and task control, auto pools, job
schedules, job manager tasks and file deletion, with their routes and scheduler hooks.

The hooks run first in every scheduler tick under its lock. Each is guarded on its own:
a fault in one (logged with its traceback) must not stop task placement, nor the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shipyard.engine.api.app import Router
from shipyard.engine.api.routes_control import register as register_control
from shipyard.engine.api.routes_schedules import register as register_schedules
from shipyard.engine.services.autopool import AutoPools
from shipyard.engine.services.jobcontrol import JobControl
from shipyard.engine.services.jobmanager import JobManagers
from shipyard.engine.services.jobs import JobService
from shipyard.engine.services.pools import PoolService
from shipyard.engine.services.recurrence import Recurrence
from shipyard.engine.services.schedules import ScheduleService
from shipyard.engine.services.taskcontrol import TaskControl
from shipyard.engine.services.tasks import TaskService

log = logging.getLogger(__name__)


def install(router: Router, pools: PoolService, jobs: JobService, tasks: TaskService) -> None:
    """Register the routes and the scheduler hooks of the job-side additions."""
    scheduler = jobs.scheduler
    control = JobControl(jobs, scheduler)
    autopools = AutoPools(jobs.store, pools)
    recurrence = Recurrence(jobs.store, scheduler, autopools)
    register_control(router, control, TaskControl(tasks), pools)
    register_schedules(router, ScheduleService(jobs.settings, jobs.store, scheduler))
    managers = JobManagers(tasks.store, tasks.create, scheduler)
    # Schedules first (they make jobs), then the pools and manager tasks those jobs need.
    for name, hook in (("job schedules", recurrence.tick), ("auto pools", autopools.tick),
                       ("job managers", managers.tick), ("disabling jobs", control.tick)):
        scheduler.hooks.append(_guarded(name, hook))


def _guarded(name: str, hook: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            hook()
        except Exception:
            log.exception("%s: tick failed", name)

    return run
