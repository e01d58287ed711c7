"""Routes for jobs, tasks, subtasks and task files; each one line of translation."""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import JSON_TYPE, Call, Router
from shipyard.engine.api.responses import empty, file_handlers, listing, paged_listing, resource
from shipyard.engine.model import wire
from shipyard.engine.services.jobs import JobService
from shipyard.engine.services.tasks import TaskService


def register(router: Router, jobs: JobService, tasks: TaskService) -> None:
    """Attach every job and task route to ``router``."""
    _register_jobs(router, jobs)
    _register_tasks(router, tasks)


def _register_jobs(router: Router, jobs: JobService) -> None:
    def create_job(call: Call) -> Response:
        doc = jobs.create(call.json())
        return empty(201, doc, doc["url"])

    def update_job(call: Call) -> Response:
        doc = jobs.update(call.params[0], call.json(), call.headers.get("if-match"))
        return empty(200, doc, doc["url"])

    def terminate_job(call: Call) -> Response:
        doc = jobs.terminate(call.params[0], call.json(), call.headers.get("if-match"))
        return empty(202, doc, f"{doc['url']}/terminate")

    def delete_job(call: Call) -> Response:
        jobs.delete(call.params[0], call.headers.get("if-match"))
        return empty(202)

    def task_counts(call: Call) -> Response:
        body = {"odata.metadata": wire.metadata_url(call.base_url, "taskcountsresult/@Element"),
                **jobs.task_counts(call.params[0])}
        return Response(json.dumps(body), 200, media_type=JSON_TYPE)

    router.add("POST", "jobs", create_job)
    router.add("GET", "jobs", lambda call: listing(call, jobs.all(), "jobs"))
    router.add("GET", "jobs/*", lambda call: resource(
        call, jobs.get(call.params[0]).doc, "jobs/@Element"))
    router.add("PATCH", "jobs/*", update_job)
    router.add("DELETE", "jobs/*", delete_job)
    router.add("POST", "jobs/*/terminate", terminate_job)
    router.add("GET", "jobs/*/taskcounts", task_counts)
    router.add("GET", "jobs/*/jobpreparationandreleasetaskstatus", lambda call: listing(
        call, jobs.prep_release_status(call.params[0]),
        "jobpreparationandreleasetaskstatuslist"))


def _register_tasks(router: Router, tasks: TaskService) -> None:
    def create_task(call: Call) -> Response:
        doc = tasks.create(call.params[0], call.json())
        return empty(201, doc, doc["url"])

    def add_collection(call: Call) -> Response:
        results = tasks.add_collection(call.params[0], call.json())
        body = {"odata.metadata": wire.metadata_url(call.base_url, "taskaddresult"),
                "value": results}
        return Response(json.dumps(body), 200, media_type=JSON_TYPE)

    def terminate_task(call: Call) -> Response:
        tasks.terminate(call.params[0], call.params[1], call.headers.get("if-match"))
        return empty(204)

    def delete_task(call: Call) -> Response:
        tasks.delete(call.params[0], call.params[1], call.headers.get("if-match"))
        return empty(200)

    def subtasks(call: Call) -> Response:
        found = tasks.subtasks(call.params[0], call.params[1], call.base_url)
        return listing(call, found, "subtaskinfo")

    list_files, get_file = file_handlers(
        lambda call: tasks.files_root(call.params[0], call.params[1]), _files_url)

    router.add("POST", "jobs/*/tasks", create_task)
    router.add("GET", "jobs/*/tasks", lambda call: paged_listing(
        call, lambda offset, limit: tasks.page(call.params[0], offset, limit), "tasks"))
    router.add("POST", "jobs/*/addtaskcollection", add_collection)
    router.add("GET", "jobs/*/tasks/*", lambda call: resource(
        call, tasks.get(*call.params).doc, "tasks/@Element"))
    router.add("POST", "jobs/*/tasks/*/terminate", terminate_task)
    router.add("DELETE", "jobs/*/tasks/*", delete_task)
    router.add("GET", "jobs/*/tasks/*/subtasksinfo", subtasks)
    router.add("GET", "jobs/*/tasks/*/files", list_files)
    router.add("GET", "jobs/*/tasks/*/files/*", get_file)
    router.add("HEAD", "jobs/*/tasks/*/files/*", get_file)


def _files_url(call: Call) -> str:
    job_id, task_id = call.params[0], call.params[1]
    return f"{call.base_url}/jobs/{quote(job_id)}/tasks/{quote(task_id)}/files"
