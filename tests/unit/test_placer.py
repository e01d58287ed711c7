"""The placer's decisions over a store of records: multi-instance reservations (and their
limits) and job managers ahead of their job. No nodes: a node is a record and a ``Node``
the lookup returns; a busy node is one a live (preparing) task holds; time is a clock the
test moves."""

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
from shipyard.engine.scheduling.placer import HOLD_SECONDS, REST_SECONDS, Placer
from shipyard.engine.store import Record, Store

OLD, NEW = "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z"


def lookup(pool_id: str, node_id: str) -> Node:
    index = int(node_id[1:])
    spec = nodes.NodeSpec(slot=1, index=index, node_id=node_id, hostname=f"h{index}",
                          ip=ipaddress.IPv4Address(f"10.0.0.{4 + index}"),
                          home=Path(f"/var/tmp/x/{index}"))
    return Node(pool_id, node_id, f"10.0.0.{4 + index}", True, spec, 100 + index)


def make_store(tmp_path: Path, count: int, slots: int = 1, dedicated: bool = True) -> Store:
    store = Store(tmp_path / "db")
    targets = {"targetDedicatedNodes": count if dedicated else 0,
               "targetLowPriorityNodes": 0 if dedicated else count}
    store.insert(POOL, "", "p", Record({
        "id": "p", "state": "active", "taskSlotsPerNode": slots, **targets,
        "enableInterNodeCommunication": True}))
    for i in range(count):
        store.insert(NODE, "p", f"n{i}", Record(
            {"id": f"n{i}", "state": "idle", "isDedicated": dedicated},
            {"pool_id": "p", "index": i}))
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


def busy_on(node_id: str, manager: bool = False) -> Record:
    """A live task holding one slot of ``node_id`` (preparing there); maybe a job manager."""
    record = Record({"id": f"busy-{node_id}", "state": "preparing"})
    run = TaskRun.of(record)
    run.assigned = [("p", node_id)]
    run.save(record)
    if manager:
        mark_manager(record, {"runExclusive": False})
    return record


class Clock:
    """The placer's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reserved(placer: Placer) -> dict[str, tuple[str, str]]:
    return {k: (r.job_id, r.task_id) for k, r in placer.reserved.items()}


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
    assert reserved(placer) == {"p": ("gang", "mpi")}
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


def test_no_gang_holds_nodes_it_could_only_have_once_a_job_manager_ends(
        tmp_path: Path) -> None:
    # The reviewer's deadlock: a's manager runs on n0 until a's tasks are done; the gang
    # needs n0 too. Holding n1 and n2 for it would keep a1 (and so the manager) forever.
    store = make_store(tmp_path, 3)
    add_job(store, "a")
    add_job(store, "b", priority=1000)
    add_task(store, "b", "mpi", instances=3)
    add_task(store, "a", "a1", created=NEW)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    manager = busy_on("n0", manager=True)
    assert placed_ids(placer, store, [manager]) == {"a1": ["n1"]}
    assert reserved(placer) == {}
    # The manager ended (a1 with it): the gang reserves and takes the pool.
    assert placed_ids(placer, store, []) == {"mpi": ["n0", "n1", "n2"]}


def test_a_reservation_that_gains_no_node_gives_up_rests_and_comes_back(
        tmp_path: Path) -> None:
    store = make_store(tmp_path, 3)
    add_job(store, "gang", priority=1000)
    add_job(store, "plain")
    add_task(store, "gang", "mpi", instances=3)
    add_task(store, "plain", "a1", created=NEW)
    add_task(store, "plain", "a2", created=NEW)
    clock = Clock()
    placer = Placer(store, lookup, lambda *_: None, lambda: None, clock=clock)
    start = clock.now
    # n0 runs something that never ends (not a manager: nothing says it waits on others).
    assert placed_ids(placer, store, [busy_on("n0"), busy_on("n1")]) == {}  # n2 held
    clock.now = start + 100
    assert placed_ids(placer, store, [busy_on("n0")]) == {}  # n1 too: the clock restarts
    clock.now = start + 100 + HOLD_SECONDS - 1
    assert placed_ids(placer, store, [busy_on("n0")]) == {}
    clock.now = start + 100 + HOLD_SECONDS
    assert placed_ids(placer, store, [busy_on("n0")]) == {"a1": ["n1"], "a2": ["n2"]}
    assert reserved(placer) == {}
    clock.now += REST_SECONDS - 1  # resting: the pool is everyone's
    assert placed_ids(placer, store, [busy_on("n0")]) == {"a1": ["n1"], "a2": ["n2"]}
    clock.now += 1  # rested: the gang reserves and holds again
    assert placed_ids(placer, store, [busy_on("n0")]) == {}
    assert reserved(placer) == {"p": ("gang", "mpi")}


def test_a_reservation_holding_nothing_idles_nothing_and_does_not_time_out(
        tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    add_job(store, "gang", priority=1000)
    add_task(store, "gang", "mpi", instances=2)
    clock = Clock()
    placer = Placer(store, lookup, lambda *_: None, lambda: None, clock=clock)
    busy = [busy_on("n0"), busy_on("n1")]
    for _ in range(3):
        assert placed_ids(placer, store, busy) == {}
        clock.now += HOLD_SECONDS
    assert reserved(placer) == {"p": ("gang", "mpi")}
    assert placed_ids(placer, store, []) == {"mpi": ["n0", "n1"]}


def manager_job(store: Store, **terms: bool) -> None:
    add_job(store, "j", jobManagerTask={"id": "m", "commandLine": "x"})
    add_task(store, "j", "t1")
    add_task(store, "j", "t2")
    add_task(store, "j", "m", created=NEW)
    store.mutate(TASK, "j", "m", lambda r: mark_manager(r, terms))


def test_the_job_manager_goes_first_in_its_job(tmp_path: Path) -> None:
    store = make_store(tmp_path, 2)
    manager_job(store, runExclusive=True)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert list(placed_ids(placer, store, [])) == ["m", "t1"]  # m first, though newest


def test_the_job_manager_is_a_priority_not_a_gate(tmp_path: Path) -> None:
    # runExclusive needs a whole free node; each node has one slot busy.
    store = make_store(tmp_path, 2, slots=2)
    manager_job(store, runExclusive=True)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert placed_ids(placer, store, [busy_on("n0"), busy_on("n1")]) == {
        "t1": ["n0"], "t2": ["n1"]}
    # A node frees wholly: the manager is tried before the job's other tasks.
    assert placed_ids(placer, store, [busy_on("n0")]) == {"m": ["n1"], "t1": ["n0"]}


def test_a_manager_its_pool_can_never_run_says_so_and_its_job_goes_on(
        tmp_path: Path) -> None:
    store = make_store(tmp_path, 2, dedicated=False)  # low-priority nodes only
    manager_job(store, allowLowPriorityNode=False)
    placer = Placer(store, lookup, lambda *_: None, lambda: None)
    assert placed_ids(placer, store, []) == {"t1": ["n0"], "t2": ["n1"]}
    manager = store.get(TASK, "j", "m")
    assert manager is not None and manager.doc["state"] == "active"
    failure = manager.doc["executionInfo"]["failureInfo"]
    assert failure["code"] == "JobManagerRequirementsNotMet"
    assert "allowLowPriorityNode" in failure["message"]
    assert "targetDedicatedNodes 0" in failure["message"]
