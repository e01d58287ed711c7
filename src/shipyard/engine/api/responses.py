"""Response shapes shared by every route: single resources, creates, lists and files.

Lists apply ``$filter`` and ``$select``, then page with ``maxresults`` and an opaque
``$skiptoken`` inside an absolute ``odata.nextLink``, as the service does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.agent import files
from shipyard.engine.api import odata, paging
from shipyard.engine.api.app import JSON_TYPE, Call
from shipyard.engine.model import wire
from shipyard.engine.store import Json

#: Query options a list keeps in its next link (the token carries the position).
_CARRIED = ("api-version", "maxresults", "$filter", "$select", "recursive")
#: Secrets a client sends in a resource and the service never returns: user account
#: passwords (recorded) and SSH keys, registry passwords, mount keys (secrets alike).
_SECRETS = frozenset({"password", "sshPrivateKey", "accountKey", "sasKey"})
#: Top-level properties under which one of those can sit; a doc without any (most tasks)
#: is shown as it is, with no walk.
_HOLDERS = frozenset({"userAccounts", "virtualMachineConfiguration", "mountConfiguration",
                      "startTask", "containerSettings", "jobManagerTask", "jobPreparationTask",
                      "jobReleaseTask", "poolInfo", "jobSpecification"})


def visible(doc: Json) -> Json:
    """A resource as a client may see it, and filter it: without its secrets."""
    return doc if _HOLDERS.isdisjoint(doc) else _without_secrets(doc)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _SECRETS}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def resource(call: Call, doc: Json, fragment: str) -> Response:
    """A single resource with ``odata.metadata`` first, and its eTag in the headers."""
    body = {"odata.metadata": wire.metadata_url(call.base_url, fragment), **visible(doc)}
    body = odata.apply_select(body, call.query.get("$select"))
    return Response(json.dumps(body), 200, _etag_headers(doc), JSON_TYPE)


def document(call: Call, body: Json, fragment: str,
             headers: dict[str, str] | None = None) -> Response:
    """A JSON answer that is no stored resource (counts, results, settings):
    ``odata.metadata`` first, then ``body``; no eTag, no ``$select``."""
    payload = {"odata.metadata": wire.metadata_url(call.base_url, fragment), **body}
    return Response(json.dumps(payload), 200, headers, JSON_TYPE)


def empty(status: int, doc: Json | None = None, url: str | None = None) -> Response:
    """A create (201), accept (202) or no-content answer: headers only, no body."""
    headers = _etag_headers(doc) if doc else {}
    if url:
        headers["DataServiceId"] = url
        headers["Location"] = url
    if status == 204:
        headers["Content-Length"] = "0"
    return Response(b"", status, headers)


def listing(call: Call, items: Iterable[Json], fragment: str) -> Response:
    """One page of ``items`` after ``$filter``, with a next link when more remain."""
    token = call.query.get("$skiptoken")
    skip = int(paging.decode_token(token)["skip"]) if token else 0
    maxresults = paging.parse_maxresults(call.query.get("maxresults"))
    text = call.query.get("$filter")
    matching = [visible(item) for item in items]
    if text:
        predicate = odata.parse_filter(text)
        matching = [item for item in matching if predicate(item)]
    page, next_skip = paging.paginate(matching, skip, maxresults)
    select = call.query.get("$select")
    body: dict[str, Any] = {
        "odata.metadata": wire.metadata_url(call.base_url, fragment),
        "value": [odata.apply_select(item, select) for item in page],
    }
    if next_skip is not None:
        body["odata.nextLink"] = _next_link(call, next_skip)
    return Response(json.dumps(body), 200, media_type=JSON_TYPE)


def _next_link(call: Call, skip: int) -> str:
    params = {k: call.query[k] for k in _CARRIED if k in call.query}
    params["$skiptoken"] = paging.encode_token({"skip": skip})
    return paging.next_link(call.base_url, call.path, params)


def paged_listing(call: Call, fetch: Callable[[int, int], list[Json]],
                  fragment: str) -> Response:
    """Like ``listing`` for long collections: without ``$filter`` only one page is read."""
    if call.query.get("$filter"):
        return listing(call, fetch(0, -1), fragment)
    token = call.query.get("$skiptoken")
    skip = int(paging.decode_token(token)["skip"]) if token else 0
    size = paging.parse_maxresults(call.query.get("maxresults")) or paging.MAX_RESULTS
    rows = fetch(skip, size + 1)
    select = call.query.get("$select")
    body: dict[str, Any] = {
        "odata.metadata": wire.metadata_url(call.base_url, fragment),
        "value": [odata.apply_select(visible(item), select) for item in rows[:size]],
    }
    if len(rows) > size:
        body["odata.nextLink"] = _next_link(call, skip + size)
    return Response(json.dumps(body), 200, media_type=JSON_TYPE)


def file_handlers(root_of: Callable[[Call], Path], url_of: Callable[[Call], str]
                  ) -> tuple[Callable[[Call], Response], Callable[[Call], Response]]:
    """List and get/head handlers for files under ``root_of(call)`` (node or task files).

    The file path is the last path parameter; ``url_of`` gives the ``.../files`` URL.
    """
    def list_files(call: Call) -> Response:
        recursive = call.query.get("recursive", "false").lower() == "true"
        entries = files.listing(root_of(call), recursive)
        return listing(call, (files.list_entry(e, url_of(call)) for e in entries), "files")

    def get_file(call: Call) -> Response:
        path = call.params[-1]
        info = files.resolve(root_of(call), path)
        return file_content(call, info, f"{url_of(call)}/{quote(path, safe='')}")

    return list_files, get_file


def file_content(call: Call, info: files.FileInfo, url: str) -> Response:
    """A file's bytes (all, or the ``ocp-range``) or, for HEAD, its properties only."""
    headers = files.headers(info, url)
    if call.method == "HEAD" or info.is_directory:
        headers["Content-Length"] = "0" if info.is_directory else str(info.size)
        return Response(b"", 200, headers)
    start, end = files.byte_range(call.headers.get("ocp-range"), info.size)
    # Even a ranged read answers 200: the SDK accepts nothing else for this operation.
    return Response(files.read_range(info, start, end), 200, headers)


def _etag_headers(doc: Json) -> dict[str, str]:
    headers: dict[str, str] = {}
    if doc.get("eTag"):
        headers["ETag"] = doc["eTag"]
    if doc.get("lastModified"):
        modified = wire.parse_datetime(doc["lastModified"])
        headers["Last-Modified"] = wire.format_rfc1123(modified)
    return headers
