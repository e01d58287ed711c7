"""Routes for pool update, replace properties, stop resize, autoscale, node counts,
supported images, usage metrics and applications; each one line of translation.

Status codes and headers as recorded: PATCH 200 and updateproperties 204 (with
``Content-Length: 0``), stopresize 202, enable/disable/evaluate autoscale 200, each with
``DataServiceId`` naming the operation's URL and, where the pool changed, its eTag.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import JSON_TYPE, Call, Router
from shipyard.engine.api.responses import empty, listing
from shipyard.engine.model import wire
from shipyard.engine.services.autoscale.service import AutoscaleService
from shipyard.engine.services.poolextras import PoolExtras, supported_images
from shipyard.engine.store import Json
from shipyard.errors import BatchError

AUTOSCALE_RUN_FRAGMENT = "Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"


def register(router: Router, extras: PoolExtras, autoscale: AutoscaleService) -> None:
    """Attach the routes of this module to ``router``."""

    def update_pool(call: Call) -> Response:
        doc = extras.update(call.params[0], call.json(), call.headers.get("if-match"))
        return _answer(200, doc, _pool_url(call))

    def replace_properties(call: Call) -> Response:
        doc = extras.replace(call.params[0], call.json(), call.headers.get("if-match"))
        return _answer(204, doc, f"{_pool_url(call)}/updateproperties")

    def stop_resize(call: Call) -> Response:
        doc = extras.stop_resize(call.params[0], call.headers.get("if-match"))
        return _answer(202, doc, f"{_pool_url(call)}/stopresize")

    def enable_autoscale(call: Call) -> Response:
        doc = autoscale.enable(call.params[0], call.json(), call.headers.get("if-match"))
        return _answer(200, doc, f"{_pool_url(call)}/enableautoscale")

    def disable_autoscale(call: Call) -> Response:
        doc = autoscale.disable(call.params[0])
        return _answer(200, doc, f"{_pool_url(call)}/disableautoscale")

    def evaluate_autoscale(call: Call) -> Response:
        run = autoscale.evaluate(call.params[0], call.json())
        body = {"odata.metadata": wire.metadata_url(call.base_url, AUTOSCALE_RUN_FRAGMENT),
                **run}
        return Response(json.dumps(body), 200, {
            "DataServiceId": f"{_pool_url(call)}/evaluateautoscale"}, JSON_TYPE)

    def get_application(call: Call) -> Response:
        raise BatchError(404, "ApplicationNotFound", "The specified application does not exist.")

    router.add("PATCH", "pools/*", update_pool)
    router.add("POST", "pools/*/updateproperties", replace_properties)
    router.add("POST", "pools/*/stopresize", stop_resize)
    router.add("POST", "pools/*/enableautoscale", enable_autoscale)
    router.add("POST", "pools/*/disableautoscale", disable_autoscale)
    router.add("POST", "pools/*/evaluateautoscale", evaluate_autoscale)
    router.add("GET", "nodecounts",
               lambda call: listing(call, extras.node_counts(), "poolnodecounts"))
    router.add("GET", "supportedimages",
               lambda call: listing(call, supported_images(), "supportedimages"))
    # The engine keeps no usage history: the valid answer of an account with none yet.
    router.add("GET", "poolusagemetrics", lambda call: listing(call, [], "poolusagemetrics"))
    # A local account has no application packages.
    router.add("GET", "applications", lambda call: listing(call, [], "applications"))
    router.add("GET", "applications/*", get_application)


def _answer(status: int, doc: Json, url: str) -> Response:
    """The pool's eTag and ``DataServiceId``, no body and (unlike a create) no Location."""
    response = empty(status, doc, url)
    del response.headers["location"]
    if status == 204:
        response.headers["Content-Length"] = "0"
    return response


def _pool_url(call: Call) -> str:
    return f"{call.base_url}/pools/{quote(call.params[0])}"
