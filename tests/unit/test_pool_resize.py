"""A pool resize's checks and its ``resizeTimeout``, over a real store in a temp dir.

No nodes: the allocator only hears a kick, and ``shed`` (the busy-node half of a shrink,
``NodeOps.shed_busy`` in the engine) is whatever the test wires in.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from shipyard.engine.allocation.allocator import POOL, Allocator
from shipyard.engine.model import requests
from shipyard.engine.services.pools import PoolService
from shipyard.engine.settings import EngineSettings
from shipyard.engine.store import Record, RecordMissing, Store
from shipyard.errors import BatchError


class Kicks:
    """The allocator as a resize sees it: told which pools to look at."""

    def __init__(self) -> None:
        self.kicked: list[str] = []

    def kick(self, pool_id: str) -> None:
        self.kicked.append(pool_id)


def service(tmp_path: Path) -> tuple[PoolService, Store, Kicks]:
    store = Store(tmp_path / "db")
    store.insert(POOL, "", "p", Record({
        "id": "p", "state": "active", "allocationState": "steady", "eTag": "0x1",
        "targetDedicatedNodes": 2, "targetLowPriorityNodes": 0}, {"slot": 1}))
    kicks = Kicks()
    pools = PoolService(EngineSettings(data_dir=tmp_path), store, cast(Allocator, kicks))
    return pools, store, kicks


def test_a_resize_accepted_stands_when_the_pool_goes_before_its_busy_nodes_are_shed(
        tmp_path: Path) -> None:
    pools, store, kicks = service(tmp_path)

    def shed_after_delete(pool_id: str, option: str) -> None:
        store.delete(POOL, "", pool_id)  # deleted between the resize and the shed
        pools.get(pool_id)  # what NodeOps.shed_busy does first: PoolNotFound

    pools.shed = shed_after_delete
    doc = pools.resize("p", {"targetDedicatedNodes": 0})
    assert (doc["targetDedicatedNodes"], doc["allocationState"]) == (0, "resizing")
    assert doc["resizeTimeout"] == requests.DEFAULT_RESIZE_TIMEOUT
    assert kicks.kicked == ["p"]


def test_a_shed_that_fails_on_a_live_pool_is_the_engines_fault_and_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pools, _, kicks = service(tmp_path)

    def shed_fails(pool_id: str, option: str) -> None:
        raise RecordMissing(f"node {pool_id}/tvm-gone")  # a node went while taken out

    pools.shed = shed_fails
    doc = pools.resize("p", {"targetDedicatedNodes": 0})
    assert doc["targetDedicatedNodes"] == 0 and kicks.kicked == ["p"]
    assert "pool p: taking busy nodes out (requeue) failed" in caplog.text


@pytest.mark.parametrize(("raw", "shown"), [(None, "PT15M"), ("PT5M", "PT5M"),
                                             ("PT1H", "PT1H"), ("PT300S", "PT5M")])
def test_resize_timeouts_one_rule(tmp_path: Path, raw: str | None, shown: str) -> None:
    pools, _, _ = service(tmp_path)
    body = {"targetDedicatedNodes": 1, **({} if raw is None else {"resizeTimeout": raw})}
    assert pools.resize("p", body)["resizeTimeout"] == shown


@pytest.mark.parametrize("raw", ["PT4M59S", "soon", 5])
def test_a_short_or_bad_resize_timeout_is_refused_and_nothing_changes(
        tmp_path: Path, raw: object) -> None:
    pools, store, kicks = service(tmp_path)
    with pytest.raises(BatchError) as caught:
        pools.resize("p", {"targetDedicatedNodes": 1, "resizeTimeout": raw})
    assert caught.value.code == "InvalidPropertyValue"
    with pytest.raises(BatchError):
        requests.check_resize_timeout(raw)
    pool = store.get(POOL, "", "p")
    assert pool is not None and pool.doc["targetDedicatedNodes"] == 2
    assert kicks.kicked == []
