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
