"""Property-based fuzzing of every route of the engine's HTTP app (hypothesis).

Each route gets a few hundred requests with random and hostile ids, paths (``..``,
encoded slashes, invalid %-encodings, very long), query strings, headers and bodies
(wrong types, huge, deeply nested, invalid UTF-8), SharedKey-signed so they reach the
handlers. Properties: never a 500; every refusal is the service's error body with a
code; a refused request leaves the engine's store exactly as it was.

The app is the real one over a real store in a temporary data dir, driven in-process
(fuzz_client.py). Its pool worker is not started (``allocator.kick`` does nothing), so a
random valid pool create records the pool (and its slot) without making its network or
booting nodes on this machine.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.engine import nodes
from shipyard.engine.allocation.allocator import POOL
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.server import Engine
from shipyard.engine.settings import EngineSettings
from tests.unit.fuzz_client import Reply, Request, send, snapshot

EXAMPLES = 200


def _routes() -> list[tuple[str, str]]:
    """Every route the engine serves, read from a real engine's router."""
    with tempfile.TemporaryDirectory() as data_dir:
        made = Engine(EngineSettings(data_dir=Path(data_dir) / "d", port=10900))
        try:
            return [(method, "/".join(pattern))
                    for method, pattern, _ in made.app.router._routes]
        finally:
            made.close()


ROUTES = _routes()


class Seeds:
    """A pool, a job and a task that exist, so random requests also reach deep code.

    A fuzzed request may delete or end them; ``ensure`` then makes fresh ones.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self.pool = self.job = self.task = ""

    def ensure(self) -> None:
        store = self.engine.store
        pool = store.get(POOL, "", self.pool) if self.pool else None
        job = store.get(JOB, "", self.job) if self.job else None
        task = store.get(TASK, self.job, self.task) if job else None
        if job and task and (pool is None or pool.doc["state"] == "active") and \
                job.doc["state"] == "active" and task.doc["state"] == "active":
            return
        self.count += 1
        self.pool, self.job, self.task = (f"fz-pool-{self.count}", f"fz-job-{self.count}",
                                          f"fz-task-{self.count}")
        # Fuzzed creates may have taken every free pool slot: then the pool is absent,
        # which the job and task routes take as well (their pool may come later).
        self._post("/pools", {"id": self.pool, "vmSize": "standard_d2_v3",
                              "targetDedicatedNodes": 1}, (201, 409))
        self._post("/jobs", {"id": self.job, "poolInfo": {"poolId": self.pool}})
        self._post(f"/jobs/{self.job}/tasks", {"id": self.task, "commandLine": "/bin/true"})

    def _post(self, path: str, body: dict[str, Any], ok: tuple[int, ...] = (201,)) -> None:
        reply = send(self.engine.app, Request(
            "POST", path.encode(), b"api-version=2025-06-01",
            (("content-type", "application/json; odata=minimalmetadata"),),
            json.dumps(body).encode()))
        assert reply.status in ok, (path, reply.status, reply.body[:500])


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    made = Engine(EngineSettings(data_dir=tmp_path / "data", port=10900))
    monkeypatch.setattr(made.allocator, "kick", lambda pool_id: None)
    # A pool's slot is recorded, but its bridge is not made on this shared machine: a few
    # hundred fuzzed creates would otherwise hold every pool network other engines need.
    monkeypatch.setattr(made.pools, "_claim", lambda slot, subnet: None)
    monkeypatch.setattr(made.pools, "_release", lambda slot, subnet: None)
    yield made
    made.close()
    assert not nodes.sweep(set(), set(), made.settings.nodes_dir), "the fuzz left networks"


# ---- strategies ---------------------------------------------------------------------------

HOSTILE_SEGMENTS = [
    "..", ".", "%2e%2e", "%2E%2E%2F", "%2F", "a%2Fb", "..%2F..%2Fetc%2Fpasswd", "%00",
    "%ff%fe", "%", "%zz", "%c0%af", "a%20b", "%F0%9F%9A%80", "x" * 70, "y" * 5000, "CON",
    "${jndi:ldap://x}", "'%3B drop table docs", "%0d%0aX-Injected:%201", "%5C..%5C",
]
latin1 = st.characters(min_codepoint=32, max_codepoint=255)


def _encoded(text: str) -> str:
    return quote(text, safe="")


def segments(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known), st.sampled_from(HOSTILE_SEGMENTS),
        st.text(max_size=80).map(_encoded),
        st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1,
                max_size=64),
        st.binary(max_size=40).map(lambda b: "".join(f"%{x:02x}" for x in b)),
    )


def _right_id(route: str, index: int, seeds: Seeds) -> str:
    """The seeded resource a route's ``index``-th parameter names."""
    kinds = {"pools": seeds.pool, "jobs": seeds.job, "tasks": seeds.task,
             "nodes": "tvm-none", "files": "stdout.txt"}
    parts = route.split("/")
    owner = [parts[i - 1] for i, part in enumerate(parts) if part == "*"][index]
    return kinds.get(owner, "x")


