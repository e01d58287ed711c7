"""Routes for node operations, node users, remote login and extensions; one line each.

Status codes and headers as the service answers (see recorded-responses.json): node
reboot/reimage/start/deallocate 202 and (dis|en)ablescheduling 200, each with the
operation's ``DataServiceId``; removenodes 202 with the pool's new eTag; a user create 201.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import body, calls, done
from shipyard.engine.api.responses import document, empty, listing
from shipyard.engine.model import wire
from shipyard.engine.services.nodeops import NodeOps
from shipyard.engine.services.nodeusers import NodeUserService
from shipyard.engine.store import Json

REMOTE_LOGIN = "Microsoft.Azure.Batch.Protocol.Entities.ComputeNodeGetRemoteLoginSettingsResult"


def register(router: Router, ops: NodeOps, accounts: NodeUserService) -> None:
    """Attach every node operation route to ``router``."""

    def start(pool_id: str, node_id: str, _body: dict[str, Any]) -> None:
        ops.start(pool_id, node_id)  # the body is read (a malformed one refused), not used

    def remove_nodes(call: Call) -> Response:
        doc = ops.remove(call.params[0], call.json(), call.headers.get("if-match"))
        return _answer(202, f"{doc['url']}/removenodes", doc)

    def create_user(call: Call) -> Response:
        accounts.create(call.params[0], call.params[1], call.json())
        name = str(call.json().get("name"))
        return empty(201, None, f"{_node_url(call)}/users/{quote(name, safe='')}")

    def replace_user(call: Call) -> Response:
        pool_id, node_id, name = call.params
        accounts.replace(pool_id, node_id, name, call.json())
        return _answer(200, f"{_node_url(call)}/users/{quote(call.params[2], safe='')}")

    actions = {"reboot": ops.reboot, "reimage": ops.reimage, "deallocate": ops.deallocate,
               "start": start}
    for name, action in actions.items():
        router.add("POST", f"pools/*/nodes/*/{name}",
                   calls(action, body, answer=_at_node(202, name)))
    router.add("POST", "pools/*/nodes/*/disablescheduling", calls(
        ops.disable_scheduling, body, answer=_at_node(200, "disablescheduling")))
    router.add("POST", "pools/*/nodes/*/enablescheduling",
               calls(ops.enable_scheduling, answer=_at_node(200, "enablescheduling")))
    router.add("POST", "pools/*/removenodes", remove_nodes)
    router.add("GET", "pools/*/nodes/*/extensions",
               lambda call: listing(call, ops.extensions(*call.params), "extensions"))
    router.add("GET", "pools/*/nodes/*/extensions/*", lambda call: document(
        call, ops.extension(*call.params), "extensions/@Element"))
    router.add("POST", "pools/*/nodes/*/users", create_user)
    router.add("PUT", "pools/*/nodes/*/users/*", replace_user)
    router.add("DELETE", "pools/*/nodes/*/users/*", calls(accounts.delete, answer=done(200)))
    router.add("GET", "pools/*/nodes/*/remoteloginsettings", lambda call: document(
        call, accounts.remote_login(*call.params), REMOTE_LOGIN))


def _at_node(status: int, action: str) -> Callable[[Call, object], Response]:
    """No body; ``DataServiceId`` names the operation: the node's URL plus ``action``."""
    return lambda call, _result: _answer(status, f"{_node_url(call)}/{action}")


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

