"""Routes for job schedules and the jobs they made; each one line of translation."""

from __future__ import annotations

from functools import partial

from shipyard.engine.api.app import Router
from shipyard.engine.api.handlers import add_collection, body, calls, changed, if_match
from shipyard.engine.api.responses import listing
from shipyard.engine.services.schedules import ScheduleService


def register(router: Router, schedules: ScheduleService) -> None:
    """Attach every job schedule route to ``router``."""
    add_collection(router, "jobschedules", schedules, head=True)
    # PATCH changes what it names; PUT also resets what it leaves out.
    for method, replace in (("PATCH", False), ("PUT", True)):
        router.add(method, "jobschedules/*", calls(
            partial(schedules.update, replace=replace), body, if_match, answer=changed(200)))
    router.add("POST", "jobschedules/*/disable",
               calls(schedules.disable, if_match, answer=changed(204, "/disable")))
    router.add("POST", "jobschedules/*/enable",
               calls(schedules.enable, if_match, answer=changed(204, "/enable")))
    router.add("POST", "jobschedules/*/terminate",
               calls(schedules.terminate, if_match, answer=changed(202, "/terminate")))
    router.add("GET", "jobschedules/*/jobs", lambda call: listing(
        call, schedules.jobs(*call.params), "jobs"))