@st.composite
def paths(draw: st.DrawFn, route: str, seeds: Seeds) -> bytes:
    """Mostly the route with the right ids (so bodies reach the handlers); often not."""
    known = [seeds.pool, seeds.job, seeds.task, seeds.pool.upper(), "startup%2Fstdout.txt",
             "wd", "..%2Fstdout.txt"]
    parts, index = [], 0
    for part in route.split("/"):
        if part == "*":
            right = draw(st.integers(0, 9)) < 6
            part = _right_id(route, index, seeds) if right else draw(segments(known))
            index += 1
        parts.append(part)
    path = "/" + "/".join(parts)
    if draw(st.integers(0, 9)) < 2:
        path = path.upper() if draw(st.booleans()) else draw(st.sampled_from([
            path + "/", "/" + path, path + "/..", path.replace("/", "/./", 1),
            path + "/x" * 3, path.replace("/", "%2F", 1)]))
    return path.encode("latin-1", errors="replace")


QUERY_KEYS = ["api-version", "$filter", "$select", "$expand", "maxresults", "timeout",
              "recursive", "ocp-range", "x", ""]
query_values = st.one_of(
    st.sampled_from(["2025-06-01", "1", "0", "-1", "1001", "999999999999999999999", "true",
                     "state eq 'active'", "id eq '", "((((", "startswith(id,'a')", "id",
                     "id,state,bogus", "%zz", "%ff", "a&b=c", "x" * 3000]),
    st.text(max_size=60).map(_encoded),
)


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    pairs = [("api-version", "2025-06-01")] if draw(st.integers(0, 9)) else []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10).map(_encoded)))
        pairs.append((key, draw(query_values)))
    raw = "&".join(f"{k}={v}" if draw(st.integers(0, 5)) else k for k, v in pairs)
    return raw.encode("latin-1", errors="replace")


HEADER_NAMES = ["content-type", "if-match", "if-none-match", "if-modified-since",
                "if-unmodified-since", "client-request-id", "return-client-request-id",
                "ocp-range", "range", "x-junk"]
header_values = st.one_of(
    st.sampled_from(["application/json; odata=minimalmetadata", "application/json",
                     "text/plain", "*", '"0x1"', "true", "Mon, 01 Jan 2001 00:00:00 GMT",
                     "bytes=0-10", "bytes=10-0", "bytes=-5", "bytes=a-b", "", "x" * 8000]),
    st.text(alphabet=latin1, max_size=60),
)


@st.composite
def headers(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    chosen = [("content-type", "application/json; odata=minimalmetadata")]
    for _ in range(draw(st.integers(0, 4))):
        chosen.append((draw(st.sampled_from(HEADER_NAMES)), draw(header_values)))
    if not draw(st.integers(0, 9)):
        chosen.append(("ocp-date", draw(header_values)))
    return tuple(chosen)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
    st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=20,
)
TEMPLATES: list[dict[str, Any]] = [
    {"id": "fz-new", "vmSize": "standard_d2_v3", "targetDedicatedNodes": 1},
    {"targetDedicatedNodes": 1, "targetLowPriorityNodes": 0, "resizeTimeout": "PT15M"},
    {"id": "fz-new", "poolInfo": {"poolId": "fz-pool-1"}, "priority": 1,
     "constraints": {"maxTaskRetryCount": 1}},
    {"priority": 5, "onAllTasksComplete": "terminatejob"},
    {"id": "fz-new", "commandLine": "/bin/true", "constraints": {"maxTaskRetryCount": 2},
     "multiInstanceSettings": {"numberOfInstances": 2}},
    {"value": [{"id": "fz-c1", "commandLine": "/bin/true"}]},
    {"terminateReason": "because"},
]


@st.composite
def wrong_field(draw: st.DrawFn) -> bytes:
    body = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    key = draw(st.sampled_from(sorted(body)))
    body[key] = draw(json_values)
    return json.dumps(body).encode()


def nested(depth: int) -> bytes:
    return b'{"id": ' + b"[" * depth + b"]" * depth + b"}"


bodies = st.one_of(
    st.just(b""),
    st.sampled_from([json.dumps(t).encode() for t in TEMPLATES]),
    wrong_field(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(10, 200_000).map(nested),
    st.sampled_from([b'{"id": "\xff\xfe"}', b"\xff\xfe\xfd", b"{", b"null", b"[]", b'"x"',
                     b'{"id": "a", "id": "b"}', b"{" + b" " * (1024 * 1024 + 10) + b"}",
                     b'{"commandLine": "' + b"x" * 900_000 + b'"}', b"\x00" * 100]),
    st.binary(max_size=200),
)


# ---- the properties -------------------------------------------------------------------------

def check_reply(request: Request, reply: Reply) -> None:
    assert reply.status != 500, (request, reply.body[:2000])
    assert reply.headers.get("request-id"), reply.headers
    if reply.status < 400 or request.method == "HEAD":
        return
    body = reply.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    message = body.get("message")
    assert isinstance(message, dict) and message.get("lang") == "en-US", body
    assert isinstance(message.get("value"), str) and message["value"], body


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
def test_route_never_fails_and_refusals_change_nothing(engine: Engine, method: str,
                                                       route: str) -> None:
    seeds = Seeds(engine)
    seeds.ensure()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        seeds.ensure()
        request = Request(method, data.draw(paths(route, seeds)), data.draw(queries()),
                          data.draw(headers()), data.draw(bodies),
                          signed=bool(data.draw(st.integers(0, 19))))
        before = snapshot(engine.settings.db_path)
        reply = send(engine.app, request)
        check_reply(request, reply)
        if reply.status >= 400:
            assert snapshot(engine.settings.db_path) == before, (request, reply.status)

    run()
