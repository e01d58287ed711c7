"""The autoscale clock on a real store: samples every 30 s, evaluation on the interval,
targets from the engine's own task counts, errors that change nothing.

The allocator is the one stand-in: it records which pools it was asked to reconcile
(the real one starts nodes, which the contract tests cover).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from azure.batch import models

from shipyard.engine.allocation.allocator import POOL, Allocator
from shipyard.engine.model import docs
from shipyard.engine.scheduling.scheduler import JOB, TASK
from shipyard.engine.services.autoscale.metrics import CpuMeter
from shipyard.engine.services.autoscale.service import AutoscaleService
from shipyard.engine.store import Record, Store
from shipyard.errors import BatchError

T0 = 1_000_000.0
PENDING = ("$TargetDedicatedNodes = min(3, $PendingTasks.GetSample(1));"
           "$NodeDeallocationOption = taskcompletion")


class Kicks:
    """Records the pools the service hands to the allocator."""

    def __init__(self) -> None:
        self.pools: list[str] = []

    def kick(self, pool_id: str) -> None:
        self.pools.append(pool_id)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db")


def service(store: Store, kicks: Kicks, capacity: Any = None) -> AutoscaleService:
    def fits(more: int) -> None:
        if capacity is not None and more > capacity:
            raise BatchError(400, "InvalidPropertyValue", "too many",
                             [("Reason", f"{more} nodes do not fit")])

    return AutoscaleService(store, cast(Allocator, kicks), fits)


def add_pool(store: Store, formula: str | None = PENDING, interval: str = "PT5M") -> None:
    body: dict[str, Any] = {"id": "p", "vmSize": "standard_d2_v3"}
    private: dict[str, Any] = {"slot": 1, "subnet": "10.213.1.0/24"}
    if formula:
        body.update(enableAutoScale=True, autoScaleFormula=formula,
                    autoScaleEvaluationInterval=interval)
        private["autoscale_next"] = 0.0
    doc = docs.new_pool_doc(models.BatchPoolCreateOptions(body), "http://engine")
    docs.set_allocation_state(doc, "steady")
    store.insert(POOL, "", "p", Record(doc, private))


def add_tasks(store: Store, states: list[str]) -> None:
    store.insert(JOB, "", "j", Record({"id": "j", "state": "active",
                                       "poolInfo": {"poolId": "P"}}))
    for index, state in enumerate(states):
        result = {"completed": {"executionInfo": {"result": "success"}}}.get(state, {})
        store.insert(TASK, "j", f"t{index}", Record({"id": f"t{index}", "state": state,
                                                     **result}))


def pool(store: Store) -> dict[str, Any]:
    record = store.get(POOL, "", "p")
    assert record is not None
    return record.doc


def test_samples_are_taken_every_30_seconds(store: Store) -> None:
    add_pool(store, formula=None)
    add_tasks(store, ["active", "running", "completed"])
    clock = service(store, Kicks())
    for offset in (0, 10, 29, 30, 45, 61):
        clock.tick(T0 + offset)
    metric = clock.histories.metrics("p", docs.wire.utcnow())["$PendingTasks"]
    assert [value for _, value in metric.samples] == [2.0, 2.0, 2.0]
    succeeded = clock.histories.metrics("p", docs.wire.utcnow())["$SucceededTasks"]
    assert succeeded.samples[-1][1] == 1.0


def test_a_due_pool_is_evaluated_and_resized_from_task_counts(store: Store) -> None:
    add_pool(store)
    add_tasks(store, ["active", "active", "running", "completed"])
    kicks = Kicks()
    clock = service(store, kicks)
    etag = pool(store)["eTag"]
    clock.tick(T0)
    doc = pool(store)
    assert doc["targetDedicatedNodes"] == 3 and doc["allocationState"] == "resizing"
    assert doc["autoScaleRun"]["results"] == (
        "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=taskcompletion")
    assert doc["eTag"] == etag, "an autoscale run is service-driven: the eTag stays"
    assert kicks.pools == ["p"]


def test_evaluation_follows_the_interval(store: Store) -> None:
    add_pool(store, formula="$TargetDedicatedNodes = $PendingTasks.Count()")
    clock = service(store, Kicks())
    clock.tick(T0)
    first = pool(store)["autoScaleRun"]
    # The clock's sample plus the one taken right before the run.
    assert first["results"].startswith("$TargetDedicatedNodes=2;")
    clock.tick(T0 + 60)
    clock.tick(T0 + 299)
    assert pool(store)["autoScaleRun"] == first, "not due before 5 minutes"
    clock.tick(T0 + 300)
    second = pool(store)["autoScaleRun"]
    assert second["timestamp"] >= first["timestamp"]
    # Clock samples at +60 and +299 (a period apart), and the run's own.
    assert second["results"].startswith("$TargetDedicatedNodes=5;")


def test_a_failing_formula_only_reports(store: Store) -> None:
    add_pool(store, formula="$TargetDedicatedNodes = avg($CPUPercent.GetSample("
                            "TimeInterval_Minute * 10, 90))")
    kicks = Kicks()
    service(store, kicks).tick(T0)
    doc = pool(store)
    assert doc["targetDedicatedNodes"] == 0 and doc["allocationState"] == "steady"
    assert "results" not in doc["autoScaleRun"]
    error = doc["autoScaleRun"]["error"]
    assert error["code"] == "InsufficientSampleData"
    assert error["values"][0]["value"].startswith("Line 1, Col 41: Insufficient data")
    assert kicks.pools == []


def test_a_resize_that_does_not_fit_is_a_resize_error(store: Store) -> None:
    add_pool(store, formula="$TargetDedicatedNodes = 50")
    kicks = Kicks()
    service(store, kicks, capacity=10).tick(T0)
    doc = pool(store)
    assert doc["targetDedicatedNodes"] == 0 and kicks.pools == []
    assert doc["resizeErrors"][0]["code"] == "AllocationFailed"
    assert doc["autoScaleRun"]["results"].startswith("$TargetDedicatedNodes=50;")


def test_disabled_pools_are_not_evaluated(store: Store) -> None:
    add_pool(store)
    clock = service(store, Kicks())
    clock.disable("p")
    clock.tick(T0)
    assert "autoScaleRun" not in pool(store) and pool(store)["enableAutoScale"] is False


def test_a_pool_off_its_unchanged_targets_is_reconciled_again(store: Store) -> None:
    """Nodes busy at a shrink stay; the next run hands the pool back to the allocator."""
    add_pool(store, formula="$TargetDedicatedNodes = 0")
    store.mutate(POOL, "", "p", lambda r: r.doc.update(currentDedicatedNodes=2))
    kicks = Kicks()
    clock = service(store, kicks)
    clock.tick(T0)
    assert pool(store)["targetDedicatedNodes"] == 0 and kicks.pools == ["p"]
    store.mutate(POOL, "", "p", lambda r: r.doc.update(currentDedicatedNodes=0))
    clock.tick(T0 + 300)
    assert kicks.pools == ["p"], "on target: nothing to reconcile"


def test_cpu_meter_reads_the_busy_share_between_readings(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    meter = CpuMeter(stat)
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert meter.read() is None, "the first reading has nothing to compare with"
    stat.write_text("cpu  250 0 150 900 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert meter.read() == pytest.approx(50.0)  # 200 busy of 400 jiffies
    stat.write_text("garbage")
    assert meter.read() is None
