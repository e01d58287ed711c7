"""The engine's persistence: every resource as a JSON document in SQLite, surviving restarts.

A record is the resource's wire form (``doc``, exactly what the REST API serves) plus the
engine's own bookkeeping (``private``: slots, pids, paths) that never leaves the engine.
Ids are case-insensitive like the service's, so the key is the lower-cased id.
All access goes through one connection under one lock; ``mutate`` is the only way to
change a record, so concurrent state transitions never lose each other's updates.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import EngineError

Json = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    private TEXT NOT NULL,
    PRIMARY KEY (kind, parent, key)
);
CREATE INDEX IF NOT EXISTS docs_by_seq ON docs (kind, parent, seq);
CREATE INDEX IF NOT EXISTS docs_by_state ON docs (kind, parent, json_extract(doc, '$.state'), seq);
"""
#: The indexed expression above, spelled the same so SQLite uses the index.
_STATE = "json_extract(doc, '$.state')"


@dataclass
class Record:
    """One stored resource: its wire document and the engine's private fields."""

    doc: Json
    private: Json = field(default_factory=dict)
    #: Creation order (set on records read by ``in_states``; 0 otherwise).
    seq: int = 0


class RecordExists(EngineError):
    """A record with that id already exists under that parent."""


class StoreError(EngineError):
    """The store could not write: nothing of the write was kept."""


class RecordMissing(EngineError):
    """No record with that id under that parent."""


class Store:
    """Thread-safe document store over one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across a crash of the engine process (WAL), which is what we need.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()
        self._seq = int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes so that a crash keeps all or none of them."""
        with self._lock, _writing():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                # A COMMIT that fails (a full disk) leaves the transaction open: end it too.
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def insert(self, kind: str, parent: str, rid: str, record: Record) -> None:
        with self._lock, _writing():
            self._seq += 1
            try:
                self._db.execute(
                    "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
                    (kind, parent.lower(), rid.lower(), self._seq, _dump(record.doc),
                     _dump(record.private)),
                )
            except sqlite3.IntegrityError as exc:
                raise RecordExists(f"{kind} {rid!r} already exists") from exc

    def get(self, kind: str, parent: str, rid: str) -> Record | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc, private FROM docs WHERE kind=? AND parent=? AND key=?",
                (kind, parent.lower(), rid.lower()),
            ).fetchone()
        return None if row is None else Record(json.loads(row[0]), json.loads(row[1]))

    def page(self, kind: str, parent: str, offset: int, limit: int) -> list[Record]:
        """``limit`` records from ``offset`` in creation order, decoding only those."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc, private FROM docs WHERE kind=? AND parent=? ORDER BY seq "
                "LIMIT ? OFFSET ?", (kind, parent.lower(), limit, offset)).fetchall()
        return [Record(json.loads(doc), json.loads(private)) for doc, private in rows]

    def in_states(self, kind: str, parent: str, states: str | Collection[str], after: int = 0,
                  limit: int = -1) -> list[Record]:
        """Records whose ``doc.state`` is one of ``states``, in creation order after ``after``.

        The scheduler asks for the few open tasks of a job without decoding its thousands
        of completed ones; the index on the state keeps the query as small as its answer.
        ``states`` is one state or several (the engine's state enums are strings).
        """
        values = _values(states)
        with self._lock:
            rows = self._db.execute(
                "SELECT doc, private, seq FROM docs INDEXED BY docs_by_state WHERE "
                f"{_in_states(values)} AND seq > ? ORDER BY seq LIMIT ?",
                (kind, parent.lower(), *values, after, limit)).fetchall()
        return [Record(json.loads(doc), json.loads(private), seq) for doc, private, seq in rows]

    def count_states(self, kind: str, parent: str, states: str | Collection[str]) -> int:
        """How many records under ``parent`` have one of ``states``."""
        values = _values(states)
        with self._lock:
            row = self._db.execute(f"SELECT COUNT(*) FROM docs WHERE {_in_states(values)}",
                                   (kind, parent.lower(), *values)).fetchone()
        return int(row[0])

    def tally(self, kind: str, parent: str, paths: tuple[str, ...],
              weight: str) -> list[tuple[Any, ...]]:
        """Rows of (doc values at ``paths``..., count, sum of ``weight`` or 1) per group.

        Counting in SQLite keeps a task-count request from decoding every task of a job.
        """
        values = ", ".join("json_extract(doc, ?)" for _ in paths)
        groups = ", ".join(str(i + 1) for i in range(len(paths)))
        with self._lock:
            return self._db.execute(
                f"SELECT {values}, COUNT(*), SUM(COALESCE(json_extract(doc, ?), 1)) FROM docs "
                f"WHERE kind=? AND parent=? GROUP BY {groups}",
                (*paths, weight, kind, parent.lower())).fetchall()

    def due(self, kind: str, key: str, until: float) -> list[tuple[str, Record]]:
        """(parent, record) pairs whose ``private[key]`` is a time at or before ``until``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT parent, doc, private FROM docs WHERE kind=? AND "
                "json_extract(private, ?) <= ? ORDER BY seq",
                (kind, f"$.{key}", until)).fetchall()
        return [(parent, Record(json.loads(doc), json.loads(private)))
                for parent, doc, private in rows]

    def list(self, kind: str, parent: str | None = "") -> list[Record]:
        """Records of a kind in creation order; ``parent=None`` lists across all parents."""
        query = "SELECT doc, private FROM docs WHERE kind=?"
        args: tuple[str, ...] = (kind,)
        if parent is not None:
            query += " AND parent=?"
            args = (kind, parent.lower())
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        # Decoding happens outside the lock: a long list must not stall other readers.
        return [Record(json.loads(doc), json.loads(private)) for doc, private in rows]

    def mutate(
        self, kind: str, parent: str, rid: str, change: Callable[[Record], None]
    ) -> Record:
        """Apply ``change`` to the stored record atomically and store the result."""
        with self._lock, _writing():
            record = self.get(kind, parent, rid)
            if record is None:
                raise RecordMissing(f"{kind} {rid!r} does not exist")
            change(record)
            self._db.execute(
                "UPDATE docs SET doc=?, private=? WHERE kind=? AND parent=? AND key=?",
                (_dump(record.doc), _dump(record.private), kind, parent.lower(), rid.lower()),
            )
            return record

    def delete(self, kind: str, parent: str, rid: str) -> bool:
        with self._lock, _writing():
            cursor = self._db.execute(
                "DELETE FROM docs WHERE kind=? AND parent=? AND key=?",
                (kind, parent.lower(), rid.lower()),
            )
            return cursor.rowcount > 0

    def delete_children(self, kind: str, parent: str) -> int:
        with self._lock, _writing():
            cursor = self._db.execute(
                "DELETE FROM docs WHERE kind=? AND parent=?", (kind, parent.lower())
            )
            return cursor.rowcount


@contextmanager
def _writing() -> Iterator[None]:
    """SQLite's write failures (a full disk, an I/O error) as the engine's StoreError."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreError(f"the engine's store cannot be written ({exc}); is its data "
                         "directory's file system full?") from exc


def _values(states: str | Collection[str]) -> tuple[str, ...]:
    # A state is itself a collection of characters: one alone is one state, not letters.
    return (states,) if isinstance(states, str) else tuple(states)


def _in_states(states: tuple[str, ...]) -> str:
    """WHERE clause for kind, parent, then each of ``states`` as parameters, in that order."""
    return f"kind=? AND parent=? AND {_STATE} IN ({','.join('?' * len(states))})"


def _dump(value: Json) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
