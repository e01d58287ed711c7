"""Jobs through the SDK: create/get/list/update/terminate/delete, task counts, and the job
preparation and release tasks as the service reports them per node."""

from __future__ import annotations

import contextlib
import datetime

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceNotFoundError

from tests.contract.jobhelpers import (
    add_task,
    bash,
    create_job,
    delete_job,
    error_of,
    job,
    job_gone,
    node_ips,
    pid_alive,
    release_counting_job,
    release_runs,
    set_terminate_when_done,
    task_body,
    task_pid,
    terminate_job,
    uid,
    wait_job,
    wait_task,
)
from tests.realengine import wait_for

pytestmark = pytest.mark.root


def full_job_body(pool_id: str, job_id: str) -> dict[str, object]:
    return {
        "id": job_id, "poolInfo": {"poolId": pool_id}, "priority": 300,
        "usesTaskDependencies": True, "onAllTasksComplete": "noaction",
        "onTaskFailure": "performexitoptionsjobaction",
        "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 2},
        "commonEnvironmentSettings": [{"name": "JOBVAR", "value": "job value"}],
        "jobPreparationTask": {"commandLine": "/bin/true"},
        "jobReleaseTask": {"commandLine": "/bin/true"},
        "metadata": [{"name": "owner", "value": "contract"}],
    }


def test_create_get_and_duplicate(client: BatchClient, shared_pool: str) -> None:
    job_id = uid("full")
    client.create_job(models.BatchJobCreateOptions(full_job_body(shared_pool, job_id)))
    try:
        got = client.get_job(job_id)
        assert got.id == job_id
        assert got.url.endswith(f"/jobs/{job_id}")
        assert got.state == "active"
        assert got.etag and got.creation_time and got.last_modified
        assert got.priority == 300
        assert got.uses_task_dependencies is True
        assert got.all_tasks_complete_mode == "noaction"
        assert got.task_failure_mode == "performexitoptionsjobaction"
        assert got.constraints.max_wall_clock_time == datetime.timedelta(hours=1)
        assert got.constraints.max_task_retry_count == 2
        assert [(e.name, e.value) for e in got.common_environment_settings] == [
            ("JOBVAR", "job value")]
        assert got.pool_info.pool_id == shared_pool
        assert got.max_parallel_tasks == -1
        # Defaults the service fills in (see the get_job recording).
        assert got.job_preparation_task.id == "jobpreparation"
        assert got.job_preparation_task.command_line == "/bin/true"
        assert got.job_preparation_task.wait_for_success is True
        assert got.job_release_task.id == "jobrelease"
        assert got.execution_info.start_time is not None
        assert got.execution_info.pool_id == shared_pool
        assert [(m.name, m.value) for m in got.metadata] == [("owner", "contract")]

        for again in (job_id, job_id.upper()):
            exc = error_of(lambda again=again: client.create_job(models.BatchJobCreateOptions(
                {"id": again, "poolInfo": {"poolId": shared_pool}})))
            assert (exc.status_code, exc.error.code) == (409, "JobExists"), again
    finally:
        delete_job(client, job_id)


def test_invalid_jobs_are_refused(client: BatchClient, shared_pool: str) -> None:
    for body, prop in (({"id": "has space", "poolInfo": {"poolId": shared_pool}}, "id"),
                       ({"id": "x" * 65, "poolInfo": {"poolId": shared_pool}}, "id"),
                       ({"id": uid("prio"), "priority": 1001,
                         "poolInfo": {"poolId": shared_pool}}, "priority")):
        exc = error_of(lambda body=body: client.create_job(models.BatchJobCreateOptions(body)))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue"), body
        assert prop in str(exc), (prop, exc)
    exc = error_of(lambda: client.create_job(models.BatchJobCreateOptions(
        {"poolInfo": {"poolId": shared_pool}})))
    assert (exc.status_code, exc.error.code) == (400, "MissingRequiredProperty")


def test_missing_job_is_404_everywhere(client: BatchClient) -> None:
    missing = uid("nojob")
    calls = {
        "get": lambda: client.get_job(missing),
        "update": lambda: client.update_job(missing, models.BatchJobUpdateOptions(
            {"priority": 1})),
        "terminate": lambda: terminate_job(client, missing, "x"),
        "delete": lambda: client.begin_delete_job(missing, polling_interval=0.5),
        "counts": lambda: client.get_job_task_counts(missing),
        "create task": lambda: client.create_task(missing, task_body("t", "/bin/true")),
        "list tasks": lambda: list(client.list_tasks(missing)),
        "prep status": lambda: list(
            client.list_job_preparation_and_release_task_status(missing)),
    }
    for name, call in calls.items():
        exc = error_of(call)
        assert (exc.status_code, exc.error.code) == (404, "JobNotFound"), name


