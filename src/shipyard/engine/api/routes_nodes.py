"""Routes for node operations, node users, remote login and extensions; one line each.

Status codes and headers as the service answers (see recorded-responses.json): node
reboot/reimage/start/deallocate 202 and (dis|en)ablescheduling 200, each with the
operation's ``DataServiceId``; removenodes 202 with the pool's new eTag; a user create 201.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import JSON_TYPE, Call, Router
from shipyard.engine.api.responses import empty, listing
from shipyard.engine.model import wire
from shipyard.engine.services.nodeops import NodeOps
from shipyard.engine.services.nodeusers import NodeUserService
from shipyard.engine.store import Json

REMOTE_LOGIN = "Microsoft.Azure.Batch.Protocol.Entities.ComputeNodeGetRemoteLoginSettingsResult"


def register(router: Router, ops: NodeOps, accounts: NodeUserService) -> None:
    """Attach every node operation route to ``router``."""

    actions: dict[str, Callable[[str, str, dict[str, Any]], None]] = {
        "reboot": ops.reboot, "reimage": ops.reimage, "deallocate": ops.deallocate,
        "start": lambda pool_id, node_id, _body: ops.start(pool_id, node_id),
    }

    def node_action(name: str) -> None:
        def handle(call: Call) -> Response:
            pool_id, node_id = call.params
            actions[name](pool_id, node_id, call.json())
            return _answer(202, f"{_node_url(call)}/{name}")

        router.add("POST", f"pools/*/nodes/*/{name}", handle)

    def scheduling(call: Call, enable: bool) -> Response:
        pool_id, node_id = call.params
        if enable:
            ops.enable_scheduling(pool_id, node_id)
        else:
            ops.disable_scheduling(pool_id, node_id, call.json())
        verb = "enablescheduling" if enable else "disablescheduling"
        return _answer(200, f"{_node_url(call)}/{verb}")

    def remove_nodes(call: Call) -> Response:
        doc = ops.remove(call.params[0], call.json(), call.headers.get("if-match"))
        return _answer(202, f"{doc['url']}/removenodes", doc)

    def list_extensions(call: Call) -> Response:
        return listing(call, ops.extensions(*call.params), "extensions")

    def get_extension(call: Call) -> Response:
        return _json(ops.extension(*call.params), call, "extensions/@Element")

    def create_user(call: Call) -> Response:
        accounts.create(call.params[0], call.params[1], call.json())
        name = str(call.json().get("name"))
        return empty(201, None, f"{_node_url(call)}/users/{quote(name, safe='')}")

    def replace_user(call: Call) -> Response:
        pool_id, node_id, name = call.params
        accounts.replace(pool_id, node_id, name, call.json())
        return _answer(200, f"{_node_url(call)}/users/{quote(call.params[2], safe='')}")

    def delete_user(call: Call) -> Response:
        accounts.delete(*call.params)
        return Response(b"", 200)

    def remote_login(call: Call) -> Response:
        return _json(accounts.remote_login(*call.params), call, REMOTE_LOGIN)

    for action in actions:
        node_action(action)
    router.add("POST", "pools/*/nodes/*/disablescheduling", lambda c: scheduling(c, False))
    router.add("POST", "pools/*/nodes/*/enablescheduling", lambda c: scheduling(c, True))
    router.add("POST", "pools/*/removenodes", remove_nodes)
    router.add("GET", "pools/*/nodes/*/extensions", list_extensions)
    router.add("GET", "pools/*/nodes/*/extensions/*", get_extension)
    router.add("POST", "pools/*/nodes/*/users", create_user)
    router.add("PUT", "pools/*/nodes/*/users/*", replace_user)
    router.add("DELETE", "pools/*/nodes/*/users/*", delete_user)
    router.add("GET", "pools/*/nodes/*/remoteloginsettings", remote_login)


def _node_url(call: Call) -> str:
    pool_id, node_id = call.params[0], call.params[1]
    return f"{call.base_url}/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}"


def _answer(status: int, data_service_id: str, doc: Json | None = None) -> Response:
    """No body; the operation's ``DataServiceId`` and, for a pool change, its new eTag."""
    headers = {"DataServiceId": data_service_id}
    if doc is not None:
        headers["ETag"] = doc["eTag"]
        headers["Last-Modified"] = wire.format_rfc1123(wire.parse_datetime(doc["lastModified"]))
    return Response(b"", status, headers)


def _json(body: Json, call: Call, fragment: str) -> Response:
    payload = {"odata.metadata": wire.metadata_url(call.base_url, fragment), **body}
    return Response(json.dumps(payload), 200, media_type=JSON_TYPE)
