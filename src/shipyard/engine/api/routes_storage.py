"""Routes where the service touches storage on a node's behalf: its service logs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.responses import resource
from shipyard.engine.model import requests, wire
from shipyard.engine.services.pools import PoolService
from shipyard.engine.storage import nodelogs
from shipyard.errors import ConfigError

RESULT = "Microsoft.Azure.Batch.Protocol.Entities.UploadBatchServiceLogsResult"


def register(router: Router, pools: PoolService, account: str, engine_log: Path) -> None:
    """Attach ``uploadbatchservicelogs`` to ``router``."""

    def upload_logs(call: Call) -> Response:
        body = call.json()
        for name in ("containerUrl", "startTime"):
            if not body.get(name):
                raise requests.missing(name)
        start = _time(body, "startTime")
        end = _time(body, "endTime") if body.get("endTime") else None
        pool_id, node_id = call.params[0], call.params[1]
        home = pools.node_root(pool_id, node_id).parent.parent  # <home>/batch/tasks
        logs = nodelogs.NodeLogs(account, pool_id, pools.node(pool_id, node_id).doc["id"],
                                 home, engine_log)
        result = nodelogs.upload(logs, str(body["containerUrl"]), start, end,
                                 call.request_id)
        return resource(call, result, RESULT)

    router.add("POST", "pools/*/nodes/*/uploadbatchservicelogs", upload_logs)


def _time(body: dict[str, object], name: str) -> datetime:
    try:
        return wire.parse_datetime(str(body[name]))
    except ConfigError as exc:
        raise requests.bad_value(name, body[name], str(exc)) from exc