def test_list_jobs_pages_filters_and_selects(client: BatchClient, shared_pool: str) -> None:
    ids = [create_job(client, shared_pool, job_id=uid("list")) for _ in range(3)]
    try:
        terminate_job(client, ids[2])
        wait_job(client, ids[2])
        pages = list(client.list_jobs(max_results=1).by_page())
        seen = [j.id for page in pages for j in page]
        assert len(pages) >= 3
        assert [i for i in seen if i in ids] == ids
        completed = {j.id for j in client.list_jobs(filter="state eq 'completed'")}
        active = {j.id for j in client.list_jobs(filter="state eq 'active'")}
        assert ids[2] in completed and ids[2] not in active
        assert set(ids[:2]) <= active and not set(ids[:2]) & completed
        (only,) = client.list_jobs(filter=f"id eq '{ids[0]}'", select=["id", "state"])
        assert (only.id, only.state, only.priority) == (ids[0], "active", None)
    finally:
        for job_id in ids:
            delete_job(client, job_id)


def test_update_is_a_patch(client: BatchClient, shared_pool: str) -> None:
    job_id = uid("patch")
    client.create_job(models.BatchJobCreateOptions(full_job_body(shared_pool, job_id)))
    try:
        before = client.get_job(job_id)
        client.update_job(job_id, models.BatchJobUpdateOptions(
            {"priority": -5, "constraints": {"maxTaskRetryCount": 4}}))
        after = client.get_job(job_id)
        assert after.priority == -5
        assert after.constraints.max_task_retry_count == 4
        assert after.etag != before.etag
        # What the PATCH did not name is left as it was.
        assert after.uses_task_dependencies is True
        assert after.task_failure_mode == "performexitoptionsjobaction"
        assert after.all_tasks_complete_mode == "noaction"
        assert [e.name for e in after.common_environment_settings] == ["JOBVAR"]
        assert after.job_preparation_task.command_line == "/bin/true"
        assert after.pool_info.pool_id == shared_pool
        exc = error_of(lambda: client.update_job(job_id, models.BatchJobUpdateOptions(
            {"priority": 5000})))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert client.get_job(job_id).priority == -5
    finally:
        delete_job(client, job_id)


def test_terminate_with_running_task_runs_release_once(
        client: BatchClient, shared_pool: str) -> None:
    with release_counting_job(client, shared_pool, "term",
                              sleep_first=2) as (job_id, release):
        add_task(client, job_id, "long", bash("echo $$ > pid; exec sleep 60"))
        running = wait_task(client, job_id, "long", ("running",))
        pid = task_pid(client, job_id, "long")
        terminate_job(client, job_id)
        # The release task sleeps, so the job is seen on its way out.
        assert client.get_job(job_id).state == "terminating"
        done = wait_job(client, job_id)
        assert done.execution_info.termination_reason == "UserTerminate"
        assert done.execution_info.end_time is not None
        assert wait_task(client, job_id, "long").state == "completed"
        wait_for("the task's process to end", lambda: not pid_alive(pid), 15)
        ran = running.node_info.node_id
        expected = {n: int(n == ran) for n in node_ips(client, shared_pool)}
        assert release_runs(client, shared_pool, release) == expected

        exc = error_of(lambda: terminate_job(client, job_id, "again"))
        assert (exc.status_code, exc.error.code) == (409, "JobCompleted")
        exc = error_of(lambda: add_task(client, job_id, "late", "/bin/true"))
        assert exc.status_code == 409
        delete_job(client, job_id)
        assert release_runs(client, shared_pool, release) == expected, "release ran twice"


def test_terminate_reason_is_kept(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        terminate_job(client, job_id, "shipyard: stop it")
        done = wait_job(client, job_id)
        assert done.execution_info.termination_reason == "shipyard: stop it"


def test_all_tasks_complete_terminates_and_releases_once_per_node(
        client: BatchClient, shared_pool: str) -> None:
    with release_counting_job(client, shared_pool, "auto") as (job_id, release):
        tasks = [task_body(f"t{i}", bash("sleep 1")) for i in range(3)]
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=tasks))
        # Still active: nothing asked it to end.
        assert client.get_job(job_id).state == "active"
        set_terminate_when_done(client, job_id)
        done = wait_job(client, job_id)
        assert done.execution_info.termination_reason == "AllTasksComplete"
        assert done.all_tasks_complete_mode == "terminatejob"
        ran = {client.get_task(job_id, f"t{i}").node_info.node_id for i in range(3)}
        expected = {n: int(n in ran) for n in node_ips(client, shared_pool)}
        assert release_runs(client, shared_pool, release) == expected
        statuses = list(client.list_job_preparation_and_release_task_status(job_id))
        assert {s.node_id for s in statuses} == ran
        for status in statuses:
            info = status.job_release_task_execution_info
            assert (info.state, info.exit_code, info.result) == ("completed", 0, "success")
        delete_job(client, job_id)
        assert release_runs(client, shared_pool, release) == expected, "release ran twice"


