"""Routes for pool update, replace properties, stop resize, autoscale, node counts,
supported images, usage metrics and applications; each one line of translation.

Status codes and headers as recorded: PATCH 200 and updateproperties 204 (with
``Content-Length: 0``), stopresize 202, enable/disable/evaluate autoscale 200, each with
``DataServiceId`` naming the operation's URL and, where the pool changed, its eTag.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import body, calls, if_match
from shipyard.engine.api.responses import document, empty, listing
from shipyard.engine.services.autoscale.service import AutoscaleService
from shipyard.engine.services.poolextras import PoolExtras, supported_images
from shipyard.engine.store import Json
from shipyard.errors import BatchError

AUTOSCALE_RUN_FRAGMENT = "Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"


def register(router: Router, extras: PoolExtras, autoscale: AutoscaleService) -> None:
    """Attach the routes of this module to ``router``."""

    def evaluate_autoscale(call: Call) -> Response:
        run = autoscale.evaluate(call.params[0], call.json())
        return document(call, run, AUTOSCALE_RUN_FRAGMENT,
                        {"DataServiceId": f"{_pool_url(call)}/evaluateautoscale"})

    def get_application(call: Call) -> Response:
        raise BatchError(404, "ApplicationNotFound", "The specified application does not exist.")

    router.add("PATCH", "pools/*", calls(extras.update, body, if_match, answer=_changed(200)))
    router.add("POST", "pools/*/updateproperties", calls(
        extras.replace, body, if_match, answer=_changed(204, "/updateproperties")))
    router.add("POST", "pools/*/stopresize",
               calls(extras.stop_resize, if_match, answer=_changed(202, "/stopresize")))
    router.add("POST", "pools/*/enableautoscale", calls(
        autoscale.enable, body, if_match, answer=_changed(200, "/enableautoscale")))
    router.add("POST", "pools/*/disableautoscale",
               calls(autoscale.disable, answer=_changed(200, "/disableautoscale")))
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


def _changed(status: int, action: str = "") -> Callable[[Call, Json], Response]:
    """The pool's eTag and ``DataServiceId`` (the pool's URL as requested, plus ``action``),
    no body and, unlike a create, no Location."""
    def answer(call: Call, doc: Json) -> Response:
        response = empty(status, doc, f"{_pool_url(call)}{action}")
        del response.headers["location"]
        return response

    return answer


def _pool_url(call: Call) -> str:
    return f"{call.base_url}/pools/{quote(call.params[0])}"
