"""The document store: case-insensitive ids, atomic mutation, persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shipyard.engine.store import Record, RecordExists, RecordMissing, Store


def test_insert_get_is_case_insensitive(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.insert("pool", "", "MyPool", Record({"id": "MyPool"}, {"slot": 1}))
    assert store.get("pool", "", "mypool") == Record({"id": "MyPool"}, {"slot": 1})
    with pytest.raises(RecordExists):
        store.insert("pool", "", "MYPOOL", Record({"id": "MYPOOL"}))


def test_list_keeps_creation_order_and_survives_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for name in ("b", "a", "c"):
        store.insert("node", "P", name, Record({"id": name}))
    store.close()
    again = Store(tmp_path / "db")
    assert [r.doc["id"] for r in again.list("node", "p")] == ["b", "a", "c"]
    again.insert("node", "p", "d", Record({"id": "d"}))
    assert [r.doc["id"] for r in again.list("node", "p")][-1] == "d"


def test_mutate_is_atomic_under_threads(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.insert("pool", "", "p", Record({"n": 0}))

    def bump() -> None:
        for _ in range(200):
            store.mutate("pool", "", "p", lambda r: r.doc.update(n=r.doc["n"] + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = store.get("pool", "", "p")
    assert record is not None and record.doc["n"] == 800


def test_mutate_missing_and_transaction_rollback(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with pytest.raises(RecordMissing):
        store.mutate("pool", "", "x", lambda r: None)
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("pool", "", "y", Record({}))
        raise RuntimeError("boom")
    assert store.get("pool", "", "y") is None


def test_state_queries_follow_mutations_and_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for i, state in enumerate(["active", "running", "completed", "active", "completed"]):
        store.insert("task", "J", f"t{i}", Record({"id": f"t{i}", "state": state}))
    store.insert("task", "other", "x", Record({"id": "x", "state": "active"}))
    active = store.in_states("task", "j", ("active",))
    assert [r.doc["id"] for r in active] == ["t0", "t3"]
    assert [r.doc["id"] for r in store.in_states("task", "j", ("active",), after=active[0].seq)] \
        == ["t3"]
    assert [r.doc["id"] for r in store.in_states("task", "j", ("active", "running"),
                                                 limit=2)] == ["t0", "t1"]
    store.mutate("task", "j", "t3", lambda r: r.doc.__setitem__("state", "running"))
    assert store.count_states("task", "j", ("active", "running")) == 3
    assert store.count_states("task", "j", ("active",)) == 1


def test_tally_groups_and_weighs_without_decoding(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    docs = [{"state": "completed", "executionInfo": {"result": "success"}},
            {"state": "completed", "executionInfo": {"result": "failure"}, "requiredSlots": 2},
            {"state": "completed", "executionInfo": {"result": "success"}, "requiredSlots": 3},
            {"state": "active"}]
    for i, doc in enumerate(docs):
        store.insert("task", "j", f"t{i}", Record({"id": f"t{i}", **doc}))
    rows = store.tally("task", "j", ("$.state", "$.executionInfo.result"), "$.requiredSlots")
    assert sorted(rows, key=str) == sorted([("completed", "success", 2, 4),
                                            ("completed", "failure", 1, 2),
                                            ("active", None, 1, 1)], key=str)


def test_due_finds_records_whose_private_time_passed(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for name, until in (("a", 10.0), ("b", 20.0), ("c", None)):
        private = {} if until is None else {"retain_until": until}
        store.insert("task", "j", name, Record({"id": name}, private))
    assert [(p, r.doc["id"]) for p, r in store.due("task", "retain_until", 15.0)] == [("j", "a")]
    assert len(store.due("task", "retain_until", 25.0)) == 2
