"""Tasks through the SDK, what becomes of them: failures, wall clock and retry limits,
retention, exit conditions, dependencies, hostile ids and values, and an engine killed
with -9 while tasks run (records and real exit codes survive)."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from azure.batch import BatchClient, models

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import (
    HOSTILE,
    add_task,
    bash,
    create_job,
    delete_job,
    error_of,
    holds_for,
    job,
    node_file,
    parse_env,
    pid_alive,
    release_runs,
    task_body,
    task_dir,
    task_file,
    task_pid,
    wait_job,
    wait_task,
)
from tests.realengine import wait_for

pytestmark = pytest.mark.root


# ---- constraints and outcomes -------------------------------------------------------------

def test_failed_task_is_a_user_error(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "fails", bash("exit 3"))
        info = wait_task(client, job_id, "fails").execution_info
        assert (info.exit_code, info.result) == (3, "failure")
        assert info.failure_info.category == "usererror"
        assert info.failure_info.code == "FailureExitCode"
        add_task(client, job_id, "nosuch", "/no/such/program")
        info = wait_task(client, job_id, "nosuch").execution_info
        assert info.result == "failure"


def test_max_wall_clock_time_kills_the_task(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "slow", bash("echo $$ > pid; exec sleep 60"),
                 constraints={"maxWallClockTime": "PT2S"})
        pid = task_pid(client, job_id, "slow")
        done = wait_task(client, job_id, "slow", timeout=20)
        info = done.execution_info
        assert info.result == "failure"
        assert info.failure_info.code == "MaxWallClockTimeExceeded"
        assert (info.end_time - info.start_time).total_seconds() < 15
        wait_for("the process to end", lambda: not pid_alive(pid), 10)


@pytest.mark.parametrize("retries", [0, 2])
def test_max_task_retry_count(client: BatchClient, shared_pool: str, retries: int) -> None:
    with job(client, shared_pool) as job_id:
        runs = f"{job_id}-runs.txt"
        add_task(client, job_id, "flaky", bash(
            f'echo "$AZ_BATCH_NODE_ID" >> "$AZ_BATCH_NODE_SHARED_DIR/{runs}"; exit 3'),
            constraints={"maxTaskRetryCount": retries})
        info = wait_task(client, job_id, "flaky").execution_info
        assert (info.exit_code, info.result, info.retry_count) == (3, "failure", retries)
        assert sum(release_runs(client, shared_pool, runs).values()) == retries + 1


def test_unlimited_retries_until_terminated(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        runs = f"{job_id}-runs.txt"
        add_task(client, job_id, "forever", bash(
            f'echo "$AZ_BATCH_NODE_ID" >> "$AZ_BATCH_NODE_SHARED_DIR/{runs}"; exit 3'),
            constraints={"maxTaskRetryCount": -1})

        def retried() -> bool:
            task = client.get_task(job_id, "forever")
            assert task.state != "completed", "an unlimited retry count gave up"
            return task.execution_info.retry_count >= 3

        wait_for("three retries", retried, 60, 0.25)
        client.terminate_task(job_id, "forever")
        wait_task(client, job_id, "forever", timeout=20)
        assert sum(release_runs(client, shared_pool, runs).values()) >= 4


def test_retention_time_removes_the_task_dir(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "brief", "/bin/true", constraints={"retentionTime": "PT2S"})
        add_task(client, job_id, "kept", "/bin/true")
        brief = wait_task(client, job_id, "brief")
        kept = wait_task(client, job_id, "kept")
        assert brief.constraints.retention_time.total_seconds() == 2
        wait_for("the retained dir to go", lambda: node_file(
            client, shared_pool, brief.node_info.node_id,
            f"{task_dir(job_id, 'brief')}/stdout.txt") is None, 30)
        assert node_file(client, shared_pool, kept.node_info.node_id,
                         f"{task_dir(job_id, 'kept')}/stdout.txt") == b""


def test_exit_condition_job_action(client: BatchClient, shared_pool: str) -> None:
    def mapping(code: int, action: str) -> dict[str, object]:
        return {"exitCodes": [{"code": code, "exitOptions": {"jobAction": action}}]}

    with job(client, shared_pool, onTaskFailure="performexitoptionsjobaction") as job_id:
        add_task(client, job_id, "harmless", bash("exit 4"), exitConditions=mapping(4, "none"))
        assert wait_task(client, job_id, "harmless").execution_info.exit_code == 4
        holds_for("the job to stay active",
                  lambda: client.get_job(job_id).state == "active", 2)
        add_task(client, job_id, "fatal", bash("exit 3"), exitConditions=mapping(3, "terminate"))
        done = wait_job(client, job_id, timeout=30)
        assert done.execution_info.termination_reason == "TaskFailed"


def test_dependencies_on_ids_and_ranges(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool, usesTaskDependencies=True) as job_id:
        tasks = [task_body(str(i), bash("sleep 1")) for i in (1, 2, 3)]
        tasks += [task_body("x", bash("sleep 2")), task_body("4", bash("sleep 60")),
                  task_body("after", "/bin/true", dependsOn={
                      "taskIds": ["x"], "taskIdRanges": [{"start": 1, "end": 3}]})]
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=tasks))
        assert client.get_task(job_id, "after").state == "active"
        after = wait_task(client, job_id, "after", timeout=60)
        assert after.execution_info.exit_code == 0
        ends = [client.get_task(job_id, i).execution_info.end_time for i in ("1", "2", "3", "x")]
        assert all(end is not None for end in ends)
        assert after.execution_info.start_time >= max(ends)
        # Task 4 is outside the range: nobody waited for it.
        assert client.get_task(job_id, "4").state == "running"
        got = client.get_task(job_id, "after").depends_on
        assert got.task_ids == ["x"]
        assert (got.task_id_ranges[0].start, got.task_id_ranges[0].end) == (1, 3)


def test_dependency_actions_block_and_satisfy(client: BatchClient, shared_pool: str) -> None:
    satisfy = {"exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}]}
    with job(client, shared_pool, usesTaskDependencies=True) as job_id:
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=[
            task_body("p-block", bash("exit 3")),
            task_body("p-sat", bash("exit 3"), exitConditions=satisfy),
            task_body("c-block", "/bin/true", dependsOn={"taskIds": ["p-block"]}),
            task_body("c-sat", "/bin/true", dependsOn={"taskIds": ["p-sat"]})]))
        assert wait_task(client, job_id, "p-block").execution_info.result == "failure"
        assert wait_task(client, job_id, "p-sat").execution_info.result == "failure"
        assert wait_task(client, job_id, "c-sat").execution_info.exit_code == 0
        holds_for("the blocked dependent to stay active",
                  lambda: client.get_task(job_id, "c-block").state == "active", 2)


def test_tasks_with_dependencies_need_a_job_that_uses_them(
        client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        exc = error_of(lambda: add_task(client, job_id, "dep", "/bin/true",
                                        dependsOn={"taskIds": ["other"]}))
        # The service's own code for it, a conflict with the job rather than a bad body.
        assert (exc.status_code, exc.error.code) == (409, "TaskDependenciesNotSpecifiedOnJob")
        assert list(client.list_tasks(job_id)) == []


# ---- hostile values and recovery ----------------------------------------------------------

def test_hostile_ids_and_environment_values(client: BatchClient, shared_pool: str) -> None:
    job_id = ("j-_" + uuid.uuid4().hex * 2)[:64]
    task_id = ("T_-" + uuid.uuid4().hex * 2)[:64]
    create_job(client, shared_pool, job_id=job_id, commonEnvironmentSettings=[
        {"name": "JOB_" + name, "value": value} for name, value in HOSTILE.items()])
    try:
        add_task(client, job_id, task_id, "/usr/bin/env -0", environmentSettings=[
            {"name": name, "value": value} for name, value in HOSTILE.items()])
        add_task(client, job_id, "printf", bash('printf %s "$NEWLINES$DOLLAR$SINGLE"'),
                 environmentSettings=[{"name": n, "value": HOSTILE[n]}
                                      for n in ("NEWLINES", "DOLLAR", "SINGLE")])
        done = wait_task(client, job_id, task_id)
        assert done.execution_info.exit_code == 0
        assert done.node_info.task_root_directory == task_dir(job_id, task_id)
        env = parse_env(task_file(client, job_id, task_id, "stdout.txt"))
        for name, value in HOSTILE.items():
            assert env[name] == value, name
            assert env["JOB_" + name] == value, name
        assert env["AZ_BATCH_TASK_ID"] == task_id and env["AZ_BATCH_JOB_ID"] == job_id
        wait_task(client, job_id, "printf")
        expected = HOSTILE["NEWLINES"] + HOSTILE["DOLLAR"] + HOSTILE["SINGLE"]
        assert task_file(client, job_id, "printf", "stdout.txt").decode() == expected
        assert [t.id for t in client.list_tasks(job_id, filter=f"id eq '{task_id}'")] == [task_id]
        exc = error_of(lambda: add_task(client, job_id, task_id + "x", "/bin/true"))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
    finally:
        delete_job(client, job_id)


def test_kill_9_keeps_records_and_real_exit_codes(
        client: BatchClient, shared_pool: str, settings: EngineSettings) -> None:
    with job(client, shared_pool, priority=7) as job_id:
        add_task(client, job_id, "done", "/bin/true")
        wait_task(client, job_id, "done")
        add_task(client, job_id, "ends", bash("echo $$ > pid; sleep 3; exit 7"))
        add_task(client, job_id, "long", bash("echo $$ > pid; exec sleep 60"))
        ends_pid, long_pid = task_pid(client, job_id, "ends"), task_pid(client, job_id, "long")
        before = client.get_job(job_id)
        state = control.read_state(settings.data_dir)
        assert state is not None
        os.kill(state.pid, signal.SIGKILL)
        wait_for("the engine to die", lambda: control.read_state(settings.data_dir) is None, 10)
        wait_for("the task to finish while the engine is down",
                 lambda: not pid_alive(ends_pid), 20)
        control.start(settings)
        after = client.get_job(job_id)
        assert (after.state, after.priority, after.etag) == ("active", 7, before.etag)
        assert sorted(t.id for t in client.list_tasks(job_id)) == ["done", "ends", "long"]
        info = wait_task(client, job_id, "ends", timeout=30).execution_info
        assert (info.exit_code, info.result) == (7, "failure")
        assert info.failure_info.code == "FailureExitCode"
        assert client.get_task(job_id, "done").execution_info.exit_code == 0
        assert client.get_task(job_id, "long").state == "running"
        assert pid_alive(long_pid), "the engine's restart killed a running task"
        client.terminate_task(job_id, "long")
        assert wait_task(client, job_id, "long", timeout=20).execution_info.failure_info.code \
            == "TaskEnded"
        wait_for("the process to end", lambda: not pid_alive(long_pid), 15)
