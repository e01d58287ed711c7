"""Multi-instance tasks: pool requirements, gang start, common resource files, the
coordination barrier, the exact environment, outputs per instance, failure, retries,
termination and the job release task on every node that ran an instance.

Every node's ``AZ_BATCH_TASK_SHARED_DIR`` is node-local, so the commands leave markers
there and the test reads them per node through the node file API.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from typing import Any

import pytest
from azure.batch import BatchClient, models

from tests.contract.jobhelpers import (
    NODE_ROOT,
    add_task,
    append_line,
    bash,
    create_job,
    delete_job,
    holds_for,
    job,
    node_file,
    node_ips,
    parse_env,
    pid_alive,
    release_counting_job,
    release_runs,
    serve_files,
    task_dir,
    task_file,
    terminate_job,
    uid,
    wait_job,
    wait_node_file,
    wait_task,
)
from tests.realengine import delete_pool as remove_pool
from tests.realengine import pool_options, wait_for, wait_nodes

pytestmark = pytest.mark.root

SHARED = '"$AZ_BATCH_TASK_SHARED_DIR"'


def add_mi(client: BatchClient, job_id: str, task_id: str, instances: int, coordination: str,
           application: str, common: list[dict[str, str]] | None = None,
           **extra: Any) -> str:
    settings: dict[str, Any] = {"numberOfInstances": instances,
                                "coordinationCommandLine": coordination}
    if common:
        settings["commonResourceFiles"] = common
    return add_task(client, job_id, task_id, application, multiInstanceSettings=settings,
                    **extra)


def per_node(client: BatchClient, pool_id: str, job_id: str, task_id: str,
             name: str) -> dict[str, bytes | None]:
    """``<task dir>/<name>`` on every node of the pool (None where it is absent)."""
    return {node_id: node_file(client, pool_id, node_id, f"{task_dir(job_id, task_id)}/{name}")
            for node_id in node_ips(client, pool_id)}


def pids_everywhere(client: BatchClient, pool_id: str, job_id: str, task_id: str,
                    name: str, nodes: int) -> list[int]:
    def found() -> list[int] | None:
        pids = [int(v) for v in per_node(client, pool_id, job_id, task_id, name).values()
                if v and v.strip()]
        return pids if len(pids) == nodes else None

    try:
        return list(wait_for(f"{name} on {nodes} nodes", found, 30, 0.25))
    except AssertionError:
        task = client.get_task(job_id, task_id)
        subtasks = [(s.id, s.state, s.exit_code) for s in client.list_subtasks(job_id, task_id)]
        seen = per_node(client, pool_id, job_id, task_id, name)
        raise AssertionError(
            f"{name} did not appear on {nodes} nodes: {seen}; task {task.state} "
            f"{task.execution_info}; subtasks {subtasks}; stderr "
            f"{per_node(client, pool_id, job_id, task_id, 'stderr.txt')}") from None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def wait_all_ended(pids: list[int], what: str, timeout: float = 15) -> None:
    """Wait for every pid to end; fail naming the survivors, and end them by pid."""
    try:
        wait_for(what, lambda: not [p for p in pids if pid_alive(p)], timeout)
    except AssertionError:
        alive = {p: cmdline(p) for p in pids if pid_alive(p)}
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"{what}: still alive after {timeout:.0f} s: {alive}") from None


def test_pool_requirements_not_met_keeps_the_task_active_and_says_why(
        client: BatchClient) -> None:
    no_comm, two_slots = uid("nocomm"), uid("slots2")
    client.create_pool(pool_options(no_comm, 1, command=None,
                                    enableInterNodeCommunication=False))
    client.create_pool(pool_options(two_slots, 1, command=None, taskSlotsPerNode=2))
    jobs: list[str] = []
    try:
        wait_nodes(client, no_comm, 1, timeout=90)
        wait_nodes(client, two_slots, 1, timeout=90)
        for pool_id, needle in ((no_comm, "internodecommunication"),
                                (two_slots, "taskslotspernode")):
            jobs.append(create_job(client, pool_id))
            # One instance: the pool could run it if the requirements were not checked.
            add_mi(client, jobs[-1], "mi", 1, "/bin/true", "/bin/true")

            def reason(job_id: str = jobs[-1]) -> models.BatchTaskFailureInfo | None:
                task = client.get_task(job_id, "mi")
                assert task.state == "active", task.state
                return task.execution_info.failure_info if task.execution_info else None

            info = wait_for("the scheduling reason", reason, 30)
            assert info.code == "MultiInstanceRequirementsNotMet"
            assert needle in re.sub(r"[^a-z]", "", (info.message or "").lower()), info.message
            holds_for("the task to stay active",
                      lambda job_id=jobs[-1]: client.get_task(job_id, "mi").state == "active",
                      1.5)
    finally:
        for job_id in jobs:
            delete_job(client, job_id)
        remove_pool(client, no_comm)
        remove_pool(client, two_slots)


#: Each instance records when its coordination started and ended, its environment and the
#: common resource file it saw; the subtasks' coordination is slow, so an application
#: started early would show it.
GANG_COORDINATION = bash(
    f"date +%s.%N > {SHARED}/coord-start; env -0 > {SHARED}/coord-env; "
    f'cp "$AZ_BATCH_TASK_DIR/common.txt" {SHARED}/common-seen; '
    '[ "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = true ] || sleep 2; '
    f"date +%s.%N > {SHARED}/coord-end; echo coord-out; echo coord-err >&2")
GANG_APPLICATION = bash(f"date +%s.%N > {SHARED}/app-start; env -0 > {SHARED}/app-env; "
                        "echo app-out; echo app-err >&2")


def test_gang_barrier_environment_files_and_outputs(
        client: BatchClient, shared_pool: str) -> None:
    files = {"common.txt": b"common to all\n", "primary.txt": b"primary only\n"}
    with serve_files(files) as base, job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mpi", 3, GANG_COORDINATION, GANG_APPLICATION,
               common=[{"httpUrl": f"{base}/common.txt", "filePath": "common.txt"}],
               resourceFiles=[{"httpUrl": f"{base}/primary.txt", "filePath": "primary.txt"}])
        done = wait_task(client, job_id, "mpi", timeout=60)
        info = done.execution_info
        assert (info.exit_code, info.result) == (0, "success"), task_file(
            client, job_id, "mpi", "stderr.txt")
        ips = node_ips(client, shared_pool)
        primary = done.node_info.node_id
        sub_nodes = subtask_nodes(client, job_id, primary, ips)

        # The barrier: the application started after every coordination command ended,
        # and only on the primary.
        ends = per_node(client, shared_pool, job_id, "mpi", "coord-end")
        starts = per_node(client, shared_pool, job_id, "mpi", "app-start")
        assert all(ends.values()), ends
        assert [n for n, v in starts.items() if v] == [primary]
        assert float(starts[primary]) >= max(float(v) for v in ends.values() if v)

        # commonResourceFiles on every instance, in the task dir; resourceFiles on the primary.
        seen = per_node(client, shared_pool, job_id, "mpi", "common-seen")
        assert set(seen.values()) == {files["common.txt"]}
        mine = per_node(client, shared_pool, job_id, "mpi", "wd/primary.txt")
        assert {n for n, v in mine.items() if v} == {primary}
        assert mine[primary] == files["primary.txt"]

        envs = {n: parse_env(v or b"")
                for n, v in per_node(client, shared_pool, job_id, "mpi", "coord-env").items()}
        envs["app"] = parse_env(task_file(client, job_id, "mpi", "app-env"))
        for where, env in envs.items():
            assert_gang_env(env, primary if where == "app" else where, primary, job_id, ips)
        hosts = {env["AZ_BATCH_HOST_LIST"] for env in envs.values()}
        assert len(hosts) == 1, f"instances disagree on the list: {hosts}"
        assert_gang_outputs(client, shared_pool, job_id, sub_nodes)


def subtask_nodes(client: BatchClient, job_id: str, primary: str,
                  ips: dict[str, str]) -> list[str]:
    """The nodes of the task's two subtasks: the pool's other nodes, each ended with 0."""
    subtasks = list(client.list_subtasks(job_id, "mpi"))
    assert sorted(s.id for s in subtasks) == [1, 2]
    sub_nodes = [s.node_info.node_id for s in subtasks]
    assert sorted([primary, *sub_nodes]) == sorted(ips)
    for sub in subtasks:
        assert (sub.state, sub.exit_code) == ("completed", 0), sub
        assert sub.node_info.task_root_directory == task_dir(job_id, "mpi")
    return sub_nodes


def assert_gang_env(env: dict[str, str], node_id: str, primary: str, job_id: str,
                    ips: dict[str, str]) -> None:
    """One instance's environment, as the service documents it for multi-instance tasks."""
    root = f"{NODE_ROOT}/{task_dir(job_id, 'mpi')}"
    assert env["AZ_BATCH_NODE_ID"] == node_id
    assert env["AZ_BATCH_TASK_ID"] == "mpi" and env["AZ_BATCH_JOB_ID"] == job_id
    assert sorted(env["AZ_BATCH_HOST_LIST"].split(",")) == sorted(ips.values())
    assert env["AZ_BATCH_NODE_LIST"] == env["AZ_BATCH_HOST_LIST"].replace(",", ";")
    assert env["AZ_BATCH_MASTER_NODE"] == f"{ips[primary]}:6000"
    assert env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] == str(node_id == primary).lower()
    ccp = env["CCP_NODES"].split(" ")
    assert ccp[0] == "3" and ccp[2::2] == ["1", "1", "1"], env["CCP_NODES"]
    assert sorted(ccp[1::2]) == sorted(ips.values())
    assert env["AZ_BATCH_TASK_SHARED_DIR"] == root
    assert env["AZ_BATCH_TASK_DIR"] == root
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == f"{root}/wd"


