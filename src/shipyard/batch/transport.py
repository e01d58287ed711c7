"""The SDK's transport for the local engine: azure-core over the standard library's http.client.

azure-core's default transport is requests (with urllib3, charset_normalizer and idna):
about 40 ms of imports and a session on a 2-core machine before a command's first request,
out of a CLI start budget of 150 ms. The local engine needs none of what requests adds:
it is plain HTTP on this machine, with no proxy, no TLS and no redirects, so its clients
send through :class:`HttpClientTransport`, a keep-alive ``http.client`` connection behind
the same pipeline (signing, retries, logging and error types are the SDK's own). Azure
accounts keep requests: proxies and CA bundles from the environment matter there.

Errors are raised as the types azure-core's transports raise (``ServiceRequestError``
when the engine cannot be reached, ``ServiceResponseError`` when an answer breaks off),
so ``batch.errors`` and the retry policy see no difference.
"""

from __future__ import annotations

import http.client
import logging
import select
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    IncompleteReadError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

if TYPE_CHECKING:
    from azure.core.rest import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

#: azure-core's defaults (``ConnectionConfiguration``): seconds to connect, and to wait
#: for each read of an answer.
CONNECT_TIMEOUT = 300.0
READ_TIMEOUT = 300.0
BLOCK_SIZE = 4096
#: Seconds an idle connection is reused for: under uvicorn's keep-alive of 5 s, so the
#: engine does not hang one up just as a request goes out on it.
IDLE_MAX = 2.0
#: What a kept-alive connection the server hung up shows when a request goes out on it:
#: no byte of an answer came back, so the server never took the request.
_HUNG_UP = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
#: Request options of azure-core's transports that mean nothing for plain HTTP here.
_IGNORED = ("connection_verify", "connection_cert", "proxies", "connection_data_block_size")


