"""Placement bookkeeping and the exact multi-instance environment formats."""

from __future__ import annotations

import ipaddress
from pathlib import Path, PurePosixPath

import pytest

from shipyard.engine import nodes
from shipyard.engine.agent import runs
from shipyard.engine.agent.execution import Node
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.agent.taskrun import TaskRun
from shipyard.engine.model.multiinstance import MultiInstance, private_of
from shipyard.engine.scheduling.jobflow import exit_options
from shipyard.engine.scheduling.placement import (
    Capacity,
    ReadyQueue,
    dependencies_met,
    mark_manager,
    requirements_error,
)
from shipyard.engine.store import Record


def node(index: int) -> Node:
    spec = nodes.NodeSpec(slot=1, index=index, node_id=f"n{index}", hostname=f"h{index}",
                          ip=ipaddress.IPv4Address(f"10.0.0.{4 + index}"),
                          home=Path(f"/var/tmp/x/{index}"))
    return Node("p", f"n{index}", f"10.0.0.{4 + index}", True, spec, 100 + index)


def capacity(slots: int, count: int) -> Capacity:
    cap = Capacity()
    keys = []
    for i in range(count):
        key = ("p", f"n{i}")
        cap.free[key] = slots
        cap.nodes[key] = node(i)
        keys.append(key)
    cap.order["p"] = keys
    return cap


POOL = {"id": "p", "taskSlotsPerNode": 2, "enableInterNodeCommunication": True,
        "targetDedicatedNodes": 3}


def task(doc: dict[str, object]) -> Record:
    """A task record as the task service creates it (its settings parsed once)."""
    settings = doc.get("multiInstanceSettings")
    assert settings is None or isinstance(settings, dict)
    return Record(doc, private_of(MultiInstance.parse(settings)))


MI3 = task({"multiInstanceSettings": {"numberOfInstances": 3}})


def test_spread_fills_the_emptiest_node_and_respects_slots() -> None:
    cap = capacity(2, 2)
    first = cap.take(POOL, task({"requiredSlots": 1}), set())
    second = cap.take(POOL, task({"requiredSlots": 1}), set())
    assert first and second and first[0].node_id != second[0].node_id
    assert cap.take(POOL, task({"requiredSlots": 2}), set()) is None
    assert cap.take(POOL, task({"requiredSlots": 1}), set()) is not None


def test_pack_fills_one_node_first() -> None:
    cap = capacity(2, 2)
    pool = {**POOL, "taskSchedulingPolicy": {"nodeFillType": "Pack"}}
    a = cap.take(pool, task({}), set())
    b = cap.take(pool, task({}), set())
    assert a and b and a[0].node_id == b[0].node_id


def test_gang_needs_whole_free_nodes_and_skips_blocked() -> None:
    cap = capacity(1, 3)
    assert cap.take({**POOL, "taskSlotsPerNode": 1}, MI3, {("p", "n1")}) is None
    got = cap.take({**POOL, "taskSlotsPerNode": 1}, MI3, set())
    assert got is not None and [n.node_id for n in got] == ["n0", "n1", "n2"]
    assert cap.take({**POOL, "taskSlotsPerNode": 1}, task({}), set()) is None


def manager(**settings: object) -> Record:
    record = task({"requiredSlots": 1})
    mark_manager(record, settings)
    return record


def test_an_exclusive_manager_takes_a_whole_free_node_and_keeps_it() -> None:
    cap = capacity(2, 2)
    assert cap.take(POOL, task({}), set()) is not None  # n0 or n1 now half used
    got = cap.take(POOL, manager(), set())
    assert got is not None and cap.free[("p", got[0].node_id)] == 0
    # Nothing else lands beside it; the half-used node takes one more, then nothing fits.
    assert cap.take(POOL, task({}), set()) is not None
    assert cap.take(POOL, task({}), set()) is None
    assert cap.take(POOL, manager(), set()) is None  # no whole node left


