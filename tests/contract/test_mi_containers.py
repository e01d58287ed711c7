"""Multi-instance tasks with ``containerSettings`` (how native container pools run MPI).

One container of the task image per instance, in the node's network namespace: the
coordination command runs in each, the application command in the primary's (the same
container: a file the coordination command left in its /tmp is there), with the node root
at the same path, the task environment, ``containerRunOptions`` (``$AZ_BATCH_*``
expanded), ``workingDirectory`` and ``containerHostBatchBindMounts``. Every instance's
container is gone when the task ends or is terminated: each container's PID 1 is
``sleep infinity`` with the task's variables, which the test finds in the host's /proc.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from azure.batch import BatchClient

from tests.contract.jobhelpers import (
    NODE_ROOT,
    add_task,
    details,
    error_of,
    job,
    node_file,
    node_ips,
    task_dir,
    task_file,
    wait_task,
)
from tests.realengine import IMAGE, task_processes, wait_for

pytestmark = pytest.mark.root


def sh(script: str) -> str:
    """A command line running ``script`` under the image's /bin/sh."""
    return "/bin/sh -c " + shlex.quote(script)


def add_mi(client: BatchClient, job_id: str, task_id: str, instances: int, coordination: str,
           application: str, container: dict[str, Any], **extra: Any) -> str:
    settings = {"numberOfInstances": instances, "coordinationCommandLine": coordination}
    return add_task(client, job_id, task_id, application, multiInstanceSettings=settings,
                    containerSettings={"imageName": IMAGE, **container}, **extra)


def instance_containers(job_id: str, task_id: str) -> list[int]:
    """Host pids of live ``sleep infinity`` PID 1s carrying this task's ids."""
    return task_processes(job_id, task_id, ["sleep", "infinity"])


def wait_containers(job_id: str, task_id: str, count: int, timeout: float = 60) -> None:
    wait_for(f"{count} instance containers of {task_id}",
             lambda: len(instance_containers(job_id, task_id)) == count, timeout, 0.25)


COORDINATION = sh(
    'test -f /.dockerenv; echo here > /tmp/coordinated; '
    'out="$AZ_BATCH_TASK_DIR/coordination.txt"; echo "option=$RUN_OPTION" > "$out"; '
    'echo "ips=$(hostname -I)" >> "$out"; echo "pwd=$(pwd)" >> "$out"')


def test_every_instance_runs_in_its_own_container_of_the_image(
        client: BatchClient, shared_pool: str) -> None:
    application = sh('cat /tmp/coordinated; echo "pwd=$(pwd)"; echo "var=$TASKVAR"; '
                      'echo "master=$AZ_BATCH_IS_CURRENT_NODE_MASTER"; sleep 4')
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", 3, COORDINATION, application,
               {"containerRunOptions": "--env RUN_OPTION=$AZ_BATCH_TASK_ID"},
               environmentSettings=[{"name": "TASKVAR", "value": "in the container"}])
        wait_containers(job_id, "mi", 3)
        done = wait_task(client, job_id, "mi", timeout=120)
        out = task_file(client, job_id, "mi", "stdout.txt").decode()
        assert done.execution_info.exit_code == 0, (
            out, task_file(client, job_id, "mi", "stderr.txt"))
        wd = f"{NODE_ROOT}/{task_dir(job_id, 'mi')}/wd"
        assert out.splitlines()[-4:] == ["here", f"pwd={wd}", "var=in the container",
                                         "master=true"]
        for node_id, ip in node_ips(client, shared_pool).items():
            lines = (node_file(client, shared_pool, node_id,
                               f"{task_dir(job_id, 'mi')}/coordination.txt") or b"").decode()
            assert "option=mi\n" in lines and f"pwd={wd}\n" in lines
            assert ip in lines.split("ips=", 1)[1].split(), "not the node's network"
        wait_containers(job_id, "mi", 0, timeout=30)


def test_terminating_the_task_removes_every_instance_container(
        client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "long", 3, sh("true"), sh("sleep 300"), {})
        wait_containers(job_id, "long", 3)
        wait_task(client, job_id, "long", states=("running",), timeout=60)
        client.terminate_task(job_id, "long")
        wait_task(client, job_id, "long", timeout=60)
        wait_containers(job_id, "long", 0, timeout=30)


def test_bind_mounts_and_image_working_directory(client: BatchClient,
                                                 shared_pool: str) -> None:
    probe = sh('echo "shared=${AZ_BATCH_NODE_SHARED_DIR:-unset}"; '
                'test -d /mnt/batch/tasks/shared && echo shared-mounted; '
                'test -d "$AZ_BATCH_TASK_DIR" && echo task-mounted; echo "pwd=$(pwd)"')
    container = {"containerHostBatchBindMounts": [{"source": "Task", "isReadOnly": False}],
                 "workingDirectory": "containerImageDefault"}
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "bm", 2, sh("true"), probe, container)
        done = wait_task(client, job_id, "bm", timeout=90)
        out = task_file(client, job_id, "bm", "stdout.txt").decode().splitlines()
        assert done.execution_info.exit_code == 0, out
        assert out[-3:] == ["shared=unset", "task-mounted", "pwd=/"]


def test_task_dir_left_out_needs_the_image_working_directory(
        client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as job_id:
        exc = error_of(lambda: add_mi(
            client, job_id, "bad", 2, "true", "true",
            {"containerHostBatchBindMounts": [{"source": "Shared"}]}))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert details(exc)["PropertyName"] == "containerSettings.workingDirectory"
        assert list(client.list_tasks(job_id)) == []
