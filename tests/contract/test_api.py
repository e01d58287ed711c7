"""The REST contract through the SDK, on pools without nodes: auth, errors, paging, queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from shipyard.engine import control
from tests.realengine import delete_pool, make_client, pool_exists


def empty_pool(pool_id: str, **extra: object) -> dict[str, object]:
    return {"id": pool_id, "vmSize": "standard_d2_v3", **extra}


@pytest.fixture
def five_pools(client: BatchClient) -> Iterator[list[str]]:
    ids = [f"page-{uuid.uuid4().hex[:8]}-{i}" for i in range(5)]
    for pool_id in ids:
        client.create_pool(empty_pool(pool_id))
    yield ids
    for pool_id in ids:
        delete_pool(client, pool_id)


def error_of(call: object) -> HttpResponseError:
    try:
        call()  # type: ignore[operator]
    except HttpResponseError as exc:
        return exc
    raise AssertionError("the call succeeded")


def test_wrong_key_is_403_authentication_failed(engine: control.EngineState) -> None:
    bad = make_client(engine, key="d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")
    exc = error_of(lambda: list(bad.list_pools()))
    assert exc.status_code == 403
    assert exc.error.code == "AuthenticationFailed"


def test_unknown_account_is_403(engine: control.EngineState) -> None:
    bad = make_client(engine, account="someoneelse")
    exc = error_of(lambda: bad.get_pool("x"))
    assert exc.status_code == 403
    assert "someoneelse" in str(exc)


def test_missing_pool_is_404(client: BatchClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.get_pool("does-not-exist")
    assert caught.value.error.code == "PoolNotFound"
    assert pool_exists(client, "does-not-exist") is False
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists("does-not-exist")


def test_pool_lifecycle_without_nodes(client: BatchClient) -> None:
    pool_id = f"life-{uuid.uuid4().hex[:8]}"
    client.create_pool(empty_pool(pool_id, resizeTimeout="PT06M00S"))
    try:
        assert pool_exists(client, pool_id) is True
        pool = client.get_pool(pool_id)
        assert pool.state == "active"
        assert pool.resize_timeout.total_seconds() == 360
        assert pool.task_slots_per_node == 1
        assert pool.etag and pool.creation_time
        with pytest.raises(ResourceExistsError) as caught:
            client.create_pool(empty_pool(pool_id.upper()))
        assert caught.value.error.code == "PoolExists"
    finally:
        delete_pool(client, pool_id)
    assert pool_exists(client, pool_id) is False


def test_second_delete_is_pool_being_deleted(client: BatchClient) -> None:
    pool_id = f"del-{uuid.uuid4().hex[:8]}"
    client.create_pool(empty_pool(pool_id, targetDedicatedNodes=1))
    client.begin_delete_pool(pool_id, polling_interval=0.5)
    exc = error_of(lambda: client.begin_delete_pool(pool_id, polling_interval=0.5))
    # Either it is still being deleted, or it is already gone.
    assert (exc.status_code, exc.error.code) in ((409, "PoolBeingDeleted"),
                                                 (404, "PoolNotFound"))
    delete_pool(client, pool_id)


@pytest.mark.parametrize(("body", "status", "code", "prop"), [
    (empty_pool("bad-field", bogus=1), 400, "UnsupportedProperty", "bogus"),
    (empty_pool("bad-nested", startTask={"commandLine": "x", "nope": 1}), 400,
     "UnsupportedProperty", "startTask.nope"),
    ({"vmSize": "x"}, 400, "MissingRequiredProperty", "id"),
    (empty_pool("has space"), 400, "InvalidPropertyValue", "id"),
    (empty_pool("x" * 65), 400, "InvalidPropertyValue", "id"),
    (empty_pool("neg", targetDedicatedNodes=-1), 400, "InvalidPropertyValue",
     "targetDedicatedNodes"),
    (empty_pool("huge", targetDedicatedNodes=100000), 400, "InvalidPropertyValue",
     "targetDedicatedNodes"),
    (empty_pool("shortresize", resizeTimeout="PT1M"), 400, "InvalidPropertyValue",
     "resizeTimeout"),
    ({"id": "novm"}, 400, "MissingRequiredProperty", "vmSize"),
])
def test_bad_pools_are_refused_and_nothing_is_created(
        client: BatchClient, body: dict[str, object], status: int, code: str,
        prop: str) -> None:
    before = {p.id for p in client.list_pools()}
    exc = error_of(lambda: client.create_pool(body))
    assert (exc.status_code, exc.error.code) == (status, code)
    values = {d.code: d.message for d in exc.error.details}
    assert values.get("PropertyName") == prop
    assert {p.id for p in client.list_pools()} == before


def test_oversize_body_is_413(client: BatchClient) -> None:
    metadata = [{"name": f"k{i}", "value": "v" * 1000} for i in range(1500)]
    exc = error_of(lambda: client.create_pool(empty_pool("big", metadata=metadata)))
    assert exc.status_code == 413
    assert exc.error.code == "RequestBodyTooLarge"


def test_malformed_paths_are_refused_and_the_engine_keeps_serving(client: BatchClient) -> None:
    def send(method: str, path: str, body: bytes | None = None) -> HttpResponseError:
        request = HttpRequest(method, f"{path}?api-version=2025-06-01", content=body,
                              headers={"Content-Type": "application/json; odata=minimalmetadata"})
        return error_of(lambda: client.send_request(request))

    for path in ("/nothing-here", "/pools/a/b/c/d/e/f/g", "/pools//nodes"):
        exc = send("GET", path)
        assert (exc.status_code, exc.error.code) == (400, "InvalidUri"), path
    assert send("PUT", "/pools").status_code == 405
    exc = send("POST", "/pools", b"{not json")
    assert (exc.status_code, exc.error.code) == (400, "InvalidRequestBody")
    assert pool_exists(client, "anything") is False


def test_paging_follows_next_links(client: BatchClient, five_pools: list[str]) -> None:
    pages = list(client.list_pools(max_results=2).by_page())
    seen = [p.id for page in pages for p in page]
    assert len(pages) >= 3
    assert [i for i in seen if i in five_pools] == five_pools
    exc = error_of(lambda: list(client.list_pools(max_results=5000)))
    assert exc.status_code == 400


def test_filter_and_select(client: BatchClient, five_pools: list[str]) -> None:
    wanted = five_pools[2]
    found = list(client.list_pools(filter=f"id eq '{wanted}'", select=["id", "state"]))
    assert [p.id for p in found] == [wanted]
    assert found[0].state == "active"
    assert found[0].vm_size is None
    active = {p.id for p in client.list_pools(filter="state eq 'active' or state eq 'x'")}
    assert set(five_pools) <= active
    exc = error_of(lambda: list(client.list_pools(filter="state eq")))
    assert (exc.status_code, exc.error.code) == (400, "InvalidQueryParameterValue")


def test_get_pool_select(client: BatchClient, five_pools: list[str]) -> None:
    pool = client.get_pool(five_pools[0], select=["id", "allocationState"])
    assert pool.id == five_pools[0]
    assert pool.vm_size is None


def test_resize_of_missing_pool_is_404(client: BatchClient) -> None:
    exc = error_of(lambda: client.begin_resize_pool(
        "nope", models.BatchPoolResizeOptions(target_dedicated_nodes=1)))
    assert exc.status_code == 404