def test_a_shared_manager_takes_one_slot_like_any_task() -> None:
    cap = capacity(2, 1)
    assert cap.take(POOL, manager(runExclusive=False), set()) is not None
    assert cap.take(POOL, task({}), set()) is not None


def test_a_manager_kept_off_low_priority_nodes() -> None:
    cap = capacity(2, 2)
    cap.low_priority.add(("p", "n0"))
    got = cap.take(POOL, manager(allowLowPriorityNode=False), set())
    assert got is not None and got[0].node_id == "n1"
    assert cap.take(POOL, manager(allowLowPriorityNode=False), set()) is None
    allowed = cap.take(POOL, manager(allowLowPriorityNode=True), set())
    assert allowed is not None and allowed[0].node_id == "n0"


def test_hold_keeps_free_nodes_for_a_waiting_gang_only_when_it_could_start() -> None:
    pool = {**POOL, "taskSlotsPerNode": 1}
    cap = capacity(1, 3)
    cap.free[("p", "n1")] = 0  # busy
    assert cap.take(pool, MI3, set()) is None
    keys = cap.holdable(pool, MI3, set())
    assert keys == [("p", "n0"), ("p", "n2")]
    cap.hold(keys)
    assert cap.take(pool, task({}), set()) is None  # held nodes are no one else's
    # Two usable nodes can never start a three-node gang: holding them would idle them.
    assert capacity(1, 2).holdable(pool, MI3, set()) is None
    assert capacity(1, 3).holdable(pool, task({}), set()) is None  # plain tasks hold nothing


def on_n0(record: Record) -> Record:
    """``record`` live on n0 (preparing there)."""
    record.doc["state"] = "preparing"
    run = TaskRun.of(record)
    run.assigned = [("p", "n0")]
    run.save(record)
    return record


def test_a_node_under_a_live_job_manager_counts_out_of_a_gang() -> None:
    pool = {**POOL, "taskSlotsPerNode": 1}
    cap = capacity(1, 3)
    cap._use(on_n0(manager(runExclusive=False)))
    assert cap.waiting == {("p", "n0")}
    # The manager waits for its job's tasks: the gang could only start once it ended.
    assert cap.holdable(pool, MI3, set()) is None
    plain = capacity(1, 3)
    plain._use(on_n0(task({})))
    assert plain.waiting == set()
    assert plain.holdable(pool, MI3, set()) == [("p", "n1"), ("p", "n2")]


def test_a_manager_kept_to_dedicated_nodes_on_a_pool_of_none_says_why() -> None:
    spot_only = {**POOL, "targetDedicatedNodes": 0, "targetLowPriorityNodes": 2}
    problem = requirements_error(spot_only, manager(allowLowPriorityNode=False))
    assert problem is not None and problem.code == "JobManagerRequirementsNotMet"
    assert requirements_error(spot_only, manager()) is None
    assert requirements_error(POOL, manager(allowLowPriorityNode=False)) is None
    too_big = requirements_error(POOL, task({"requiredSlots": 3}))
    assert too_big is not None and "needs 3 slots" in too_big.message


def test_ready_queue_puts_a_waiting_manager_first() -> None:
    tasks = [Record({"id": i, "state": "active"}, seq=n) for n, i in enumerate("abm", 1)]

    def fetch(after: int, limit: int) -> list[Record]:
        return [t for t in tasks if t.seq > after][:limit]

    def ids(queue: ReadyQueue) -> list[str]:
        found = []
        while (head := queue.pop()) is not None:
            found.append(head.doc["id"])
        return found

    assert ids(ReadyQueue(fetch, lambda _: None, first=tasks[2])) == ["m", "a", "b"]
    dropped = ReadyQueue(fetch, lambda _: None)
    assert dropped.peek() is tasks[0]
    dropped.drop("a")
    assert ids(dropped) == ["b", "m"]


