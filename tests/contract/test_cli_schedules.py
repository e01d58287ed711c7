"""jobs.yaml ``recurrence`` and ``auto_pool`` through the real CLI and the real engine.

A recurring job becomes a job schedule whose jobs each run the job's task (as the job
manager) and end; an auto-pool job runs on a pool made for it, which goes when the job
ends; ``--jobscheduleid`` scopes ``jobs disable|enable|term|del`` to a schedule.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceNotFoundError

from tests.contract.clihelpers import Shell, pool_yaml, sh
from tests.realengine import IMAGE, delete_pool, exists, pool_exists, wait_for

__all__ = ["sh"]  # the fixture, for pytest
TASK = "task-00000"


def recurring_yaml(job_id: str, command: str, extra: str = "") -> str:
    return (f"job_specifications:\n- id: {job_id}\n  auto_complete: true\n{extra}"
            "  recurrence:\n    schedule:\n      recurrence_interval: 00:01:00\n"
            f"  tasks:\n  - docker_image: {IMAGE}\n    command: {command}\n")


@pytest.fixture
def on_shared_pool(sh: Shell, shared_pool: str, client: BatchClient) -> Iterator[Shell]:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    yield sh
    for schedule in client.list_job_schedules():  # whatever a failed test left
        if str(schedule.id).startswith("cli-rec"):
            sh("jobs", "del", "--jobscheduleid", str(schedule.id), "--wait", "-y", ok=False)


def job_in(client: BatchClient, job_id: str, states: tuple[str, ...] = ("active", "completed")
           ) -> models.BatchJob | None:
    """The job once it exists and is in one of ``states``."""
    try:
        job = client.get_job(job_id)
    except ResourceNotFoundError:
        return None
    return job if job.state in states else None


def completed_job(client: BatchClient, job_id: str) -> models.BatchJob | None:
    return job_in(client, job_id, ("completed",))


def test_recurring_job_runs_its_task_in_each_job(on_shared_pool: Shell,
                                                 client: BatchClient) -> None:
    sh = on_shared_pool
    sh.write("jobs.yaml", recurring_yaml("cli-rec", "echo recurring-$AZ_BATCH_JOB_ID"))
    added = sh("jobs", "add", "--tail", "stdout.txt")
    assert "job schedule cli-rec: a job every 0:01:00" in added.output
    assert "not streaming stdout.txt" in added.output
    schedule = client.get_job_schedule("cli-rec")
    assert schedule.job_specification.job_manager_task.id == TASK
    assert schedule.job_specification.pool_info.pool_id == "shared-pool"
    # The first job is made at once; its task runs as the job manager and ends the job.
    job = wait_for("the first job to complete",
                   lambda: completed_job(client, "cli-rec:job-1"), 45)
    assert job.execution_info.termination_reason == "AllTasksComplete"
    task = client.get_task("cli-rec:job-1", TASK)
    assert task.execution_info.exit_code == 0, task.execution_info
    out = b"".join(client.download_task_file("cli-rec:job-1", TASK, "stdout.txt"))
    assert out.decode().strip() == "recurring-cli-rec:job-1"
    listed = sh("jobs", "list").output
    assert "job schedules" in listed and "cli-rec:job-1" in listed
    # Disabled, the schedule makes no job; enabled, it goes on.
    assert "job schedule cli-rec disabled" in sh("jobs", "disable", "--jobscheduleid",
                                                 "cli-rec").output
    assert client.get_job_schedule("cli-rec").state == "disabled"
    sh("jobs", "enable", "--jobscheduleid", "cli-rec")
    assert client.get_job_schedule("cli-rec").state == "active"
    deleted = sh("jobs", "del", "--jobscheduleid", "cli-rec", "--wait", "-y")
    assert "job schedule cli-rec deleted" in deleted.output
    assert not exists(client.get_job_schedule, "cli-rec")
    assert "cli-rec:job-1" not in [j.id for j in client.list_jobs()]


def test_jobs_term_without_ids_ends_jobs_yaml_s_schedules(on_shared_pool: Shell,
                                                          client: BatchClient) -> None:
    sh = on_shared_pool
    sh.write("jobs.yaml", recurring_yaml("cli-rec-term", "sleep 300"))
    sh("jobs", "add")
    refused = sh("jobs", "add", ok=False)
    assert refused.exit_code == 1 and "job schedule cli-rec-term already exists" in \
        refused.output
    wait_for("the first job", lambda: job_in(client, "cli-rec-term:job-1"), 30)
    ended = sh("jobs", "term", "--wait", "-y")
    assert "job schedule cli-rec-term completed" in ended.output
    assert client.get_job("cli-rec-term:job-1").state == "completed"
    sh("jobs", "del", "--wait", "-y")
    assert not exists(client.get_job_schedule, "cli-rec-term")


def test_all_jobs_and_all_schedules_end_together(on_shared_pool: Shell,
                                                 client: BatchClient) -> None:
    """A schedule's jobs are in --all-jobs too: they end with the schedule, not twice."""
    sh = on_shared_pool
    sh.write("jobs.yaml", recurring_yaml("cli-rec-all", "sleep 300") + (
        f"- id: cli-all-plain\n  tasks:\n  - docker_image: {IMAGE}\n    command: sleep 300\n"))
    try:
        sh("jobs", "add")
        wait_for("the first job", lambda: job_in(client, "cli-rec-all:job-1"), 30)
        ended = sh("jobs", "term", "--all-jobs", "--all-jobschedules", "--wait", "-y")
        assert "job schedule cli-rec-all completed" in ended.output
        assert "job cli-all-plain completed" in ended.output
        assert client.get_job("cli-rec-all:job-1").state == "completed"
        again = sh("jobs", "term", "--jobid", "cli-all-plain", "-y")
        assert "job cli-all-plain already completed" in again.output
        sh("jobs", "del", "--all-jobs", "--all-jobschedules", "--wait", "-y")
        assert not exists(client.get_job_schedule, "cli-rec-all")
        assert job_in(client, "cli-all-plain") is None
    finally:
        sh("jobs", "del", "--jobid", "cli-all-plain", "--wait", "-y", ok=False)


def test_auto_pool_job_runs_on_its_own_pool_which_goes_with_it(sh: Shell,
                                                               client: BatchClient) -> None:
    sh.write("pool.yaml", pool_yaml("cli-ap", 1))
    sh.write("jobs.yaml", (
        "job_specifications:\n- id: cli-autopool\n  auto_complete: true\n"
        "  auto_pool:\n    pool_lifetime: job\n"
        f"  tasks:\n  - docker_image: {IMAGE}\n    command: hostname\n"))
    pool_id = ""
    try:
        added = sh("jobs", "add")  # no pool cli-ap exists: the job brings its own
        assert "an auto pool of cli-ap (job lifetime)" in added.output
        assert not pool_exists(client, "cli-ap")
        pool_id = str(wait_for("the auto pool", lambda: client.get_job(
            "cli-autopool").execution_info.pool_id, 30))
        assert pool_id.startswith("cli-ap_")
        wait_for("the job to complete", lambda: completed_job(client, "cli-autopool"), 180)
        task = client.get_task("cli-autopool", TASK)
        assert task.execution_info.exit_code == 0 and task.node_info.pool_id == pool_id
        wait_for(f"auto pool {pool_id} to go", lambda: not pool_exists(client, pool_id), 120)
    finally:
        sh("jobs", "del", "--jobid", "cli-autopool", "--wait", "-y", ok=False)
        if pool_id:
            delete_pool(client, pool_id)
