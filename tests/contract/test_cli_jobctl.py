"""``jobs disable|enable|migrate`` against a real engine: what the service then reports.

Each test makes its own one-node pool (``shipyard pool add``), since a disabled or moved
job must not touch the session's shared pool.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.batch import BatchClient, models

from tests.contract.clihelpers import Shell, jobs_yaml, pool_yaml, sh
from tests.realengine import delete_pool, task_processes, wait_for

__all__ = ["sh"]  # the fixture, for pytest
POOL = "cli-jobctl"


@pytest.fixture
def pool1(sh: Shell, client: BatchClient) -> Iterator[Shell]:
    sh.write("pool.yaml", pool_yaml(POOL, 1))
    try:
        sh("pool", "add")
        yield sh
    finally:
        delete_pool(client, POOL)


def running(client: BatchClient, job_id: str) -> models.BatchTask | None:
    task = client.get_task(job_id, "task-00000")
    return task if task.state == "running" and task.node_info else None


def containers(job_id: str) -> set[int]:
    """Host pids of the ``sleep 300`` its task's container runs (none once it is gone)."""
    return set(task_processes(job_id, "task-00000", ["sleep", "300"]))


def test_disable_requeue_then_enable(pool1: Shell, client: BatchClient) -> None:
    pool1.write("jobs.yaml", jobs_yaml("cli-disable", "sleep 300"))
    try:
        pool1("jobs", "add")
        wait_for("the task to run", lambda: running(client, "cli-disable"), 120)
        first = wait_for("its container", lambda: containers("cli-disable"), 60)
        disabled = pool1("jobs", "disable", "--jobid", "cli-disable", "--requeue")
        assert "job cli-disable disabled (running tasks: requeue)" in disabled.output
        assert client.get_job("cli-disable").state == "disabled"
        assert client.get_task("cli-disable", "task-00000").state == "active"
        # Requeued means stopped: the container goes with the task's processes.
        wait_for("the first container to end", lambda: not containers("cli-disable") & first,
                 30)
        pool1("jobs", "enable", "--jobid", "cli-disable")
        assert client.get_job("cli-disable").state == "active"
        wait_for("the task to run again", lambda: running(client, "cli-disable"), 120)
        # The second run has a container of its own (not a name clash with the first).
        wait_for("a new container", lambda: containers("cli-disable") - first, 60)
        task = client.get_task("cli-disable", "task-00000")
        assert task.state == "running", task.execution_info
        assert task.execution_info.requeue_count == 1
    finally:
        pool1("jobs", "del", "--jobid", "cli-disable", "--wait", "-y", ok=False)


def test_disable_terminate_ends_the_running_task(pool1: Shell, client: BatchClient) -> None:
    pool1.write("jobs.yaml", jobs_yaml("cli-disable-t", "sleep 300"))
    try:
        pool1("jobs", "add")
        wait_for("the task to run", lambda: running(client, "cli-disable-t"), 120)
        wait_for("its container", lambda: containers("cli-disable-t"), 60)
        pool1("jobs", "disable", "--terminate", "--jobid", "cli-disable-t")
        task = client.get_task("cli-disable-t", "task-00000")
        assert task.state == "completed" and task.execution_info.result == "failure"
        wait_for("the container to end", lambda: not containers("cli-disable-t"), 30)
    finally:
        pool1("jobs", "del", "--jobid", "cli-disable-t", "--wait", "-y", ok=False)


def test_migrate_to_a_second_pool(pool1: Shell, client: BatchClient) -> None:
    other = Shell(pool1.configdir.parent / "other")
    other.write("pool.yaml", pool_yaml("cli-other", 1))
    pool1.write("jobs.yaml", jobs_yaml("cli-move", "sleep 300"))
    try:
        other("pool", "add")
        pool1("jobs", "add")
        wait_for("the task to run", lambda: running(client, "cli-move"), 120)
        moved = pool1("jobs", "migrate", "--jobid", "cli-move", "--poolid", "cli-other",
                      "--requeue")
        assert "job cli-move migrated to pool cli-other" in moved.output
        assert client.get_job("cli-move").pool_info.pool_id == "cli-other"
        task = wait_for("the task to run on the other pool",
                        lambda: running(client, "cli-move"), 180)
        assert task.node_info.pool_id == "cli-other"
        missing = pool1("jobs", "migrate", "--jobid", "cli-move", "--poolid", "nosuch",
                        ok=False)
        assert missing.exit_code == 1 and "PoolNotFound" in missing.output
        assert client.get_job("cli-move").state == "active"  # untouched by the refusal
    finally:
        pool1("jobs", "del", "--jobid", "cli-move", "--wait", "-y", ok=False)
        delete_pool(client, "cli-other")
