"""Routes that change jobs and tasks after create (disable, enable, replace, reactivate)
and delete task and node files; each one line of translation."""

from __future__ import annotations

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.responses import empty
from shipyard.engine.services.jobcontrol import JobControl
from shipyard.engine.services.pools import PoolService
from shipyard.engine.services.taskcontrol import TaskControl, delete_file


def register(router: Router, jobs: JobControl, tasks: TaskControl, pools: PoolService) -> None:
    """Attach the job/task control and file deletion routes to ``router``."""

    def disable_job(call: Call) -> Response:
        doc = jobs.disable(call.params[0], call.json(), call.headers.get("if-match"))
        return empty(202, doc, f"{doc['url']}/disable")

    def enable_job(call: Call) -> Response:
        doc = jobs.enable(call.params[0], call.headers.get("if-match"))
        return empty(202, doc, f"{doc['url']}/enable")

    def replace_job(call: Call) -> Response:
        doc = jobs.replace(call.params[0], call.json(), call.headers.get("if-match"))
        return empty(200, doc, doc["url"])

    def reactivate_task(call: Call) -> Response:
        # 204 with the new eTag and no DataServiceId, as the recording shows.
        doc = tasks.reactivate(call.params[0], call.params[1], call.headers.get("if-match"))
        return empty(204, doc)

    def replace_task(call: Call) -> Response:
        doc = tasks.replace(call.params[0], call.params[1], call.json(),
                            call.headers.get("if-match"))
        return empty(200, doc, doc["url"])

    def delete_task_file(call: Call) -> Response:
        root = tasks.tasks.files_root(call.params[0], call.params[1])
        delete_file(root, call.params[2], _recursive(call))
        return empty(200)

    def delete_node_file(call: Call) -> Response:
        delete_file(pools.node_root(call.params[0], call.params[1]), call.params[2],
                    _recursive(call))
        return empty(200)

    router.add("POST", "jobs/*/disable", disable_job)
    router.add("POST", "jobs/*/enable", enable_job)
    router.add("PUT", "jobs/*", replace_job)
    router.add("POST", "jobs/*/tasks/*/reactivate", reactivate_task)
    router.add("PUT", "jobs/*/tasks/*", replace_task)
    router.add("DELETE", "jobs/*/tasks/*/files/*", delete_task_file)
    router.add("DELETE", "pools/*/nodes/*/files/*", delete_node_file)


def _recursive(call: Call) -> bool:
    return call.query.get("recursive", "false").lower() == "true"
