"""The dashboard's Starlette application: page routes and the JSON API they poll.

Every page route returns the same HTML shell; its script reads the path, polls the
matching ``/api/...`` endpoint and draws the page, so pages refresh without reloading.
The application is read-only (GET only) and answers only to loopback host names, so a
web page elsewhere cannot use the account through it (DNS rebinding). Endpoints are
plain functions: Starlette runs them in its thread pool, as the SDK client is blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.batch import BatchClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.batch import observe
from shipyard.batch.errors import translated
from shipyard.dashboard import files, render, views
from shipyard.errors import BatchError, ConfigError, ShipyardError

STATIC = Path(__file__).parent / "static"
PAGES = ("/", "/pools/{pool}", "/pools/{pool}/nodes/{node}", "/jobs/{job}",
         "/jobs/{job}/tasks/{task}")
LOOPBACK = ["127.0.0.1", "localhost"]

Reader = Callable[[BatchClient, Request], Any]


def _status(exc: ShipyardError) -> int:
    if isinstance(exc, BatchError):
        return exc.status or 502
    return 400 if isinstance(exc, ConfigError) else 502


def _offset(request: Request) -> int | None:
    raw = request.query_params.get("offset")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ConfigError(f"offset {raw!r} is not a whole number of bytes")
    return int(raw)


def _instance(request: Request) -> int:
    raw = request.query_params.get("instance", "0")
    if not raw.isdigit():
        raise ConfigError(f"instance {raw!r} is not a whole number")
    return int(raw)


def _timeline(client: BatchClient, r: Request) -> Any:
    data = observe.task_timeline(client, r.path_params["job"], r.path_params["task"]).as_json()
    return {**data, "svg": render.svg(data)}


#: API path -> what it reads. Path parameters are Batch ids; file names come as queries.
READERS: dict[str, Reader] = {
    "/overview": lambda c, r: views.overview(c),
    "/pools/{pool}": lambda c, r: views.pool_page(c, r.path_params["pool"]),
    "/pools/{pool}/nodes/{node}": lambda c, r: views.node_page(
        c, r.path_params["pool"], r.path_params["node"]),
    "/pools/{pool}/nodes/{node}/files": lambda c, r: files.node_files(
        c, r.path_params["pool"], r.path_params["node"]),
    "/pools/{pool}/nodes/{node}/tail": lambda c, r: files.tail_node_file(
        c, r.path_params["pool"], r.path_params["node"], r.query_params.get("path", ""),
        _offset(r)),
    "/jobs/{job}": lambda c, r: views.job_page(c, r.path_params["job"]),
    "/jobs/{job}/tasks/{task}": lambda c, r: views.task_page(
        c, r.path_params["job"], r.path_params["task"]),
    "/jobs/{job}/tasks/{task}/files": lambda c, r: files.task_files(
        c, r.path_params["job"], r.path_params["task"], _instance(r)),
    "/jobs/{job}/tasks/{task}/tail": lambda c, r: files.tail_task_file(
        c, r.path_params["job"], r.path_params["task"], r.query_params.get("name", ""),
        _instance(r), _offset(r)),
    "/jobs/{job}/tasks/{task}/timeline": _timeline,
}


def _endpoint(client: BatchClient, url: str, read: Reader) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            with translated(url):
                payload = read(client, request)
        except ShipyardError as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint},
                                status_code=_status(exc), headers={"Cache-Control": "no-store"})
        return JSONResponse(payload, headers={"Cache-Control": "no-store"})
    return endpoint


def _shell(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def create_app(client: BatchClient, service_url: str = "") -> Starlette:
    """The dashboard over ``client`` (the CLI's, with its credentials)."""
    routes: list[BaseRoute] = [Route(path, _shell) for path in PAGES]
    routes += [Route(f"/api{path}", _endpoint(client, service_url, read))
               for path, read in READERS.items()]
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK)])
