"""Routes for job schedules and the jobs they made; each one line of translation."""

from __future__ import annotations

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.responses import empty, listing, resource
from shipyard.engine.services.schedules import ScheduleService


def register(router: Router, schedules: ScheduleService) -> None:
    """Attach every job schedule route to ``router``."""

    def create(call: Call) -> Response:
        doc = schedules.create(call.json())
        return empty(201, doc, doc["url"])

    def exists(call: Call) -> Response:
        return empty(200, schedules.get(call.params[0]).doc)

    def update(call: Call) -> Response:
        doc = schedules.update(call.params[0], call.json(), call.headers.get("if-match"),
                               replace=call.method == "PUT")
        return empty(200, doc, doc["url"])

    def disable(call: Call) -> Response:
        doc = schedules.disable(call.params[0], call.headers.get("if-match"))
        return empty(204, doc, f"{doc['url']}/disable")

    def enable(call: Call) -> Response:
        doc = schedules.enable(call.params[0], call.headers.get("if-match"))
        return empty(204, doc, f"{doc['url']}/enable")

    def terminate(call: Call) -> Response:
        doc = schedules.terminate(call.params[0], call.headers.get("if-match"))
        return empty(202, doc, f"{doc['url']}/terminate")

    def delete(call: Call) -> Response:
        schedules.delete(call.params[0], call.headers.get("if-match"))
        return empty(202)

    router.add("POST", "jobschedules", create)
    router.add("GET", "jobschedules", lambda call: listing(call, schedules.all(), "jobschedules"))
    router.add("GET", "jobschedules/*", lambda call: resource(
        call, schedules.get(call.params[0]).doc, "jobschedules/@Element"))
    router.add("HEAD", "jobschedules/*", exists)
    router.add("PATCH", "jobschedules/*", update)
    router.add("PUT", "jobschedules/*", update)
    router.add("DELETE", "jobschedules/*", delete)
    router.add("POST", "jobschedules/*/disable", disable)
    router.add("POST", "jobschedules/*/enable", enable)
    router.add("POST", "jobschedules/*/terminate", terminate)
    router.add("GET", "jobschedules/*/jobs", lambda call: listing(
        call, schedules.jobs(call.params[0]), "jobs"))
