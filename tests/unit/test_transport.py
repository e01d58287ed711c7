"""``batch.transport``: azure-core's pipeline over http.client, against a real HTTP server.

The server is the standard library's, on loopback, speaking HTTP/1.1 with keep-alive; it
counts connections so reuse (and reconnection after the server hangs up) is observable.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import (
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest

from shipyard.batch import transport
from shipyard.batch.transport import HttpClientTransport

BIG = bytes(range(256)) * 1000  # 256 kB: many blocks when streamed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:
        routes = {"/json": self._json, "/big": self._big, "/gzip": self._gzip,
                  "/close": self._close, "/drop": self._drop, "/cut": self._cut}
        routes[self.path.split("?")[0]]()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, body, {"Content-Type": "application/octet-stream",
                               "X-Seen-Length": self.headers["Content-Length"]})

    def _json(self) -> None:
        self._send(200, json.dumps({"path": self.path}).encode(),
                   {"Content-Type": "application/json", "X-Twice": "a"})

    def _big(self) -> None:
        self._send(200, BIG, {"Content-Type": "application/octet-stream"})

    def _gzip(self) -> None:
        self._send(200, gzip.compress(b"zipped " * 100), {"Content-Encoding": "gzip"})

    def _close(self) -> None:
        self._send(200, b"bye", {"Connection": "close"})
        self.close_connection = True

    def _drop(self) -> None:
        """Answer as if keeping the connection, then hang up (an idle timeout, early)."""
        self._send(200, b"dropped", {})
        self.close_connection = True

    def _cut(self) -> None:
        """Promise 1000 bytes, send 10, hang up."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.close_connection = True

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def client_for(server: Server) -> PipelineClient[HttpRequest, object]:
    host, port = server.server_address[:2]
    return PipelineClient(f"http://{host!s}:{port}", transport=HttpClientTransport(),
                          policies=[])


def url(server: Server, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}{path}"


def test_requests_share_one_kept_alive_connection(server: Server) -> None:
    client = client_for(server)
    for n in range(3):
        response = client.send_request(HttpRequest("GET", url(server, f"/json?n={n}")))
        assert response.status_code == 200
        assert response.json() == {"path": f"/json?n={n}"}
        assert response.headers["x-twice"] == "a"  # names are case-insensitive
    assert server.connections == 1


def test_a_body_is_sent_whole_with_its_length(server: Server) -> None:
    body = json.dumps({"text": "naïve"})  # non-ASCII: sent as UTF-8, as urllib3 does
    response = client_for(server).send_request(HttpRequest("POST", url(server, "/echo"),
                                                           content=body.encode()))
    assert response.content == body.encode()
    assert response.headers["X-Seen-Length"] == str(len(body.encode()))


def test_a_streamed_answer_arrives_in_blocks_and_a_request_meanwhile_uses_a_new_connection(
        server: Server) -> None:
    client = client_for(server)
    streamed = client.send_request(HttpRequest("GET", url(server, "/big")), stream=True)
    other = client.send_request(HttpRequest("GET", url(server, "/json")))
    blocks = list(streamed.iter_bytes())
    assert b"".join(blocks) == BIG and len(blocks) > 1
    assert other.json() == {"path": "/json"}
    assert server.connections == 2
    client.send_request(HttpRequest("GET", url(server, "/json")))
    assert server.connections == 2, "the streamed one's connection is idle again, not this"


def test_a_stream_closed_before_its_end_does_not_leave_its_connection_for_reuse(
        server: Server) -> None:
    client = client_for(server)
    streamed = client.send_request(HttpRequest("GET", url(server, "/big")), stream=True)
    first = next(streamed.iter_bytes())
    streamed.close()  # bytes of /big are still in flight on that connection
    assert first == BIG[:len(first)]
    assert client.send_request(HttpRequest("GET", url(server, "/json"))).json() == {
        "path": "/json"}
    assert server.connections == 2


def test_threads_share_one_transport(server: Server) -> None:
    client = client_for(server)
    paths = [f"/json?n={n}" for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda path: client.send_request(HttpRequest("GET", url(server, path))).json(),
            paths))
    assert answers == [{"path": path} for path in paths]
    assert 1 <= server.connections <= 8


def test_a_connection_the_server_closed_is_replaced(server: Server) -> None:
    client = client_for(server)
    assert client.send_request(HttpRequest("GET", url(server, "/close"))).content == b"bye"
    assert client.send_request(HttpRequest("GET", url(server, "/json"))).status_code == 200
    assert server.connections == 2


def test_a_kept_connection_the_server_dropped_silently_is_replaced(server: Server) -> None:
    client = client_for(server)
    assert client.send_request(HttpRequest("GET", url(server, "/drop"))).content == b"dropped"
    assert client.send_request(HttpRequest("GET", url(server, "/json"))).status_code == 200
    assert server.connections == 2


def test_a_request_sent_as_the_server_hangs_up_goes_again_on_a_new_connection(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keep-alive race made certain: the idle check passes, the hang-up lands after it."""
    client = client_for(server)
    assert client.send_request(HttpRequest("GET", url(server, "/drop"))).content == b"dropped"
    wait_until_closed = threading.Event()
    monkeypatch.setattr(transport, "_dropped", lambda conn: wait_until_closed.set() or False)
    body = b"posted once"
    answer = client.send_request(HttpRequest("POST", url(server, "/echo"), content=body))
    assert wait_until_closed.is_set(), "the kept connection was offered for reuse"
    assert (answer.status_code, answer.content) == (200, body)
    assert server.connections == 2


def test_a_connection_idle_too_long_is_not_reused(server: Server,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(server)
    assert client.send_request(HttpRequest("GET", url(server, "/json"))).status_code == 200
    monkeypatch.setattr(transport, "IDLE_MAX", 0.0)
    assert client.send_request(HttpRequest("GET", url(server, "/json"))).status_code == 200
    assert server.connections == 2


def test_a_gzip_answer_is_decoded(server: Server) -> None:
    response = client_for(server).send_request(HttpRequest("GET", url(server, "/gzip")))
    assert response.content == b"zipped " * 100


def test_an_answer_cut_short_is_an_incomplete_read(server: Server) -> None:
    with pytest.raises(IncompleteReadError):
        client_for(server).send_request(HttpRequest("GET", url(server, "/cut")))


def test_no_listener_is_a_request_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client: PipelineClient[HttpRequest, object] = PipelineClient(
        f"http://127.0.0.1:{port}", transport=HttpClientTransport(), policies=[])
    with pytest.raises(ServiceRequestError) as caught:
        client.send_request(HttpRequest("GET", f"http://127.0.0.1:{port}/json"))
    assert not isinstance(caught.value, ServiceResponseError)


def test_https_is_refused_rather_than_sent_in_the_clear() -> None:
    client: PipelineClient[HttpRequest, object] = PipelineClient(
        "https://example.invalid", transport=HttpClientTransport(), policies=[])
    with pytest.raises(ServiceRequestError, match="plain http only"):
        client.send_request(HttpRequest("GET", "https://example.invalid/x"))
