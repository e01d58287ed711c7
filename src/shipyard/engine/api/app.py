"""The engine's HTTP face: an ASGI app that authenticates, routes and translates.

Routing works on the raw, still %-encoded path, one segment at a time, because the file
APIs carry a whole relative path %-encoded in one segment (``startup%2Fstdout.txt``).
Handlers are plain functions run on a worker thread; they raise ``BatchError`` for every
refusal, and this module is the one place that turns errors into the service's bodies.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shipyard.engine.api import auth, odata
from shipyard.engine.model import wire
from shipyard.engine.model.requests import MAX_BODY_BYTES, load_json
from shipyard.engine.store import StoreError
from shipyard.errors import BatchError

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; odata=minimalmetadata"


@dataclass
class Call:
    """One request as a handler sees it: decoded path parameters, query and body."""

    method: str
    path: str
    params: list[str]
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> dict[str, Any]:
        return load_json(self.body)


Handler = Callable[[Call], Response]


class Router:
    """Method plus a path pattern of literal segments and ``*`` parameters."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, tuple(pattern.strip("/").split("/")), handler))

    def match(self, method: str, raw_path: str) -> tuple[Handler, list[str]]:
        segments = [s for s in raw_path.strip("/").split("/")]
        known_path = False
        for route_method, pattern, handler in self._routes:
            params = _match(pattern, segments)
            if params is None:
                continue
            known_path = True
            if route_method == method:
                return handler, params
        if known_path:
            raise BatchError(405, "UnsupportedHttpVerb",
                             f"The resource doesn't support the specified HTTP verb {method}.")
        raise BatchError(400, "InvalidUri",
                         "The requested URI does not represent any resource on the server.",
                         [("Reason", f"no such resource path: /{raw_path.strip('/')}")])


def _match(pattern: tuple[str, ...], segments: list[str]) -> list[str] | None:
    if len(pattern) != len(segments):
        return None
    params: list[str] = []
    for want, got in zip(pattern, segments, strict=True):
        if want == "*":
            if not got:
                return None
            params.append(unquote(got))
        elif want != got.lower():
            return None
    return params


class BatchApp:
    """ASGI application serving the Azure Batch REST subset for one account."""

    def __init__(self, router: Router, account: str, key: str, base_url: str) -> None:
        self.router = router
        self.account = account
        self.key = key
        self.base_url = base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = Request(scope, receive)
        body = await _read_body(request)
        raw_path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        response = await run_in_threadpool(
            self.handle, request.method, raw_path, raw_query, headers, body)
        await response(scope, receive, send)

    def handle(self, method: str, raw_path: str, raw_query: str,
               headers: dict[str, str], body: bytes | None) -> Response:
        call = Call(method, raw_path, [], {}, headers, body or b"", self.base_url)
        try:
            if body is None:
                raise BatchError(413, "RequestBodyTooLarge",
                                 "The request body is too large and exceeds the maximum "
                                 "permissible limit.", [("MaxLimit", str(MAX_BODY_BYTES))])
            pairs = auth.split_query(raw_query)
            self._authenticate(method, raw_path, pairs, headers)
            call.query = {unquote(k): unquote(v.replace("+", " ")) for k, v in pairs}
            handler, call.params = self.router.match(method, raw_path)
            response = handler(call)
        except BatchError as exc:
            response = self.error(call, exc)
        except odata.FilterError as exc:
            response = self.error(call, _query_error(exc))
        except StoreError as exc:  # e.g. a full disk: the server's fault, said plainly
            log.error("%s %s: %s", method, raw_path, exc)
            response = self.error(call, BatchError(
                500, "InternalServerError", "The server encountered an internal error.",
                [("Reason", str(exc))]))
        except Exception:
            log.exception("%s %s failed", method, raw_path)
            response = self.error(call, BatchError(
                500, "InternalServerError", "The server encountered an internal error."))
        return _decorate(response, call)

    def _authenticate(self, method: str, raw_path: str, pairs: list[tuple[str, str]],
                      headers: dict[str, str]) -> None:
        detail = auth.verify(headers.get("authorization"), self.account, self.key,
                             method, raw_path, pairs, headers)
        if detail is not None:
            raise BatchError(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
                [("AuthenticationErrorDetail", detail)])

    def error(self, call: Call, exc: BatchError) -> Response:
        body = wire.error_body(exc.code, exc.detail, call.request_id, self.base_url,
                               exc.values or None)
        # A HEAD error is the status alone, as the service answers it (no body, no type).
        if call.method == "HEAD":
            return Response(b"", status_code=exc.status)
        return Response(json.dumps(body).encode(), status_code=exc.status, media_type=JSON_TYPE)


def _decorate(response: Response, call: Call) -> Response:
    response.headers["request-id"] = call.request_id
    response.headers["DataServiceVersion"] = "3.0"
    client_id = call.headers.get("client-request-id")
    if client_id and call.headers.get("return-client-request-id", "").lower() == "true":
        response.headers["client-request-id"] = client_id
    return response


def _query_error(exc: odata.FilterError) -> BatchError:
    return BatchError(400, "InvalidQueryParameterValue",
                      "Value for one of the query parameters specified in the request URI "
                      "is invalid.",
                      [("QueryParameterName", exc.parameter),
                       ("QueryParameterValue", exc.value), ("Reason", exc.message)])


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it passes the limit (the rest is not buffered)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
