"""Tasks through the SDK: the task API, how a task runs on a node (no shell, directories,
environment, resource files, containers), constraints and outcomes, and recovery."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import (
    NODE_ROOT,
    add_task,
    bash,
    create_job,
    delete_job,
    error_of,
    holds_for,
    job,
    node_file,
    node_ips,
    parse_env,
    pid_alive,
    release_runs,
    serve_files,
    task_body,
    task_dir,
    task_file,
    task_pid,
    wait_job,
    wait_task,
)
from tests.realengine import IMAGE, wait_for

pytestmark = pytest.mark.root

HOSTILE = {
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "DOLLAR": "$HOME ${PATH} $(id -u)",
    "BACKTICK": "`id -u`",
    "SPACES": "  two  spaces  ",
    "NEWLINES": "line one\nline two\n",
    "UNICODE": "héllo ✓ 日本",
    "EMPTYISH": " ",
}


def status(result: models.BatchTaskCreateResult) -> str:
    """The wire says ``Success``; the SDK's enum says ``success``: compare without case."""
    return str(getattr(result.status, "value", result.status)).lower()


# ---- the task API -------------------------------------------------------------------------

def test_create_get_and_errors(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "hello", bash("echo hi; echo oops >&2"))
        fresh = client.get_task(job_id, "hello")
        assert fresh.id == "hello"
        assert fresh.url.endswith(f"/jobs/{job_id}/tasks/hello")
        assert fresh.command_line == bash("echo hi; echo oops >&2")
        assert fresh.required_slots == 1
        assert fresh.constraints.max_task_retry_count == 0
        assert fresh.etag and fresh.creation_time
        done = wait_task(client, job_id, "hello")
        assert done.previous_state == "running"
        info = done.execution_info
        assert (info.exit_code, info.result, info.retry_count) == (0, "success", 0)
        assert info.failure_info is None
        assert info.start_time <= info.end_time
        assert done.etag == fresh.etag, "a state change is not a user edit"
        node = done.node_info
        assert node.pool_id == shared_pool
        assert node.node_id in node_ips(client, shared_pool)
        assert node.task_root_directory == task_dir(job_id, "hello")
        assert node.task_root_directory_url.endswith(
            f"/pools/{shared_pool}/nodes/{node.node_id}/files/{task_dir(job_id, 'hello')}")

        exc = error_of(lambda: add_task(client, job_id, "hello", "/bin/true"))
        assert (exc.status_code, exc.error.code) == (409, "TaskExists")
        for call in (lambda: client.get_task(job_id, "nope"),
                     lambda: client.terminate_task(job_id, "nope"),
                     lambda: client.delete_task(job_id, "nope"),
                     lambda: list(client.list_task_files(job_id, "nope")),
                     lambda: list(client.list_subtasks(job_id, "nope"))):
            exc = error_of(call)
            assert (exc.status_code, exc.error.code) == (404, "TaskNotFound")
        exc = error_of(lambda: add_task(client, job_id, "bad id", "/bin/true"))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        exc = error_of(lambda: client.create_task(job_id, models.BatchTaskCreateOptions(
            {"id": "nocmd"})))
        assert (exc.status_code, exc.error.code) == (400, "MissingRequiredProperty")


