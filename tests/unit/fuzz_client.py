"""An in-process client of the engine's ASGI app that can send what no HTTP library would.

Requests go straight into ``BatchApp`` as ASGI messages: raw path and query bytes exactly
as given (invalid %-encodings and UTF-8 included), any header bytes, a body in chunks.
Signed with SharedKey like the SDK signs, so a hostile request reaches the handlers
instead of stopping at authentication.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from shipyard.engine.api import auth
from shipyard.engine.api.app import BatchApp

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: bytes
    raw_query: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    signed: bool = True


def send(app: BatchApp, request: Request) -> Reply:
    """Run one request through the app; the status, headers and whole body."""
    return asyncio.run(_send(app, request))


def _headers(app: BatchApp, request: Request) -> list[tuple[bytes, bytes]]:
    headers = {name.lower(): value for name, value in request.headers}
    headers.setdefault("ocp-date", formatdate(usegmt=True))
    if request.body or request.method not in ("GET", "HEAD", "DELETE"):
        headers["content-length"] = str(len(request.body))
    if request.signed:
        path = request.raw_path.decode("latin-1")
        query = auth.split_query(request.raw_query.decode("latin-1"))
        headers["authorization"] = auth.authorization(
            app.account, app.key, request.method, path, query, headers)
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def _send(app: BatchApp, request: Request) -> Reply:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": request.method, "scheme": "http",
        "path": request.raw_path.decode("latin-1"), "raw_path": request.raw_path,
        "query_string": request.raw_query, "root_path": "",
        "headers": _headers(app, request), "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 10900),
    }
    chunks = [request.body[i:i + CHUNK] for i in range(0, len(request.body), CHUNK)] or [b""]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def collect(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, collect)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return Reply(start["status"], headers, body)


def snapshot(db_path: Path) -> list[tuple[Any, ...]]:
    """Every stored record, in a stable order: the engine's whole state."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT kind, parent, key, doc, private FROM docs ORDER BY kind, parent, key"
        ).fetchall()
