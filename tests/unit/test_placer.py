"""The placer's decisions over a store of records: multi-instance reservations and job
managers ahead of their job. No nodes: a node is a record and a ``Node`` the lookup
returns; a busy node is one a live (preparing) task holds."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from shipyard.engine import nodes
from shipyard.engine.agent.execution import Node
from shipyard.engine.agent.taskrun import TaskRun
from shipyard.engine.allocation.allocator import NODE, POOL
from shipyard.engine.model.multiinstance import MultiInstance, private_of
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.scheduling.placement import mark_manager
from shipyard.engine.scheduling.placer import Placer
from shipyard.engine.store import Record, Store

OLD, NEW = "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z"


def lookup(pool_id: str, node_id: str) -> Node:
    index = int(node_id[1:])
    spec = nodes.NodeSpec(slot=1, index=index, node_id=node_id, hostname=f"h{index}",
                          ip=ipaddress.IPv4Address(f"10.0.0.{4 + index}"),
                          home=Path(f"/var/tmp/x/{index}"))
    return Node(pool_id, node_id, f"10.0.0.{4 + index}", True, spec, 100 + index)


def make_store(tmp_path: Path, count: int) -> Store:
    store = Store(tmp_path / "db")
    store.insert(POOL, "", "p", Record({
        "id": "p", "state": "active", "taskSlotsPerNode": 1, "targetDedicatedNodes": count,
        "enableInterNodeCommunication": True}))
    for i in range(count):
        store.insert(NODE, "p", f"n{i}", Record(
            {"id": f"n{i}", "state": "idle", "isDedicated": True}, {"pool_id": "p", "index": i}))
    return store


def add_job(store: Store, job_id: str, priority: int = 0, **extra: Any) -> Record:
    record = Record({"id": job_id, "state": "active", "poolInfo": {"poolId": "p"},
                     "priority": priority, **extra}, {"seq": len(store.list(JOB)) + 1})
    store.insert(JOB, "", job_id, record)
    return record


def add_task(store: Store, job_id: str, task_id: str, created: str = OLD,
             instances: int | None = None, **doc: Any) -> Record:
    multi = MultiInstance(instances) if instances else None
    record = Record({"id": task_id, "state": "active", "creationTime": created, **doc},
                    private_of(multi))
    store.insert(TASK, job_id, task_id, record)
    return record


def busy_on(node_id: str) -> Record:
    """A live task holding ``node_id`` (preparing there)."""
    record = Record({"id": f"busy-{node_id}", "state": "preparing"})
    run = TaskRun.of(record)
    run.assigned = [("p", node_id)]
    run.save(record)
    return record


def placed_ids(placer: Placer, store: Store, live: list[Record]) -> dict[str, list[str]]:
    jobs = store.list(JOB)
    return {task.doc["id"]: [n.node_id for n in where]
            for _, task, where in placer.place(jobs, live)}


def test_a_waiting_gang_at_the_head_holds_freed_nodes_until_it_fits(tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    add_job(store, "plain")
    add_job(store, "gang", priority=1000)  # its task is the pool's most urgent
    add_task(store, "gang", "mpi", instances=2)
    add_task(store, "plain", "a1", created=NEW)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    # n0 busy, n1 free: the gang cannot start, and n1 is held for it, not given to a1.
    assert placed_ids(placer, store, [busy_on("n0")]) == {}
    assert placer.reserved == {"p": ("gang", "mpi")}
    # n0 frees: the gang takes both nodes before any plain task is looked at.
    assert placed_ids(placer, store, []) == {"mpi": ["n0", "n1"]}
    assert placer.reserved == {}


def test_a_gang_not_at_the_head_reserves_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    add_job(store, "plain", priority=1000)
    add_job(store, "gang")
    add_task(store, "gang", "mpi", instances=2)
    add_task(store, "plain", "a1")
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert placed_ids(placer, store, [busy_on("n0")]) == {"a1": ["n1"]}
    assert placer.reserved == {}


def test_a_reservation_ends_with_its_task(tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    add_job(store, "gang", priority=1000)
    add_job(store, "plain")
    add_task(store, "gang", "mpi", instances=2)
    add_task(store, "plain", "a1", created=NEW)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert placed_ids(placer, store, [busy_on("n0")]) == {}
    store.mutate(TASK, "gang", "mpi", lambda r: r.doc.update(state="completed"))
    assert placed_ids(placer, store, [busy_on("n0")]) == {"a1": ["n1"]}
    assert placer.reserved == {}


def test_nothing_is_held_for_a_gang_the_usable_nodes_cannot_start(tmp_path: Path) -> None:
    store = make_store(tmp_path, 3)
    store.mutate(NODE, "p", "n2", lambda r: r.doc.update(state="unusable"))
    add_job(store, "gang", priority=1000)
    add_job(store, "plain")
    add_task(store, "gang", "mpi", instances=3)
    add_task(store, "plain", "a1", created=NEW)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert placed_ids(placer, store, [busy_on("n0")]) == {"a1": ["n1"]}


def test_the_job_manager_runs_first_and_alone_until_it_started(tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    add_job(store, "j", jobManagerTask={"id": "m", "commandLine": "x"})
    add_task(store, "j", "t1")
    manager = add_task(store, "j", "m", created=NEW)
    store.mutate(TASK, "j", "m", lambda r: mark_manager(r, {"runExclusive": True}))
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert list(placed_ids(placer, store, [])) == ["m"]  # t1 waits, though a node is free
    manager.doc.update(state="running", executionInfo={"startTime": NEW})
    store.mutate(TASK, "j", "m", lambda r: r.doc.update(manager.doc))
    assert list(placed_ids(placer, store, [])) == ["t1"]
