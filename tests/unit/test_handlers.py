"""Handlers made from service operations: what the operation gets, what the client gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import add_collection, body, calls, changed, done, if_match
from shipyard.engine.store import Json, Record
from shipyard.errors import BatchError

BASE = "http://127.0.0.1:10900"
DOC: Json = {"id": "j1", "url": f"{BASE}/jobs/j1", "eTag": "0x8DE0000000000001",
             "lastModified": "2026-01-02T03:04:05.000000Z"}


def _call(method: str, path: str, params: list[str], raw: bytes = b"",
          headers: dict[str, str] | None = None) -> Call:
    return Call(method, path, params, {}, headers or {}, raw, BASE)


def test_the_operation_gets_the_path_ids_then_the_named_parts_in_order() -> None:
    seen: list[tuple[Any, ...]] = []

    def operation(*args: Any) -> Json:
        seen.append(args)
        return DOC

    handler = calls(operation, body, if_match, answer=changed(202, "/terminate"))
    response = handler(_call("POST", "/jobs/j1/tasks/t1/x", ["j1", "t1"], b'{"a": 1}',
                             {"if-match": '"0x1"'}))
    assert seen == [("j1", "t1", {"a": 1}, '"0x1"')]
    assert response.status_code == 202
    assert response.body == b""
    assert response.headers["DataServiceId"] == f"{BASE}/jobs/j1/terminate"
    assert response.headers["Location"] == f"{BASE}/jobs/j1/terminate"
    assert response.headers["ETag"] == DOC["eTag"]
    assert response.headers["Last-Modified"] == "Fri, 02 Jan 2026 03:04:05 GMT"


def test_a_body_that_is_not_named_is_not_read() -> None:
    handler = calls(lambda job_id, etag: DOC, if_match, answer=changed(204, None))
    response = handler(_call("POST", "/jobs/j1/enable", ["j1"], b"{not json"))
    assert response.status_code == 204
    assert response.headers["Content-Length"] == "0"
    assert "DataServiceId" not in response.headers
    assert response.headers["ETag"] == DOC["eTag"]


def test_a_named_body_that_is_malformed_is_refused_before_the_operation_runs() -> None:
    ran: list[str] = []
    handler = calls(lambda job_id, sent: ran.append(job_id), body, answer=done(202))
    with pytest.raises(BatchError) as caught:
        handler(_call("POST", "/jobs/j1/x", ["j1"], b"{not json"))
    assert caught.value.status == 400
    assert ran == []


class _Jobs:
    """A top-level collection kept in a dict, as the store would keep it."""

    def __init__(self) -> None:
        self.docs: dict[str, Json] = {}

    def create(self, sent: dict[str, Any], /) -> Json:
        doc = {**DOC, **sent, "url": f"{BASE}/jobs/{sent['id']}"}
        self.docs[sent["id"]] = doc
        return doc

    def all(self) -> list[Json]:
        return list(self.docs.values())

    def get(self, rid: str, /) -> Record:
        if rid not in self.docs:
            raise BatchError(404, "JobNotFound", "The specified job does not exist.")
        return Record(self.docs[rid], {})

    def delete(self, rid: str, etag: str | None, /) -> None:
        self.get(rid)
        del self.docs[rid]


def _send(router: Router, method: str, path: str, raw: bytes = b"") -> Any:
    handler, params = router.match(method, path)
    return handler(_call(method, path, params, raw))


@pytest.mark.parametrize("head", [True, False])
def test_a_collection_creates_lists_gets_and_deletes(head: bool) -> None:
    router, jobs = Router(), _Jobs()
    add_collection(router, "jobs", jobs, head=head)
    created = _send(router, "POST", "/jobs", b'{"id": "j2"}')
    assert (created.status_code, created.headers["Location"]) == (201, f"{BASE}/jobs/j2")
    listed = json.loads(_send(router, "GET", "/jobs").body)
    assert listed["odata.metadata"] == f"{BASE}/$metadata#jobs"
    assert [doc["id"] for doc in listed["value"]] == ["j2"]
    got = json.loads(_send(router, "GET", "/jobs/j2").body)
    assert got["odata.metadata"] == f"{BASE}/$metadata#jobs/@Element"
    if head:
        exists = _send(router, "HEAD", "/jobs/j2")
        assert (exists.status_code, exists.body, exists.headers["ETag"]) == (
            200, b"", DOC["eTag"])
    else:
        with pytest.raises(BatchError, match="verb HEAD"):
            _send(router, "HEAD", "/jobs/j2")
    deleted = _send(router, "DELETE", "/jobs/j2")
    assert (deleted.status_code, deleted.body) == (202, b"")
    assert not {"etag", "dataserviceid", "location"} & set(deleted.headers)
    with pytest.raises(BatchError, match="job does not exist"):
        _send(router, "GET", "/jobs/j2")