def test_add_collection_results_and_replay(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        ids = [f"c{i:03d}" for i in range(100)]
        group = models.BatchTaskGroup(task_values=[task_body(i, "/bin/true") for i in ids])
        first = client.create_task_collection(job_id, group)
        assert sorted(r.task_id for r in first.result_values) == ids
        for result in first.result_values:
            assert status(result) == "success", result
            assert result.etag and result.location.endswith(f"/tasks/{result.task_id}")
        replay = client.create_task_collection(job_id, group)
        assert sorted(r.task_id for r in replay.result_values) == ids
        for result in replay.result_values:
            assert status(result) == "clienterror", result
            assert result.error.code == "TaskExists"
        mixed = client.create_task_collection(job_id, models.BatchTaskGroup(task_values=[
            task_body("c000", "/bin/true"), task_body("fresh", "/bin/true")]))
        outcome = {r.task_id: (status(r), r.error.code if r.error else None)
                   for r in mixed.result_values}
        assert outcome == {"c000": ("clienterror", "TaskExists"), "fresh": ("success", None)}
        too_many = models.BatchTaskGroup(task_values=[task_body(f"x{i}", "/bin/true")
                                                      for i in range(101)])
        exc = error_of(lambda: client.create_task_collection(job_id, too_many))
        assert exc.status_code in (400, 413)
        assert len(list(client.list_tasks(job_id))) == 101
        # The SDK's own chunking (100 per request) on top of it, replay-tolerant.
        more = [task_body(f"m{i:03d}", "/bin/true") for i in range(150)]
        client.create_tasks(job_id, more)
        client.create_tasks(job_id, more)
        assert len(list(client.list_tasks(job_id))) == 251


def test_list_tasks_paged_and_filtered(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        ids = [f"t{i:02d}" for i in range(25)]
        client.create_task_collection(job_id, models.BatchTaskGroup(
            task_values=[task_body(i, "/bin/true") for i in ids]))
        ended = ids[3:8]
        for task_id in ended:
            client.terminate_task(job_id, task_id)
        pages = list(client.list_tasks(job_id, max_results=10).by_page())
        seen = [t.id for page in pages for t in page]
        assert len(pages) >= 3
        assert sorted(seen) == ids
        completed = [t.id for t in client.list_tasks(job_id, filter="state eq 'completed'")]
        assert sorted(completed) == ended
        active = [t.id for t in client.list_tasks(job_id, filter="state eq 'active'")]
        assert sorted(active) == sorted(set(ids) - set(ended))
        both = client.list_tasks(job_id, filter="state eq 'completed' or state eq 'active'")
        assert len(list(both)) == 25
        picked = list(client.list_tasks(job_id, select=["id", "state"], max_results=5))
        assert len(picked) == 25
        assert all(t.command_line is None and t.state for t in picked)
        exc = error_of(lambda: list(client.list_tasks(job_id, filter="state eq")))
        assert (exc.status_code, exc.error.code) == (400, "InvalidQueryParameterValue")


def test_terminate_and_delete_active_tasks(client: BatchClient, nodeless: str) -> None:
    with job(client, nodeless) as job_id:
        add_task(client, job_id, "a", "/bin/true")
        add_task(client, job_id, "b", "/bin/true")
        before = client.get_task(job_id, "a")
        client.terminate_task(job_id, "a")
        ended = client.get_task(job_id, "a")
        assert ended.state == "completed"
        assert ended.etag != before.etag
        client.delete_task(job_id, "b")
        with pytest.raises(ResourceNotFoundError) as caught:
            client.get_task(job_id, "b")
        assert caught.value.error.code == "TaskNotFound"
        assert [t.id for t in client.list_tasks(job_id)] == ["a"]


def test_terminate_running_task(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "long", bash("echo $$ > pid; exec sleep 60"))
        wait_task(client, job_id, "long", ("running",))
        pid = task_pid(client, job_id, "long")
        assert pid_alive(pid)
        client.terminate_task(job_id, "long")
        done = wait_task(client, job_id, "long", timeout=20)
        assert done.execution_info.result == "failure"
        assert done.execution_info.failure_info.code == "TaskEnded"
        wait_for("the process to end", lambda: not pid_alive(pid), 15)


def test_delete_running_task_stops_it(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "long", bash("echo $$ > pid; exec sleep 60"))
        wait_task(client, job_id, "long", ("running",))
        pid = task_pid(client, job_id, "long")
        client.delete_task(job_id, "long")
        with pytest.raises(ResourceNotFoundError):
            client.get_task(job_id, "long")
        wait_for("the process to end", lambda: not pid_alive(pid), 15)


def test_plain_task_has_no_subtasks(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "plain", "/bin/true")
        wait_task(client, job_id, "plain")
        assert list(client.list_subtasks(job_id, "plain")) == []


def test_task_files_list_get_head_and_range(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "files", bash(
            "mkdir -p sub/dir && printf 0123456789 > sub/dir/out.txt; echo out; echo err >&2"))
        done = wait_task(client, job_id, "files")
        assert done.execution_info.exit_code == 0
        top = {f.name: f for f in client.list_task_files(job_id, "files")}
        assert {"stdout.txt", "stderr.txt", "wd"} <= set(top)
        assert top["wd"].is_directory and not top["stdout.txt"].is_directory
        assert "wd/sub/dir/out.txt" not in top
        deep = {f.name: f for f in client.list_task_files(job_id, "files", recursive=True)}
        assert {"wd/sub", "wd/sub/dir", "wd/sub/dir/out.txt"} <= set(deep)
        assert int(deep["wd/sub/dir/out.txt"].properties.content_length) == 10
        props = client.get_task_file_properties(job_id, "files", "wd/sub/dir/out.txt")
        assert int(props.content_length) == 10
        assert str(props.is_directory).lower() == "false"
        assert task_file(client, job_id, "files", "wd/sub/dir/out.txt") == b"0123456789"
        part = b"".join(client.download_task_file(job_id, "files", "wd/sub/dir/out.txt",
                                                  ocp_range="bytes=2-5"))
        assert part == b"2345"
        assert task_file(client, job_id, "files", "stdout.txt") == b"out\n"
        assert task_file(client, job_id, "files", "stderr.txt") == b"err\n"
        for missing in ("wd/none.txt", "../../../../../etc/passwd"):
            with pytest.raises(HttpResponseError) as caught:
                task_file(client, job_id, "files", missing)
            assert caught.value.status_code in (400, 404), missing
            with pytest.raises(HttpResponseError):
                client.get_task_file_properties(job_id, "files", missing)


# ---- running on the node ------------------------------------------------------------------

def test_command_line_is_not_run_through_a_shell(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "echo", '/bin/echo $HOME "two  spaces" ;ls `id` *')
        add_task(client, job_id, "pwd", "/bin/pwd")
        echo = wait_task(client, job_id, "echo")
        assert echo.execution_info.exit_code == 0
        assert task_file(client, job_id, "echo", "stdout.txt") == b"$HOME two  spaces ;ls `id` *\n"
        wait_task(client, job_id, "pwd")
        wd = f"{NODE_ROOT}/{task_dir(job_id, 'pwd')}/wd\n"
        assert task_file(client, job_id, "pwd", "stdout.txt").decode() == wd


def test_environment_and_output_placement(client: BatchClient, shared_pool: str,
                                          engine: control.EngineState) -> None:
    job_env = [{"name": "JOBVAR", "value": "from the job"},
               {"name": "OVERRIDDEN", "value": "job value"}]
    task_env = [{"name": name, "value": value} for name, value in HOSTILE.items()]
    task_env.append({"name": "OVERRIDDEN", "value": "task value"})
    with job(client, shared_pool, commonEnvironmentSettings=job_env) as job_id:
        add_task(client, job_id, "env", "/usr/bin/env -0", environmentSettings=task_env)
        done = wait_task(client, job_id, "env")
        assert done.execution_info.exit_code == 0
        node_id = done.node_info.node_id
        out = task_file(client, job_id, "env", "stdout.txt")
        env = parse_env(out)
        root = f"{NODE_ROOT}/{task_dir(job_id, 'env')}"
        assert env["AZ_BATCH_ACCOUNT_NAME"] == engine.account
        assert env["AZ_BATCH_ACCOUNT_URL"].rstrip("/") == engine.url.rstrip("/")
        assert env["AZ_BATCH_JOB_ID"] == job_id
        assert env["AZ_BATCH_TASK_ID"] == "env"
        assert env["AZ_BATCH_NODE_ID"] == node_id
        assert env["AZ_BATCH_POOL_ID"] == shared_pool
        assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
        assert env["AZ_BATCH_NODE_ROOT_DIR"] == NODE_ROOT
        assert env["AZ_BATCH_NODE_SHARED_DIR"] == f"{NODE_ROOT}/shared"
        assert env["AZ_BATCH_NODE_STARTUP_DIR"] == f"{NODE_ROOT}/startup"
        assert env["AZ_BATCH_TASK_DIR"] == root
        assert env["AZ_BATCH_TASK_WORKING_DIR"] == f"{root}/wd"
        assert "AZ_BATCH_JOB_PREP_DIR" not in env
        assert env["JOBVAR"] == "from the job"
        assert env["OVERRIDDEN"] == "task value"
        for name, value in HOSTILE.items():
            assert env[name] == value, name
        # The output files live in the task dir on the node, one level above wd.
        on_node = node_file(client, shared_pool, node_id, f"{task_dir(job_id, 'env')}/stdout.txt")
        assert on_node == out
        assert node_file(client, shared_pool, node_id,
                         f"{task_dir(job_id, 'env')}/stderr.txt") == b""


def test_resource_files_are_downloaded_into_wd(client: BatchClient, shared_pool: str) -> None:
    files = {"run.sh": b"#!/bin/sh\ncat data.txt\nstat -c %a bin/run.sh\n",
             "data.txt": b"payload with  spaces\n"}
    with serve_files(files) as base, job(client, shared_pool) as job_id:
        add_task(client, job_id, "res", bash("./bin/run.sh"), resourceFiles=[
            {"httpUrl": f"{base}/run.sh", "filePath": "bin/run.sh", "fileMode": "0755"},
            {"httpUrl": f"{base}/data.txt", "filePath": "data.txt"}])
        add_task(client, job_id, "broken", bash("echo ran > ran"), resourceFiles=[
            {"httpUrl": f"{base}/absent.txt", "filePath": "absent.txt"}])
        done = wait_task(client, job_id, "res")
        assert done.execution_info.exit_code == 0, task_file(client, job_id, "res", "stderr.txt")
        assert task_file(client, job_id, "res", "stdout.txt") == b"payload with  spaces\n755\n"
        assert task_file(client, job_id, "res", "wd/data.txt") == files["data.txt"]
        broken = wait_task(client, job_id, "broken")
        assert broken.execution_info.result == "failure"
        assert broken.execution_info.failure_info is not None
        assert broken.execution_info.failure_info.code == "BlobNotFound"  # the server's 404
        with pytest.raises(ResourceNotFoundError):
            task_file(client, job_id, "broken", "wd/ran")


def test_container_task_runs_in_the_image(client: BatchClient, shared_pool: str) -> None:
    script = ('cat /etc/os-release; echo "TASKVAR=$TASKVAR"; echo "RUN_OPTION=$RUN_OPTION"; '
              'echo "PWD=$(pwd)"; test -f /.dockerenv && echo IN_CONTAINER; '
              'echo made > made.txt')
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "ct", bash(script), containerSettings={
            "imageName": IMAGE, "containerRunOptions": "--env RUN_OPTION=applied",
            "workingDirectory": "taskWorkingDirectory"},
            environmentSettings=[{"name": "TASKVAR", "value": "in the container"}])
        done = wait_task(client, job_id, "ct", timeout=90)
        out = task_file(client, job_id, "ct", "stdout.txt").decode()
        assert done.execution_info.exit_code == 0, (out, task_file(client, job_id, "ct",
                                                                    "stderr.txt"))
        lines = out.splitlines()
        assert "VERSION_CODENAME=bookworm" in lines
        assert "TASKVAR=in the container" in lines
        assert "RUN_OPTION=applied" in lines
        assert f"PWD={NODE_ROOT}/{task_dir(job_id, 'ct')}/wd" in lines
        assert "IN_CONTAINER" in lines
        # The task dir is mounted at the same path: what the container wrote is a task file.
        assert task_file(client, job_id, "ct", "wd/made.txt") == b"made\n"


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
