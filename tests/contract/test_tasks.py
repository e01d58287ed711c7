"""Tasks through the SDK: the task API, and how a task runs on a node (no shell,
directories, environment, resource files, containers). Constraints, outcomes and recovery
are test_task_outcomes.py's."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shipyard.engine import control
from tests.contract.jobhelpers import (
    HOSTILE,
    NODE_ROOT,
    add_task,
    bash,
    error_of,
    job,
    node_file,
    node_ips,
    parse_env,
    pid_alive,
    serve_files,
    task_body,
    task_dir,
    task_file,
    task_pid,
    wait_task,
)
from tests.realengine import IMAGE, wait_for

pytestmark = pytest.mark.root


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