def assert_gang_outputs(client: BatchClient, pool_id: str, job_id: str,
                        sub_nodes: list[str]) -> None:
    """The primary's coordination output, then the application's appended; a subtask's
    files hold its coordination output only."""
    assert task_file(client, job_id, "mpi", "stdout.txt") == b"coord-out\napp-out\n"
    assert task_file(client, job_id, "mpi", "stderr.txt") == b"coord-err\napp-err\n"
    for node_id in sub_nodes:
        path = f"{task_dir(job_id, 'mpi')}/std"
        assert node_file(client, pool_id, node_id, path + "out.txt") == b"coord-out\n"
        assert node_file(client, pool_id, node_id, path + "err.txt") == b"coord-err\n"


def test_gang_start_waits_for_enough_free_nodes(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as busy, job(client, shared_pool) as job_id:
        add_task(client, busy, "hog", bash("sleep 3"))
        wait_task(client, busy, "hog", ("running",))
        add_mi(client, job_id, "gang", 3, bash(f"date +%s.%N > {SHARED}/coord-start"),
               "/bin/true")
        holds_for("no partial start", lambda: client.get_task(job_id, "gang").state == "active"
                  and not list(client.list_subtasks(job_id, "gang")), 1.5)
        done = wait_task(client, job_id, "gang", timeout=60)
        assert done.execution_info.exit_code == 0
        hog_end = client.get_task(busy, "hog").execution_info.end_time
        started = [float(v) for v in per_node(client, shared_pool, job_id, "gang",
                                               "coord-start").values() if v]
        assert len(started) == 3
        assert min(started) >= hog_end.timestamp() - 0.5


def test_primary_exit_ends_the_subtasks(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        # Coordination leaves a background process behind, as daemon-starting ones do.
        add_mi(client, job_id, "mi", 3,
               bash(f"sleep 300 & echo $! > {SHARED}/bg.pid"), bash("sleep 1"))
        pids = pids_everywhere(client, shared_pool, job_id, "mi", "bg.pid", 3)
        done = wait_task(client, job_id, "mi", timeout=60)
        assert done.execution_info.result == "success"
        wait_all_ended(pids, "the processes coordination left on each instance")
        assert {s.state for s in client.list_subtasks(job_id, "mi")} == {"completed"}


def test_coordination_failure_fails_the_task(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", 2,
               bash('[ "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = true ] || exit 4'),
               bash(f"touch {SHARED}/app-ran"))
        done = wait_task(client, job_id, "mi", timeout=60)
        assert done.execution_info.result == "failure"
        assert done.execution_info.failure_info is not None
        (sub,) = client.list_subtasks(job_id, "mi")
        assert (sub.id, sub.exit_code, sub.result) == (1, 4, "failure")
        assert not any(per_node(client, shared_pool, job_id, "mi", "app-ran").values())


def test_whole_task_is_retried(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        runs = f"{job_id}-coord.txt"
        add_mi(client, job_id, "mi", 2, append_line(runs), bash("exit 3"),
               constraints={"maxTaskRetryCount": 1})
        info = wait_task(client, job_id, "mi", timeout=60).execution_info
        assert (info.exit_code, info.result, info.retry_count) == (3, "failure", 1)
        assert sum(release_runs(client, shared_pool, runs).values()) == 4


@pytest.mark.parametrize("action", ["terminate", "delete"])
def test_terminate_or_delete_stops_every_instance(
        client: BatchClient, shared_pool: str, action: str) -> None:
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", 3, bash(f"sleep 300 & echo $! > {SHARED}/bg.pid"),
               bash(f"echo $$ > {SHARED}/app.pid; exec sleep 300"))
        pids = pids_everywhere(client, shared_pool, job_id, "mi", "bg.pid", 3)
        pids += pids_everywhere(client, shared_pool, job_id, "mi", "app.pid", 1)
        assert client.get_task(job_id, "mi").state == "running"
        if action == "terminate":
            client.terminate_task(job_id, "mi")
            done = wait_task(client, job_id, "mi", timeout=30)
            assert done.execution_info.failure_info.code == "TaskEnded"
            assert {s.state for s in client.list_subtasks(job_id, "mi")} == {"completed"}
        else:
            client.delete_task(job_id, "mi")
        wait_all_ended(pids, f"every instance's processes after {action}")


def test_killing_a_subtask_fails_the_task(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", 2, bash(
            '[ "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = true ] && exit 0; '
            f"echo $$ > {SHARED}/coord.pid; exec sleep 60"), bash(f"touch {SHARED}/app-ran"))
        (pid,) = pids_everywhere(client, shared_pool, job_id, "mi", "coord.pid", 1)
        os.kill(pid, signal.SIGKILL)
        done = wait_task(client, job_id, "mi", timeout=30)
        assert done.execution_info.result == "failure"
        (sub,) = client.list_subtasks(job_id, "mi")
        assert sub.result == "failure" and sub.exit_code != 0, sub
        assert not any(per_node(client, shared_pool, job_id, "mi", "app-ran").values())


def test_subtask_outputs_while_running(client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", 2, bash('echo "hello from $AZ_BATCH_NODE_ID"'),
               bash("sleep 2"))
        wait_task(client, job_id, "mi", ("running",))
        (sub,) = wait_for("the subtask", lambda: list(client.list_subtasks(job_id, "mi")), 30)
        assert sub.id == 1 and sub.node_info.node_id
        out = wait_node_file(client, shared_pool, sub.node_info.node_id,
                             f"{task_dir(job_id, 'mi')}/stdout.txt")
        assert out == f"hello from {sub.node_info.node_id}\n".encode()
        wait_task(client, job_id, "mi", timeout=30)


def test_release_runs_once_on_every_node_that_ran_an_instance(
        client: BatchClient, shared_pool: str) -> None:
    with release_counting_job(client, shared_pool, "mirel") as (job_id, release):
        add_mi(client, job_id, "mi", 3, "/bin/true", "/bin/true")
        assert wait_task(client, job_id, "mi", timeout=60).execution_info.exit_code == 0
        terminate_job(client, job_id)
        wait_job(client, job_id)
        everywhere = dict.fromkeys(node_ips(client, shared_pool), 1)
        assert release_runs(client, shared_pool, release) == everywhere
        delete_job(client, job_id)
        assert release_runs(client, shared_pool, release) == everywhere, "release ran twice"
