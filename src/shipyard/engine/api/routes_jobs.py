"""Routes for jobs, tasks, subtasks and task files; each one line of translation."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import (
    add_collection,
    add_files,
    body,
    calls,
    changed,
    done,
    if_match,
)
from shipyard.engine.api.responses import document, listing, paged_listing, resource
from shipyard.engine.services.jobs import JobService
from shipyard.engine.services.tasks import TaskService


def register(router: Router, jobs: JobService, tasks: TaskService) -> None:
    """Attach every job and task route to ``router``."""
    _register_jobs(router, jobs)
    _register_tasks(router, tasks)


def _register_jobs(router: Router, jobs: JobService) -> None:
    add_collection(router, "jobs", jobs, head=False)
    router.add("PATCH", "jobs/*", calls(jobs.update, body, if_match, answer=changed(200)))
    router.add("POST", "jobs/*/terminate",
               calls(jobs.terminate, body, if_match, answer=changed(202, "/terminate")))
    router.add("GET", "jobs/*/taskcounts", lambda call: document(
        call, jobs.task_counts(*call.params), "taskcountsresult/@Element"))
    router.add("GET", "jobs/*/jobpreparationandreleasetaskstatus", lambda call: listing(
        call, jobs.prep_release_status(*call.params),
        "jobpreparationandreleasetaskstatuslist"))


def _register_tasks(router: Router, tasks: TaskService) -> None:
    def add_tasks(call: Call) -> Response:
        results = tasks.add_collection(call.params[0], call.json())
        return document(call, {"value": results}, "taskaddresult")

    def subtasks(call: Call) -> Response:
        found = tasks.subtasks(call.params[0], call.params[1], call.base_url)
        return listing(call, found, "subtaskinfo")

    router.add("POST", "jobs/*/tasks", calls(tasks.create, body, answer=changed(201)))
    router.add("GET", "jobs/*/tasks", lambda call: paged_listing(
        call, lambda offset, limit: tasks.page(call.params[0], offset, limit), "tasks"))
    router.add("POST", "jobs/*/addtaskcollection", add_tasks)
    router.add("GET", "jobs/*/tasks/*", lambda call: resource(
        call, tasks.get(*call.params).doc, "tasks/@Element"))
    router.add("POST", "jobs/*/tasks/*/terminate",
               calls(tasks.terminate, if_match, answer=done(204)))
    router.add("DELETE", "jobs/*/tasks/*", calls(tasks.delete, if_match, answer=done(200)))
    router.add("GET", "jobs/*/tasks/*/subtasksinfo", subtasks)
    add_files(router, "jobs/*/tasks/*",
              lambda call: tasks.files_root(call.params[0], call.params[1]), _files_url)


def _files_url(call: Call) -> str:
    job_id, task_id = call.params[0], call.params[1]
    return f"{call.base_url}/jobs/{quote(job_id)}/tasks/{quote(task_id)}/files"