class HttpClientTransport(HttpTransport["HttpRequest", "HttpResponse"]):
    """Keep-alive ``http.client`` connections to plain-HTTP endpoints, safe across threads.

    A request takes an idle connection to its host (or opens one) and gives it back once
    its answer has been read to the end; an answer closed early, or one the server ends
    the connection with, closes it instead. So concurrent requests (the dashboard's
    thread pool) and a request made while a streamed answer is open each get their own.
    """

    def __init__(self, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()

    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        """Connections open on the first request."""

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Send ``request``; the answer is read whole unless ``stream=True``."""
        stream = bool(kwargs.pop("stream", False))
        connect = float(kwargs.pop("connection_timeout", self.connect_timeout))
        read = float(kwargs.pop("read_timeout", self.read_timeout))
        for name in _IGNORED:
            kwargs.pop(name, None)
        if kwargs:
            log.debug("transport options ignored: %s", sorted(kwargs))
        conn, reused = self._take(request.url, connect)
        try:
            raw = _exchange(conn, request, read)
        except ServiceResponseError as exc:
            if not (reused and isinstance(exc.__cause__, _HUNG_UP)):
                raise
            # The server closed the idle connection as the request went out (the race
            # every keep-alive client has): once more, on a new connection.
            conn, _ = self._take(request.url, connect, reuse=False)
            raw = _exchange(conn, request, read)
        response = _Response(request=request, internal_response=raw, block_size=BLOCK_SIZE,
                             release=lambda reusable: self._give(conn, reusable))
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response

    def _take(self, url: str, timeout: float, reuse: bool = True
              ) -> tuple[http.client.HTTPConnection, bool]:
        """A connected connection to ``url``'s host, and whether it was kept from before."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ServiceRequestError(f"{url}: this transport speaks plain http only")
        where = (parts.hostname, parts.port or http.client.HTTP_PORT)
        conn = self._kept(where) if reuse else None
        if conn is None:
            conn = http.client.HTTPConnection(*where, timeout=timeout)
            _connect(conn, timeout)
            return conn, False
        return conn, True

    def _kept(self, where: tuple[str, int]) -> http.client.HTTPConnection | None:
        """The newest idle connection to ``where`` still fit to use; stale ones met on the
        way are closed."""
        now = time.monotonic()
        with self._lock:
            for item in reversed(list(self._idle)):
                conn, since = item
                if (conn.host, conn.port) != where:
                    continue
                self._idle.remove(item)
                if now - since < IDLE_MAX and not _dropped(conn):
                    return conn
                conn.close()
        return None

    def _give(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if not reusable or conn.sock is None:
            conn.close()
            return
        with self._lock:
            self._idle.append((conn, time.monotonic()))


def _connect(conn: http.client.HTTPConnection, timeout: float) -> None:
    conn.timeout = timeout
    try:
        conn.connect()
    except TimeoutError as exc:
        raise ServiceRequestTimeoutError(exc, error=exc) from exc
    except OSError as exc:
        raise ServiceRequestError(exc, error=exc) from exc


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when the server closed an idle kept-alive connection (it reads as EOF)."""
    if conn.sock is None:
        return False
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def _exchange(conn: http.client.HTTPConnection, request: HttpRequest,
              read_timeout: float) -> http.client.HTTPResponse:
    """Write the request and read the answer's head; the body is left to the response."""
    if request.files:
        raise ServiceRequestError("multipart bodies are not supported by this transport")
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = request.content
    if isinstance(body, str):
        body = body.encode()  # as urllib3 does; http.client would use Latin-1
    assert conn.sock is not None, "connected by _connection"
    conn.sock.settimeout(read_timeout)
    headers = dict(request.headers)
    # A file or iterator body of unknown length goes chunked, as requests sends it.
    chunked = body is not None and not isinstance(body, bytes) and not any(
        name.lower() == "content-length" for name in headers)
    try:
        conn.request(request.method, target, body=body, headers=headers,
                     encode_chunked=chunked)
        return conn.getresponse()
    except TimeoutError as exc:
        conn.close()
        raise ServiceResponseTimeoutError(exc, error=exc) from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise ServiceResponseError(exc, error=exc) from exc


class _Response(HttpResponseImpl):
    """An ``azure.core.rest.HttpResponse`` over an ``http.client`` answer.

    ``release`` gets the connection back to the transport when the response closes:
    reusable only if the body was read to its end and the server keeps the connection.
    """

    def __init__(self, *, request: HttpRequest, internal_response: http.client.HTTPResponse,
                 block_size: int, release: Callable[[bool], None]) -> None:
        headers = case_insensitive_dict(_joined(internal_response.getheaders()))
        super().__init__(request=request, internal_response=internal_response,
                         status_code=internal_response.status,
                         reason=internal_response.reason, headers=headers,
                         content_type=headers.get("Content-Type"), block_size=block_size,
                         stream_download_generator=_chunks)
        self._release = release
        self.complete = False  # set by _chunks once the body has been read to its end

    def close(self) -> None:
        if self.is_closed:
            return
        reusable = self.complete and not self._internal_response.will_close
        super().close()
        self._release(reusable)


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Headers by name, repeated ones joined with ", " as requests does."""
    found: dict[str, str] = {}
    lowered: dict[str, str] = {}
    for name, value in pairs:
        key = lowered.setdefault(name.lower(), name)
        found[key] = f"{found[key]}, {value}" if key in found else value
    return found


def _chunks(pipeline: object, response: _Response, decompress: bool = True,
            **kwargs: Any) -> Iterator[bytes]:
    """The body in blocks, decoded when the server compressed it and ``decompress``."""
    raw: http.client.HTTPResponse = response.internal_response
    encoding = response.headers.get("Content-Encoding", "").lower()
    decoder = _decoder(encoding) if decompress else None
    try:
        while block := raw.read(response.block_size):
            yield decoder.decompress(block) if decoder else block
        if raw.length:  # read(n) ends quietly where a body stops short of its length
            raise http.client.IncompleteRead(b"", raw.length)
        response.complete = True
        if decoder:
            yield decoder.flush()
    except http.client.IncompleteRead as exc:
        raise IncompleteReadError(exc, error=exc) from exc
    except TimeoutError as exc:
        raise ServiceResponseTimeoutError(exc, error=exc) from exc
    except (OSError, http.client.HTTPException, zlib.error) as exc:
        raise ServiceResponseError(exc, error=exc) from exc
    finally:
        raw.close()


def _decoder(encoding: str) -> Any:
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None
