"""Jobs after create through the SDK: disable (requeue, terminate, wait) and enable,
replace (PUT), moving a disabled job to another pool (``jobs migrate``), and jobs on auto
pools that come and go with the job."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceNotFoundError

from tests.contract.jobhelpers import (
    add_task,
    bash,
    delete_job,
    details,
    error_of,
    holds_for,
    job,
    pid_alive,
    set_terminate_when_done,
    task_body,
    task_file,
    task_pid,
    terminate_job,
    uid,
    wait_job,
    wait_task,
)
from tests.realengine import delete_pool, pool_exists, pool_options, wait_for, wait_nodes

pytestmark = pytest.mark.root

INFINITE = "P10675199DT2H48M5.4775807S"


def disable(client: BatchClient, job_id: str, option: str) -> None:
    client.begin_disable_job(job_id, models.BatchJobDisableOptions({"disableTasks": option}),
                             polling_interval=0.5).result()


def enable(client: BatchClient, job_id: str) -> None:
    client.begin_enable_job(job_id, polling_interval=0.5).result()


# ---- disable and enable -------------------------------------------------------------------

def test_disable_requeue_puts_running_task_back_and_enable_completes_it(
        client: BatchClient, one_node: str) -> None:
    with job(client, one_node) as job_id:
        add_task(client, job_id, "t", bash("echo $$ > pid; exec sleep 8"))
        pid = task_pid(client, job_id, "t")
        before = client.get_job(job_id)
        disable(client, job_id, "requeue")
        got = client.get_job(job_id)
        assert (got.state, got.previous_state) == ("disabled", "active")
        assert got.etag != before.etag, "disable is a user change"
        task = client.get_task(job_id, "t")
        assert task.state == "active"
        assert task.execution_info.requeue_count == 1
        wait_for("the requeued run's process to end", lambda: not pid_alive(pid), 10)
        holds_for("a disabled job starting nothing",
                  lambda: client.get_task(job_id, "t").state == "active", 3)
        disable(client, job_id, "requeue")  # disabling a disabled job is accepted
        enable(client, job_id)
        got = client.get_job(job_id)
        assert (got.state, got.previous_state) == ("active", "disabled")
        done = wait_task(client, job_id, "t", timeout=60)
        assert (done.execution_info.exit_code, done.execution_info.result) == (0, "success")


def test_disable_terminate_ends_running_tasks(client: BatchClient, one_node: str) -> None:
    with job(client, one_node) as job_id:
        add_task(client, job_id, "t", bash("echo $$ > pid; exec sleep 60"))
        pid = task_pid(client, job_id, "t")
        disable(client, job_id, "terminate")
        assert client.get_job(job_id).state == "disabled"
        task = client.get_task(job_id, "t")
        assert (task.state, task.execution_info.result) == ("completed", "failure")
        assert task.execution_info.failure_info.code == "TaskEnded"
        wait_for("the terminated process to end", lambda: not pid_alive(pid), 10)
        enable(client, job_id)
        assert client.get_task(job_id, "t").state == "completed"


def test_disable_wait_lets_running_tasks_finish(client: BatchClient, one_node: str) -> None:
    with job(client, one_node) as job_id:
        add_task(client, job_id, "t", bash("echo $$ > pid; sleep 6"))
        task_pid(client, job_id, "t")
        client.begin_disable_job(job_id, models.BatchJobDisableOptions(
            {"disableTasks": "wait"}), polling_interval=0.5)
        assert client.get_job(job_id).state == "disabling"
        assert client.get_task(job_id, "t").state == "running"
        wait_job(client, job_id, "disabled", timeout=30)
        done = client.get_task(job_id, "t")
        assert (done.state, done.execution_info.exit_code) == ("completed", 0)
        enable(client, job_id)


def test_disable_and_enable_errors(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        exc = error_of(lambda: client.begin_disable_job(job_id, models.BatchJobDisableOptions(
            {"disableTasks": "later"})))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert details(exc)["PropertyName"] == "disableTasks"
        assert client.get_job(job_id).state == "active", "a refused request changes nothing"
        terminate_job(client, job_id)
        wait_job(client, job_id, "completed")
        for call in (lambda: disable(client, job_id, "requeue"),
                     lambda: enable(client, job_id)):
            exc = error_of(call)
            assert (exc.status_code, exc.error.code) == (409, "JobCompleted")
    exc = error_of(lambda: enable(client, "no-such-job"))
    assert (exc.status_code, exc.error.code) == (404, "JobNotFound")


# ---- pool changes (jobs migrate) ----------------------------------------------------------

def test_disabled_job_moves_its_tasks_to_another_pool(
        client: BatchClient, nodeless: str, one_node: str) -> None:
    with job(client, nodeless) as job_id:
        add_task(client, job_id, "moved", bash("hostname"))
        move = models.BatchJobUpdateOptions({"poolInfo": {"poolId": one_node}})
        exc = error_of(lambda: client.update_job(job_id, move))
        assert exc.status_code == 409
        assert exc.error.code == "OperationInvalidForCurrentState"
        assert client.get_job(job_id).pool_info.pool_id == nodeless
        # The same pool again is no change (Batch Shipyard sends it with every update).
        client.update_job(job_id, models.BatchJobUpdateOptions(
            {"poolInfo": {"poolId": nodeless}, "priority": 5}))
        assert client.get_job(job_id).priority == 5

        disable(client, job_id, "requeue")
        client.update_job(job_id, move)
        got = client.get_job(job_id)
        assert got.pool_info.pool_id == one_node
        assert got.execution_info.pool_id == one_node
        assert client.get_task(job_id, "moved").state == "active"
        enable(client, job_id)
        done = wait_task(client, job_id, "moved", timeout=60)
        assert done.execution_info.exit_code == 0
        assert done.node_info.pool_id == one_node


# ---- replace (PUT) ------------------------------------------------------------------------

def test_replace_job_resets_what_it_leaves_out(client: BatchClient, nodeless: str) -> None:
    extra: dict[str, Any] = {"priority": 100, "metadata": [{"name": "a", "value": "b"}],
                             "constraints": {"maxTaskRetryCount": 2,
                                             "maxWallClockTime": "PT1H"}}
    with job(client, nodeless, **extra) as job_id:
        before = client.get_job(job_id)
        client.replace_job(job_id, models.BatchJob({
            "poolInfo": {"poolId": nodeless}, "priority": 500,
            "constraints": {"maxTaskRetryCount": 3}}))
        got = client.get_job(job_id)
        assert got.priority == 500
        assert got.constraints.max_task_retry_count == 3
        assert got.as_dict()["constraints"]["maxWallClockTime"] == INFINITE
        assert got.metadata is None
        assert got.all_tasks_complete_mode == "noaction"
        assert got.etag != before.etag and got.state == "active"

        client.replace_job(job_id, models.BatchJob({"poolInfo": {"poolId": nodeless}}))
        assert client.get_job(job_id).priority == 0

        exc = error_of(lambda: client.replace_job(job_id, models.BatchJob(
            {"poolInfo": {"poolId": "another-pool"}})))
        assert (exc.status_code, exc.error.code) == (409, "OperationInvalidForCurrentState")
        exc = error_of(lambda: client.replace_job(job_id, models.BatchJob({"priority": 1})))
        assert (exc.status_code, exc.error.code) == (400, "MissingRequiredProperty")

        add_task(client, job_id, "keeps-it-open", "/bin/true")
        set_terminate_when_done(client, job_id)
        exc = error_of(lambda: client.replace_job(job_id, models.BatchJob(
            {"poolInfo": {"poolId": nodeless}})))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert details(exc)["PropertyName"] == "onAllTasksComplete"
        assert client.get_job(job_id).all_tasks_complete_mode == "terminatejob"
    exc = error_of(lambda: client.replace_job("no-such-job", models.BatchJob(
        {"poolInfo": {"poolId": nodeless}})))
    assert (exc.status_code, exc.error.code) == (404, "JobNotFound")


# ---- auto pools ---------------------------------------------------------------------------

def auto_job(client: BatchClient, spec: dict[str, Any]) -> str:
    job_id = uid("auto")
    client.create_job(models.BatchJobCreateOptions({
        "id": job_id, "poolInfo": {"autoPoolSpecification": spec},
        "onAllTasksComplete": "noaction"}))
    return job_id


def auto_pool_of(client: BatchClient, job_id: str) -> str:
    return str(wait_for(f"the auto pool of {job_id}",
                        lambda: client.get_job(job_id).execution_info.pool_id, 30))


def test_job_on_auto_pool_runs_and_its_pool_goes_with_it(client: BatchClient) -> None:
    spec = {"autoPoolIdPrefix": "ap", "poolLifetimeOption": "job",
            "pool": {"vmSize": "standard_d2_v3", "targetDedicatedNodes": 1}}
    job_id = auto_job(client, spec)
    pool_id = ""
    try:
        pool_id = auto_pool_of(client, job_id)
        assert re.fullmatch(r"ap_[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", pool_id), pool_id
        got = client.get_job(job_id)
        auto = got.pool_info.auto_pool_specification
        assert (auto.pool_lifetime_option, auto.keep_alive) == ("job", False)
        assert auto.pool.task_slots_per_node == 1 and got.pool_info.pool_id is None
        assert client.get_pool(pool_id).vm_size == "standard_d2_v3"
        add_task(client, job_id, "on-auto", bash("hostname"))
        done = wait_task(client, job_id, "on-auto", timeout=180)
        assert done.execution_info.exit_code == 0
        assert done.node_info.pool_id == pool_id
        set_terminate_when_done(client, job_id)
        wait_job(client, job_id, "completed")
        wait_for(f"auto pool {pool_id} to go", lambda: not pool_exists(client, pool_id), 120)
    finally:
        delete_job(client, job_id)
        if pool_id:
            delete_pool(client, pool_id)


def test_auto_pool_kept_alive_and_spec_errors(client: BatchClient) -> None:
    spec = {"poolLifetimeOption": "job", "keepAlive": True,
            "pool": {"vmSize": "standard_d2_v3"}}
    job_id = auto_job(client, spec)
    pool_id = ""
    try:
        pool_id = auto_pool_of(client, job_id)
        assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", pool_id), pool_id
        terminate_job(client, job_id)
        wait_job(client, job_id, "completed")
        holds_for("keepAlive keeping the pool", lambda: pool_exists(client, pool_id), 4)
    finally:
        delete_job(client, job_id)
        if pool_id:
            delete_pool(client, pool_id)

    # A deleted job takes its pool along as well.
    job_id = auto_job(client, {**spec, "keepAlive": False})
    pool_id = auto_pool_of(client, job_id)
    try:
        delete_job(client, job_id)
        wait_for(f"auto pool {pool_id} to go", lambda: not pool_exists(client, pool_id), 60)
    finally:
        delete_pool(client, pool_id)

    cases = [({"poolLifetimeOption": "jobschedule", "pool": {"vmSize": "standard_d2_v3"}},
              "InvalidPropertyValue", "poolInfo.autoPoolSpecification.poolLifetimeOption"),
             ({"poolLifetimeOption": "job"}, "MissingRequiredProperty",
              "poolInfo.autoPoolSpecification.pool"),
             ({"poolLifetimeOption": "job", "autoPoolIdPrefix": "x" * 21,
               "pool": {"vmSize": "standard_d2_v3"}}, "InvalidPropertyValue",
              "poolInfo.autoPoolSpecification.autoPoolIdPrefix")]
    for bad, code, name in cases:
        exc = error_of(lambda bad=bad: auto_job(client, bad))
        assert (exc.status_code, exc.error.code) == (400, code), bad
        assert details(exc)["PropertyName"] == name


# ---- job manager tasks --------------------------------------------------------------------

def manager_done(client: BatchClient, job_id: str, task_id: str) -> models.BatchTask | None:
    """The manager task once completed (it is added when the job becomes active)."""
    with suppress(ResourceNotFoundError):
        task = client.get_task(job_id, task_id)
        return task if task.state == "completed" else None
    return None


def test_job_manager_task_runs_and_ends_its_job(client: BatchClient, one_node: str) -> None:
    job_id = uid("jm")
    client.create_job(models.BatchJobCreateOptions({
        "id": job_id, "poolInfo": {"poolId": one_node},
        "jobManagerTask": {"id": "manager", "commandLine": bash("echo managing")}}))
    try:
        done = wait_for("the manager task", lambda: manager_done(client, job_id, "manager"),
                        60, 0.25)
        assert done.execution_info.exit_code == 0
        assert task_file(client, job_id, "manager", "stdout.txt") == b"managing\n"
        ended = wait_job(client, job_id, "completed", timeout=30)
        assert ended.execution_info.termination_reason == "JMComplete"
    finally:
        delete_job(client, job_id)

    manager = {"id": "m", "commandLine": "/bin/true", "killJobOnCompletion": False}
    with job(client, one_node, jobManagerTask=manager) as job_id:
        wait_for("the manager task", lambda: manager_done(client, job_id, "m"), 60, 0.25)
        holds_for("the job outliving its manager",
                  lambda: client.get_job(job_id).state == "active", 2)

    exc = error_of(lambda: client.create_job(models.BatchJobCreateOptions({
        "id": uid("jm"), "poolInfo": {"poolId": one_node},
        "jobManagerTask": {"id": "m"}})))
    assert (exc.status_code, exc.error.code) == (400, "MissingRequiredProperty")
    assert details(exc)["PropertyName"] == "jobManagerTask.commandLine"


def test_job_manager_goes_first_alone_and_on_a_dedicated_node(client: BatchClient) -> None:
    pool_id = uid("jmx")
    client.create_pool(pool_options(pool_id, 1, command=None, targetLowPriorityNodes=1,
                                    taskSlotsPerNode=2))
    try:
        nodes = {bool(n.is_dedicated): str(n.id) for n in wait_nodes(client, pool_id, 2)}
        dedicated, spot = nodes[True], nodes[False]
        # The dedicated node is busy when the manager arrives (the spot node was off then).
        client.disable_node_scheduling(pool_id, spot, models.BatchNodeDisableSchedulingOptions(
            {"nodeDisableSchedulingOption": "requeue"}))
        with job(client, pool_id) as blocker:
            add_task(client, blocker, "b", bash("sleep 5"))
            wait_task(client, blocker, "b", ("running",))
            client.enable_node_scheduling(pool_id, spot)
            manager = {"id": "m", "commandLine": bash("sleep 2"), "killJobOnCompletion": False,
                       "allowLowPriorityNode": False}  # runExclusive: true by default
            with job(client, pool_id, jobManagerTask=manager) as job_id:
                client.create_task_collection(job_id, models.BatchTaskGroup(task_values=[
                    task_body(f"t{i}", bash("sleep 1")) for i in range(3)]))
                ran = {i: wait_task(client, job_id, i, timeout=60) for i in ("m", "t0", "t1", "t2")}
            held = client.get_task(blocker, "b").execution_info
    finally:
        delete_pool(client, pool_id)
    first = ran.pop("m")
    m = first.execution_info
    # Not on the free spot node: it waited for the whole dedicated node.
    assert first.node_info.node_id == dedicated
    assert m.start_time >= held.end_time
    # A priority, not a gate: the job's other tasks ran while the manager could not.
    assert any(t.execution_info.start_time < m.start_time for t in ran.values())
    for task in ran.values():
        # None ran beside it on its node.
        info = task.execution_info
        assert task.node_info.node_id == spot or info.end_time <= m.start_time or \
            info.start_time >= m.end_time


def test_a_job_manager_its_pool_can_never_run_says_why(client: BatchClient,
                                                        nodeless: str) -> None:
    manager = {"id": "m", "commandLine": "/bin/true", "allowLowPriorityNode": False}
    with job(client, nodeless, jobManagerTask=manager) as job_id:
        def reason() -> models.BatchTaskFailureInfo | None:
            with suppress(ResourceNotFoundError):
                info = client.get_task(job_id, "m").execution_info
                return info.failure_info if info else None
            return None

        info = wait_for("the manager's scheduling reason", reason, 30, 0.25)
        assert info.code == "JobManagerRequirementsNotMet"
        assert "allowLowPriorityNode" in (info.message or ""), info.message
        assert client.get_task(job_id, "m").state == "active"
