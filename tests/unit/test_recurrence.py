"""The job schedule clock on a real store: when jobs are made, skipped runs, the end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.engine.model import wire
from shipyard.engine.scheduling.scheduler import JOB
from shipyard.engine.services.autopool import SCHEDULE, AutoPools
from shipyard.engine.services.recurrence import Recurrence, first_due, set_due
from shipyard.engine.store import Record, Store

T0 = 1_800_000_000.0  # a fixed "now" (2027-01-15)


class Kicks:
    """What the clock needs of the scheduler: a wake-up, and ends of jobs it records."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.kicked = 0

    def kick(self) -> None:
        self.kicked += 1

    def terminate_job(self, job_id: str, reason: str) -> None:
        complete(self.store, job_id)

    def delete_job(self, job_id: str) -> None:
        self.store.delete(JOB, "", job_id)


def complete(store: Store, job_id: str) -> None:
    store.mutate(JOB, "", job_id, lambda r: r.doc.__setitem__("state", "completed"))


def at(seconds: float) -> str:
    return wire.format_datetime(datetime.fromtimestamp(T0 + seconds, UTC))


@pytest.fixture
def clock(tmp_path: Path) -> tuple[Store, Recurrence]:
    store = Store(tmp_path / "db")
    kicks: Any = Kicks(store)
    pools: Any = None  # no schedule here uses an auto pool
    return store, Recurrence(store, kicks, AutoPools(store, pools))


def add(store: Store, schedule: dict[str, Any], created: float = T0) -> None:
    doc = {"id": "s", "url": "http://x/jobschedules/s", "state": "active",
           "schedule": schedule, "executionInfo": {},
           "jobSpecification": {"poolInfo": {"poolId": "p"}}}
    record = Record(doc, {"count": 0})
    set_due(record, first_due(schedule, created))
    store.insert(SCHEDULE, "", "s", record)


def job_ids(store: Store) -> list[str]:
    return [j.doc["id"] for j in store.list(JOB)]


def schedule(store: Store) -> dict[str, Any]:
    record = store.get(SCHEDULE, "", "s")
    assert record is not None
    return record.doc


def test_waits_for_do_not_run_until_then_runs_once_and_completes(
        clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"doNotRunUntil": at(30)})
    assert schedule(store)["executionInfo"]["nextRunTime"] == at(30)
    recurrence.tick(T0 + 29)
    assert job_ids(store) == []
    recurrence.tick(T0 + 30)
    assert job_ids(store) == ["s:job-1"]
    assert schedule(store)["executionInfo"]["recentJob"]["id"] == "s:job-1"
    assert "nextRunTime" not in schedule(store)["executionInfo"]
    recurrence.tick(T0 + 31)
    assert schedule(store)["state"] == "active", "its job is still open"
    complete(store, "s:job-1")
    recurrence.tick(T0 + 32)
    assert schedule(store)["state"] == "completed"
    assert job_ids(store) == ["s:job-1"]


def test_one_open_job_and_a_missed_start_window_is_skipped(
        clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"recurrenceInterval": "PT1M", "startWindow": "PT1M"})
    recurrence.tick(T0)
    assert job_ids(store) == ["s:job-1"]
    assert schedule(store)["executionInfo"]["nextRunTime"] == at(60)
    recurrence.tick(T0 + 70)
    assert job_ids(store) == ["s:job-1"], "job-1 is open: job-2 waits"
    recurrence.tick(T0 + 130)  # the window of the run due at +60 closed at +120
    assert job_ids(store) == ["s:job-1"]
    assert schedule(store)["executionInfo"]["nextRunTime"] == at(180)
    complete(store, "s:job-1")
    recurrence.tick(T0 + 150)
    assert job_ids(store) == ["s:job-1"]
    recurrence.tick(T0 + 181)
    assert job_ids(store) == ["s:job-1", "s:job-2"]
    assert schedule(store)["executionInfo"]["nextRunTime"] == at(240)


def test_open_job_ending_within_the_window_lets_the_next_run_start_late(
        clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"recurrenceInterval": "PT1M"})
    recurrence.tick(T0)
    recurrence.tick(T0 + 65)
    complete(store, "s:job-1")
    recurrence.tick(T0 + 90)
    assert job_ids(store) == ["s:job-1", "s:job-2"]
    assert schedule(store)["executionInfo"]["nextRunTime"] == at(120), "the grid holds"


def test_do_not_run_after_ends_the_schedule(clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"recurrenceInterval": "PT1M", "doNotRunAfter": at(90)})
    recurrence.tick(T0)
    complete(store, "s:job-1")
    recurrence.tick(T0 + 60)
    assert job_ids(store) == ["s:job-1", "s:job-2"]
    complete(store, "s:job-2")
    recurrence.tick(T0 + 120)
    assert job_ids(store) == ["s:job-1", "s:job-2"], "nothing after doNotRunAfter"
    assert schedule(store)["state"] == "completed"


def test_terminating_and_deleting_end_the_jobs_first(clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"recurrenceInterval": "PT1M"})
    recurrence.tick(T0)
    store.mutate(SCHEDULE, "", "s", lambda r: r.doc.__setitem__("state", "terminating"))
    recurrence.tick(T0 + 1)
    assert schedule(store)["state"] == "completed"
    assert store.get(JOB, "", "s:job-1").doc["state"] == "completed"  # type: ignore[union-attr]
    store.mutate(SCHEDULE, "", "s", lambda r: r.doc.__setitem__("state", "deleting"))
    recurrence.tick(T0 + 2)
    assert job_ids(store) == []
    recurrence.tick(T0 + 3)
    assert store.get(SCHEDULE, "", "s") is None


def test_start_window_counts_from_a_past_do_not_run_until(
        clock: tuple[Store, Recurrence]) -> None:
    store, recurrence = clock
    add(store, {"doNotRunUntil": at(-120), "startWindow": "PT1M"})
    recurrence.tick(T0)
    assert job_ids(store) == [], "its only chance closed a minute ago"
    assert schedule(store)["state"] == "active"
    recurrence.tick(T0 + 1)
    assert schedule(store)["state"] == "completed"
