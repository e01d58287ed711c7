"""Routes that change jobs and tasks after create (disable, enable, replace, reactivate)
and delete task and node files; each one line of translation."""

from __future__ import annotations

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import body, calls, changed, if_match
from shipyard.engine.api.responses import empty
from shipyard.engine.services.jobcontrol import JobControl
from shipyard.engine.services.pools import PoolService
from shipyard.engine.services.taskcontrol import TaskControl, delete_file


def register(router: Router, jobs: JobControl, tasks: TaskControl, pools: PoolService) -> None:
    """Attach the job/task control and file deletion routes to ``router``."""

    def delete_task_file(call: Call) -> Response:
        root = tasks.tasks.files_root(call.params[0], call.params[1])
        delete_file(root, call.params[2], _recursive(call))
        return empty(200)

    def delete_node_file(call: Call) -> Response:
        delete_file(pools.node_root(call.params[0], call.params[1]), call.params[2],
                    _recursive(call))
        return empty(200)

    router.add("POST", "jobs/*/disable",
               calls(jobs.disable, body, if_match, answer=changed(202, "/disable")))
    router.add("POST", "jobs/*/enable",
               calls(jobs.enable, if_match, answer=changed(202, "/enable")))
    router.add("PUT", "jobs/*", calls(jobs.replace, body, if_match, answer=changed(200)))
    # 204 with the new eTag and no DataServiceId, as the recording shows.
    router.add("POST", "jobs/*/tasks/*/reactivate",
               calls(tasks.reactivate, if_match, answer=changed(204, None)))
    router.add("PUT", "jobs/*/tasks/*", calls(tasks.replace, body, if_match, answer=changed(200)))
    router.add("DELETE", "jobs/*/tasks/*/files/*", delete_task_file)
    router.add("DELETE", "pools/*/nodes/*/files/*", delete_node_file)


def _recursive(call: Call) -> bool:
    return call.query.get("recursive", "false").lower() == "true"
