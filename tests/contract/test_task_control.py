"""Tasks after the fact through the SDK: reactivate a failed task, replace a task's
constraints, and delete task and node files (``recursive`` for directories)."""

from __future__ import annotations

import datetime

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError

from tests.contract.jobhelpers import (
    add_task,
    bash,
    details,
    error_of,
    job,
    node_file,
    task_dir,
    wait_task,
)

pytestmark = pytest.mark.root


def test_reactivate_failed_task_runs_again(client: BatchClient, one_node: str) -> None:
    # Fails on its first two runs (the run and its one retry), succeeds on the third.
    count = 'n=$(cat "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID" 2>/dev/null || echo 0)'
    script = (f'{count}; echo $((n + 1)) > "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID"; '
              'echo "run $n"; [ "$n" -ge 2 ] || exit 3')
    with job(client, one_node) as job_id:
        add_task(client, job_id, "flaky", bash(script), constraints={"maxTaskRetryCount": 1})
        add_task(client, job_id, "fine", "/bin/true")
        failed = wait_task(client, job_id, "flaky", timeout=60)
        info = failed.execution_info
        assert (info.result, info.exit_code, info.retry_count) == ("failure", 3, 1)
        wait_task(client, job_id, "fine")
        exc = error_of(lambda: client.reactivate_task(job_id, "fine"))
        assert (exc.status_code, exc.error.code) == (409, "OperationInvalidForCurrentState")
        assert client.get_task(job_id, "fine").execution_info.result == "success"

        client.reactivate_task(job_id, "flaky")
        again = client.get_task(job_id, "flaky")
        assert again.etag != failed.etag, "reactivation is a user change"
        if again.state == "active":
            assert again.execution_info.exit_code is None
            assert again.execution_info.failure_info is None
        assert again.execution_info.retry_count == 0
        done = wait_task(client, job_id, "flaky", timeout=60)
        assert (done.execution_info.result, done.execution_info.exit_code) == ("success", 0)
        assert done.execution_info.retry_count == 0
        assert done.execution_info.start_time > info.end_time
        out = b"".join(client.download_task_file(job_id, "flaky", "stdout.txt"))
        assert b"run 2" in out
    exc = error_of(lambda: client.reactivate_task(job_id, "flaky"))
    assert (exc.status_code, exc.error.code) == (404, "JobNotFound")


def test_reactivate_refused_for_active_task(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        add_task(client, job_id, "waiting", "/bin/true")
        exc = error_of(lambda: client.reactivate_task(job_id, "waiting"))
        assert (exc.status_code, exc.error.code) == (409, "OperationInvalidForCurrentState")
        exc = error_of(lambda: client.reactivate_task(job_id, "nope"))
        assert (exc.status_code, exc.error.code) == (404, "TaskNotFound")


def test_replace_task_constraints(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless, constraints={"maxTaskRetryCount": 4}) as job_id:
        add_task(client, job_id, "t", "/bin/true", constraints={
            "maxWallClockTime": "PT1H", "retentionTime": "PT2H", "maxTaskRetryCount": 1})
        before = client.get_task(job_id, "t")
        client.replace_task(job_id, "t", models.BatchTask({"constraints": {
            "maxTaskRetryCount": 3}}))
        got = client.get_task(job_id, "t")
        assert got.constraints.max_task_retry_count == 3
        # Members left out get the service's defaults back.
        assert got.as_dict()["constraints"]["maxWallClockTime"] == "P10675199DT2H48M5.4775807S"
        assert got.constraints.retention_time == datetime.timedelta(days=7)
        assert got.etag != before.etag
        assert got.state_transition_time == before.state_transition_time

        exc = error_of(lambda: client.replace_task(job_id, "t", models.BatchTask(
            {"constraints": {"maxTaskRetryCount": -2}})))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert details(exc)["PropertyName"] == "constraints.maxTaskRetryCount"
        client.terminate_task(job_id, "t")
        exc = error_of(lambda: client.replace_task(job_id, "t", models.BatchTask(
            {"constraints": {"maxTaskRetryCount": 1}})))
        assert (exc.status_code, exc.error.code) == (409, "TaskCompleted")
        exc = error_of(lambda: client.replace_task(job_id, "nope", models.BatchTask(
            {"constraints": {}})))
        assert (exc.status_code, exc.error.code) == (404, "TaskNotFound")


def task_names(client: BatchClient, job_id: str, task_id: str) -> set[str]:
    return {f.name for f in client.list_task_files(job_id, task_id, recursive=True)}


def test_delete_task_and_node_files(client: BatchClient, one_node: str) -> None:
    with job(client, one_node) as job_id:
        add_task(client, job_id, "files", bash(
            "mkdir -p sub/deep empty && echo a > a.txt && echo b > sub/deep/b.txt "
            "&& echo c > c.txt && ln -s a.txt link && echo $AZ_BATCH_JOB_ID > "
            "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID.txt"))
        done = wait_task(client, job_id, "files")
        assert done.execution_info.exit_code == 0
        assert {"wd/a.txt", "wd/sub/deep/b.txt", "wd/empty", "wd/link"} <= task_names(
            client, job_id, "files")

        client.delete_task_file(job_id, "files", "wd/a.txt")
        with pytest.raises(HttpResponseError) as caught:
            client.get_task_file_properties(job_id, "files", "wd/a.txt")
        assert caught.value.status_code == 404
        client.delete_task_file(job_id, "files", "wd/link")  # the link, not its target
        client.delete_task_file(job_id, "files", "wd/empty")  # an empty dir needs no flag
        exc = error_of(lambda: client.delete_task_file(job_id, "files", "wd/sub"))
        assert (exc.status_code, exc.error.code) == (409, "OperationInvalidForCurrentState")
        assert "wd/sub/deep/b.txt" in task_names(client, job_id, "files")
        client.delete_task_file(job_id, "files", "wd/sub", recursive=True)
        left = task_names(client, job_id, "files")
        assert not {"wd/a.txt", "wd/link", "wd/empty", "wd/sub", "wd/sub/deep/b.txt"} & left
        assert "wd/c.txt" in left
        for missing in ("wd/a.txt", "wd/none", "../../../../../../etc/hostname"):
            exc = error_of(lambda missing=missing: client.delete_task_file(
                job_id, "files", missing))
            assert (exc.status_code, exc.error.code) == (404, "FileNotFound"), missing

        node_id = done.node_info.node_id
        client.delete_node_file(one_node, node_id,
                                f"{task_dir(job_id, 'files')}/wd/c.txt")
        assert "wd/c.txt" not in task_names(client, job_id, "files")
        shared = f"shared/{job_id}.txt"
        assert node_file(client, one_node, node_id, shared) == f"{job_id}\n".encode()
        client.delete_node_file(one_node, node_id, shared)
        assert node_file(client, one_node, node_id, shared) is None
        exc = error_of(lambda: client.delete_node_file(one_node, node_id, shared))
        assert (exc.status_code, exc.error.code) == (404, "FileNotFound")
        exc = error_of(lambda: client.delete_node_file(one_node, "tvmps_nope_d", shared))
        assert (exc.status_code, exc.error.code) == (404, "NodeNotFound")
