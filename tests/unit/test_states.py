"""The engine's state enums: the service's wire values, and the wire unchanged by using them."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import pytest
from azure.batch import models

from shipyard.engine.model import states
from shipyard.engine.model.states import JobState, NodeState, TaskResult, TaskState
from shipyard.engine.store import Record, Store

#: Each of the engine's enums and the SDK enums it spells (values must be the same set).
SDK_TWINS: list[tuple[type[Enum], tuple[type[Enum], ...]]] = [
    (states.PoolState, (models.BatchPoolState,)),
    (states.AllocationState, (models.AllocationState,)),
    (states.NodeState, (models.BatchNodeState,)),
    (states.SchedulingState, (models.SchedulingState,)),
    (states.JobState, (models.BatchJobState,)),
    (states.JobScheduleState, (models.BatchJobScheduleState,)),
    (states.TaskState, (models.BatchTaskState,)),
    (states.SubtaskState, (models.BatchSubtaskState,)),
    (states.TaskResult, (models.BatchTaskExecutionResult,)),
    (states.StartTaskState, (models.BatchStartTaskState,)),
    (states.PrepReleaseState, (models.BatchJobPreparationTaskState,
                               models.BatchJobReleaseTaskState)),
    (states.DependencyAction, (models.DependencyAction,)),
    (states.ErrorCategory, (models.BatchErrorSourceCategory,)),
]


@pytest.mark.parametrize(("ours", "sdk"), SDK_TWINS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_enum_has_exactly_the_sdks_wire_values(ours: type[Enum],
                                                     sdk: tuple[type[Enum], ...]) -> None:
    for twin in sdk:
        assert {m.value for m in ours} == {m.value for m in twin}, twin.__name__
        assert {m.name for m in ours} == {m.name for m in twin}, twin.__name__


def test_members_are_their_wire_strings_in_json_and_comparisons() -> None:
    doc = {"state": TaskState.RUNNING, "executionInfo": {"result": TaskResult.FAILURE},
           JobState.ACTIVE: NodeState.WAITING_FOR_START_TASK}
    plain = {"state": "running", "executionInfo": {"result": "failure"},
             "active": "waitingforstarttask"}
    assert json.dumps(doc, sort_keys=True) == json.dumps(plain, sort_keys=True)
    assert json.loads(json.dumps(doc)) == plain == doc
    assert f"{TaskState.PREPARING}" == str(TaskState.PREPARING) == "preparing"
    assert TaskState("completed") is TaskState.COMPLETED


def test_the_sets_partition_their_states() -> None:
    assert set(TaskState) == states.TASK_OPEN | states.TASK_TERMINAL
    assert not states.TASK_OPEN & states.TASK_TERMINAL
    assert states.TASK_LIVE < states.TASK_OPEN
    assert set(JobState) == states.JOB_OPEN | states.JOB_CLOSED
    assert not states.JOB_OPEN & states.JOB_CLOSED
    assert states.NODE_SCHEDULABLE < states.NODE_UP
    assert not states.NODE_REMOVABLE & {NodeState.RUNNING, NodeState.LEAVING_POOL}


def test_the_store_keeps_and_finds_states_by_member_set_or_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for task_id, state in (("a", TaskState.ACTIVE), ("b", TaskState.RUNNING),
                           ("c", TaskState.PREPARING), ("d", "completed")):
        store.insert("task", "j", task_id, Record({"id": task_id, "state": state}))
    live = store.in_states("task", "j", states.TASK_LIVE)
    assert [r.doc["id"] for r in live] == ["b", "c"]
    assert type(live[0].doc["state"]) is str and live[0].doc["state"] == TaskState.RUNNING
    assert [r.doc["id"] for r in store.in_states("task", "j", TaskState.ACTIVE)] == ["a"]
    assert store.count_states("task", "j", states.TASK_OPEN) == 3
    assert store.count_states("task", "j", TaskState.COMPLETED) == 1
    assert store.count_states("task", "j", "completed") == 1