def test_delete_stops_tasks_and_releases_once(client: BatchClient, shared_pool: str) -> None:
    with release_counting_job(client, shared_pool, "del") as (job_id, release):
        add_task(client, job_id, "long", bash("echo $$ > pid; exec sleep 60"))
        running = wait_task(client, job_id, "long", ("running",))
        pid = task_pid(client, job_id, "long")
        client.begin_delete_job(job_id, polling_interval=0.5)
        with contextlib.suppress(ResourceNotFoundError):
            assert client.get_job(job_id).state == "deleting"
        wait_for("the job to go", lambda: job_gone(client, job_id), 60)
        with pytest.raises(ResourceNotFoundError) as caught:
            client.get_task(job_id, "long")
        assert caught.value.error.code == "JobNotFound"
        wait_for("the task's process to end", lambda: not pid_alive(pid), 15)
        ran = running.node_info.node_id
        expected = {n: int(n == ran) for n in node_ips(client, shared_pool)}
        assert release_runs(client, shared_pool, release) == expected
        wait_for("the node to be idle again",
                 lambda: client.get_node(shared_pool, ran).state == "idle", 30)


def test_task_counts(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool, usesTaskDependencies=True) as job_id:
        zero = client.get_job_task_counts(job_id)
        assert _counts(zero.task_counts) == (0, 0, 0, 0, 0)
        tasks = [task_body("ok1", "/bin/true"), task_body("ok2", "/bin/true"),
                 task_body("bad", bash("exit 3")), task_body("long", bash("sleep 60")),
                 task_body("waiter", "/bin/true", dependsOn={"taskIds": ["long"]})]
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=tasks))
        # active, running, completed, succeeded, failed
        expected = (1, 1, 3, 2, 1)
        got = wait_for("counts " + str(expected), lambda: _match(client, job_id, expected), 60)
        assert _counts(got.task_slot_counts) == expected
        client.terminate_task(job_id, "long")
        later = wait_for("long to count as failed", lambda: _failed(client, job_id, 2), 30)
        assert later.task_counts.running == 0
        assert later.task_counts.succeeded >= 2


def test_preparation_and_release_status_per_node(
        client: BatchClient, shared_pool: str) -> None:
    job_id = uid("prep")
    create_job(client, shared_pool, job_id=job_id,
               jobPreparationTask={"commandLine": bash("echo prepared > ready")},
               jobReleaseTask={"commandLine": "/bin/true"})
    try:
        check = bash('test -f "$AZ_BATCH_JOB_PREP_WORKING_DIR/ready" && sleep 2')
        tasks = [task_body(f"t{i}", check) for i in range(3)]
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=tasks))
        finished = [wait_task(client, job_id, f"t{i}") for i in range(3)]
        # Each task found its node's preparation output: preparation ran before it.
        assert [t.execution_info.exit_code for t in finished] == [0, 0, 0]
        ran = {t.node_info.node_id for t in finished}
        statuses = list(client.list_job_preparation_and_release_task_status(job_id))
        assert {s.node_id for s in statuses} == ran
        for status in statuses:
            assert status.pool_id == shared_pool
            prep = status.job_preparation_task_execution_info
            assert (prep.state, prep.exit_code, prep.result) == ("completed", 0, "success")
            assert prep.start_time and prep.end_time and prep.retry_count == 0
            assert prep.task_root_directory == f"workitems/{job_id}/job-1/jobpreparation"
            assert status.job_release_task_execution_info is None
        terminate_job(client, job_id)
        wait_job(client, job_id)
        for status in client.list_job_preparation_and_release_task_status(job_id):
            rel = status.job_release_task_execution_info
            assert (rel.state, rel.exit_code, rel.result) == ("completed", 0, "success")
            assert rel.task_root_directory == f"workitems/{job_id}/job-1/jobrelease"
    finally:
        delete_job(client, job_id)


def _counts(counts: models.BatchTaskCounts) -> tuple[int, int, int, int, int]:
    return (counts.active, counts.running, counts.completed, counts.succeeded, counts.failed)


def _match(client: BatchClient, job_id: str,
           expected: tuple[int, ...]) -> models.BatchTaskCountsResult | None:
    got = client.get_job_task_counts(job_id)
    return got if _counts(got.task_counts) == expected else None


def _failed(client: BatchClient, job_id: str,
            failed: int) -> models.BatchTaskCountsResult | None:
    got = client.get_job_task_counts(job_id)
    return got if got.task_counts.failed == failed else None