@pytest.mark.parametrize(("pool", "fragment"), [
    ({**POOL, "enableInterNodeCommunication": False}, "enableInterNodeCommunication"),
    ({**POOL, "taskSlotsPerNode": 2}, "taskSlotsPerNode 1"),
    ({**POOL, "taskSlotsPerNode": 1, "targetDedicatedNodes": 2}, "needs 3 nodes"),
])
def test_multi_instance_requirements(pool: dict[str, object], fragment: str) -> None:
    problem = requirements_error(pool, MI3)
    assert problem is not None and fragment in problem.message
    assert problem.code == "MultiInstanceRequirementsNotMet"
    assert requirements_error({**POOL, "taskSlotsPerNode": 1}, MI3) is None


def test_a_record_stored_before_the_parsed_settings_reads_its_document() -> None:
    old = Record({"multiInstanceSettings": {"numberOfInstances": 3}}, {})
    assert MultiInstance.of(old) == MultiInstance.of(MI3) == MultiInstance(3)
    assert requirements_error({**POOL, "enableInterNodeCommunication": False}, old)
    # The kept value wins over the document: it is what create checked.
    assert MultiInstance.of(Record(old.doc, private_of(None))) is None


def test_dependencies_ids_ranges_and_blocking() -> None:
    done = {str(i): Record({"state": "completed"}, {"dependency": "satisfy"}) for i in (1, 2, 3)}
    done["a"] = Record({"state": "completed"}, {"dependency": "block"})
    assert dependencies_met({"dependsOn": {"taskIdRanges": [{"start": 1, "end": 3}]}}, done.get)
    assert not dependencies_met({"dependsOn": {"taskIds": ["1", "a"]}}, done.get)
    assert not dependencies_met({"dependsOn": {"taskIds": ["missing"]}}, done.get)
    assert dependencies_met({}, done.get)


def test_ready_queue_pages_lazily_and_skips_unmet_dependencies() -> None:
    tasks = [Record({"id": str(i), "state": "active", **(
        {"dependsOn": {"taskIds": ["x"]}} if i % 3 == 0 else {})}, seq=i) for i in range(1, 151)]
    reads: list[tuple[int, int]] = []

    def fetch(after: int, limit: int) -> list[Record]:
        reads.append((after, limit))
        return [t for t in tasks if t.seq > after][:limit]

    queue = ReadyQueue(fetch, lambda _task_id: None)
    first = [queue.pop() for _ in range(5)]
    assert [t.doc["id"] for t in first if t] == ["1", "2", "4", "5", "7"]
    assert reads == [(0, ReadyQueue.PAGE)]  # one page was enough
    rest = []
    while (task := queue.pop()) is not None:
        rest.append(int(task.doc["id"]))
    assert len(first) + len(rest) == 100 and all(i % 3 for i in rest)
    assert rest == sorted(rest) and queue.peek() is None


def test_multi_instance_environment_formats() -> None:
    env = runs.multi_instance_environment([node(0), node(1)], 1, PurePosixPath("/t"))
    assert env["AZ_BATCH_HOST_LIST"] == "10.0.0.4,10.0.0.5"
    assert env["AZ_BATCH_NODE_LIST"] == "10.0.0.4;10.0.0.5"
    assert env["AZ_BATCH_MASTER_NODE"] == "10.0.0.4:6000"
    assert env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] == "false"
    assert env["CCP_NODES"] == "2 10.0.0.4 1 10.0.0.5 1"
    assert env["AZ_BATCH_TASK_SHARED_DIR"] == "/t"


def testexit_options_pick_code_then_range_then_default() -> None:
    task = {"exitConditions": {
        "exitCodes": [{"code": 3, "exitOptions": {"jobAction": "none"}}],
        "exitCodeRanges": [{"start": 4, "end": 9, "exitOptions": {"dependencyAction":
                                                                  "satisfy"}}],
        "default": {"jobAction": "terminate"}}}
    assert exit_options(task, Outcome(3)) == {"jobAction": "none"}
    assert exit_options(task, Outcome(5)) == {"dependencyAction": "satisfy"}
    assert exit_options(task, Outcome(42)) == {"jobAction": "terminate"}
    assert exit_options(task, Outcome(0)) == {}
