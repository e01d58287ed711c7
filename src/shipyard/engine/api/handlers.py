"""Handlers built from a service operation, so that most routes are one line of translation.

Nearly every operation takes the ids in its path, then the JSON body, ``If-Match`` or
both, and answers with headers only. ``calls`` makes that handler from the operation,
the parts of the request it takes (in order) and an ``answer``::

    router.add("POST", "jobs/*/terminate",
               calls(jobs.terminate, body, if_match, answer=changed(202, "/terminate")))

is ``jobs.terminate(job_id, call.json(), call.headers.get("if-match"))`` answered 202
with the job's new eTag and ``DataServiceId`` at ``<job url>/terminate``. A part that is
not named is not read: an operation without a body never refuses a malformed one.
``add_collection`` adds the five routes every top-level resource has, ``add_files`` the
three of a node's or a task's files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from starlette.responses import Response

from shipyard.engine.api.app import Call, Handler, Router
from shipyard.engine.api.responses import empty, file_handlers, listing, resource
from shipyard.engine.store import Json, Record

T = TypeVar("T")


def body(call: Call) -> dict[str, Any]:
    """The request's JSON object; a malformed or oversize body is refused (400, 413)."""
    return call.json()


def if_match(call: Call) -> str | None:
    return call.headers.get("if-match")


def calls(operation: Callable[..., T], *parts: Callable[[Call], Any],
          answer: Callable[[Call, T], Response]) -> Handler:
    """A handler: ``operation(*path ids, *(part(call) for part in parts))``, answered by
    ``answer`` with what the operation returned."""
    def handle(call: Call) -> Response:
        return answer(call, operation(*call.params, *(part(call) for part in parts)))

    return handle


def changed(status: int, action: str | None = "") -> Callable[[Call, Json], Response]:
    """Headers only: the resource's eTag and, unless ``action`` is None, ``DataServiceId``
    and ``Location`` at its url plus ``action``; how creates and most changes answer."""
    def answer(call: Call, doc: Json) -> Response:
        return empty(status, doc, None if action is None else f"{doc['url']}{action}")

    return answer


def done(status: int) -> Callable[[Call, object], Response]:
    """The status alone, for operations that return nothing (deletes, task terminate)."""
    return lambda call, _result: empty(status)


class Collection(Protocol):
    """The service of a top-level resource: jobs, pools, job schedules."""

    def create(self, body: dict[str, Any], /) -> Json: ...

    def all(self) -> list[Json]: ...

    def get(self, rid: str, /) -> Record: ...

    def delete(self, rid: str, if_match: str | None, /) -> None: ...


def add_collection(router: Router, name: str, service: Collection, *, head: bool) -> None:
    """POST and GET ``name``; GET, HEAD (where ``head``) and DELETE ``name/*``: create (201),
    list, get, exists (200, headers only) and delete (202), as the service answers them."""
    router.add("POST", name, calls(service.create, body, answer=changed(201)))
    router.add("GET", name, lambda call: listing(call, service.all(), name))
    router.add("GET", f"{name}/*", lambda call: resource(
        call, service.get(*call.params).doc, f"{name}/@Element"))
    if head:
        router.add("HEAD", f"{name}/*", lambda call: empty(200, service.get(*call.params).doc))
    router.add("DELETE", f"{name}/*", calls(service.delete, if_match, answer=done(202)))


def add_files(router: Router, prefix: str, root_of: Callable[[Call], Path],
              url_of: Callable[[Call], str]) -> None:
    """GET ``prefix/files`` (the listing) and GET and HEAD ``prefix/files/*`` (a file's
    bytes or properties) for the files under ``root_of(call)``; ``url_of`` gives
    ``.../files``."""
    list_files, get_file = file_handlers(root_of, url_of)
    router.add("GET", f"{prefix}/files", list_files)
    router.add("GET", f"{prefix}/files/*", get_file)
    router.add("HEAD", f"{prefix}/files/*", get_file)
