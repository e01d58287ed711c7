"""A task's run bookkeeping: records written by earlier engines load, and keys stay as they were."""

from __future__ import annotations

import copy
from pathlib import Path

from shipyard.engine.agent.execution import Launched
from shipyard.engine.agent.taskrun import Instance, Phase, TaskRun
from shipyard.engine.model.multiinstance import KEY, MultiInstance, private_of
from shipyard.engine.store import Record, Store

#: A running multi-instance task's private part exactly as the engine wrote it before
#: ``TaskRun`` (dicts by hand): the primary past its coordination command, a subtask
#: whose node failed before it launched (no ``code`` key), a null deadline.
OLD_RUNNING = {
    "instances": [
        {"instance": 0, "pool_id": "p", "node_id": "n0", "ip": "10.0.0.4",
         "env": {"AZ_BATCH_TASK_ID": "t"}, "start": "2026-12-01T10:00:00.000000Z",
         "phase": "application", "job_id": "j", "task_id": "t", "code": None,
         "launched": {"pid": 12, "exit_file": "/x/12", "container": None},
         "history": [{"pid": 11, "exit_file": "/x/11", "container": "shy-mi-0"}]},
        {"instance": 1, "pool_id": "p", "node_id": "n1", "ip": "10.0.0.5", "env": {},
         "start": "2026-12-01T10:00:00.000000Z", "phase": "waiting", "job_id": "j",
         "task_id": "t", "node_fault": "the node's daemon is gone"},
    ],
    "deadline": None,
    "retry_pending": True,
}
OLD_COMPLETED = {"dependency": "satisfy", "retain_until": 1796000000.5,
                 "subtasks": [{"id": 1, "state": "completed", "result": "success"}]}
OLD_PREPARING = {"assigned": [["p", "n0"], ["p", "n1"]], "retained": True}


def test_an_old_running_record_reads_as_typed_instances() -> None:
    run = TaskRun.from_json(copy.deepcopy(OLD_RUNNING))
    primary, subtask = run.instances
    assert primary.phase is Phase.APPLICATION and primary.code is None
    assert primary.launched == Launched(12, "/x/12")
    assert primary.history == [Launched(11, "/x/11", "shy-mi-0")]
    assert subtask.phase is Phase.WAITING and subtask.launched is None
    assert subtask.node_fault == "the node's daemon is gone" and subtask.node == ("p", "n1")
    assert run.deadline is None and run.retry_pending and run.assigned == []


def test_old_completed_and_preparing_records_read() -> None:
    done = TaskRun.from_json(OLD_COMPLETED)
    assert (done.dependency, done.retain_until) == ("satisfy", 1796000000.5)
    assert done.subtasks == OLD_COMPLETED["subtasks"] and done.instances == []
    preparing = TaskRun.from_json(OLD_PREPARING)
    assert preparing.assigned == [("p", "n0"), ("p", "n1")] and preparing.retained


def test_writing_keeps_the_old_keys_and_values() -> None:
    for old in (OLD_RUNNING, OLD_COMPLETED, OLD_PREPARING):
        written = TaskRun.from_json(copy.deepcopy(old)).to_json()
        # The same keys (a null deadline is simply left out), the same values.
        assert set(written) == {k for k, v in old.items() if v is not None}
        assert TaskRun.from_json(written) == TaskRun.from_json(old)
    instances = TaskRun.from_json(OLD_RUNNING).to_json()["instances"]
    for new, old_item in zip(instances, OLD_RUNNING["instances"], strict=True):
        assert {k: v for k, v in new.items() if k != "code"} == \
            {k: v for k, v in old_item.items() if k != "code"}
        assert new["code"] == old_item.get("code")


def test_save_replaces_the_run_and_keeps_the_rest(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    private = {**copy.deepcopy(OLD_RUNNING), **private_of(MultiInstance(2, "sshd"))}
    store.insert("task", "j", "t", Record({"id": "t"}, private))
    record = store.get("task", "j", "t")
    assert record is not None
    run = TaskRun.of(record)
    run.instances[0].code, run.instances[0].end = 0, "2026-12-01T10:05:00.000000Z"
    run.retry_pending, run.deadline = False, 1796000100.0

    def change(stored: Record) -> None:
        run.save(stored)

    store.mutate("task", "j", "t", change)
    again = store.get("task", "j", "t")
    assert again is not None and TaskRun.of(again) == run
    assert "retry_pending" not in again.private
    assert MultiInstance.of(again) == MultiInstance(2, "sshd")
    TaskRun().save(again)
    assert again.private == {KEY: MultiInstance(2, "sshd").to_json()}


def test_an_instance_round_trips_every_field() -> None:
    item = Instance(2, "p", "n2", "10.0.0.6", {"A": "1"}, "2026-12-01T10:00:00.000000Z", "j",
                    "t", Phase.COORDINATION, 3, "2026-12-01T10:01:00.000000Z",
                    Launched(5, "/x/5", "c"), [Launched(4, "/x/4")], "fault", True, "error")
    assert Instance.from_json(item.to_json()) == item
