"""``jobs add`` of several jobs: a bad job anywhere in jobs.yaml creates nothing.

Every job's requests are built and checked before the first is sent, so a later job's
error (its generator raises or never ends, its id is taken in the file or on the service,
its schedule is refused) leaves no job and no job schedule behind. What only the service
can refuse (a task too large for a request) leaves the jobs made before it, named in the
error, and not the job that failed. ``jobs migrate --jobscheduleid`` moves a schedule and
its active job to another pool. All on pools without nodes: no task needs to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError

from tests.contract.clihelpers import Shell, pool_yaml, sh
from tests.contract.jobhelpers import small_pool
from tests.realengine import IMAGE, exists, wait_for

__all__ = ["sh"]  # the fixture, for pytest
GOOD = {"id": "cli-add-a", "tasks": [{"docker_image": IMAGE, "command": "true"}]}
RAISES = "def generate(*args):\n    raise RuntimeError('no inputs today')\n"
ENDLESS = "import itertools\n\ndef generate(*args):\n    for n in itertools.count():\n" \
          "        yield (n,)\n"


def task(**extra: Any) -> dict[str, Any]:
    return {"docker_image": IMAGE, "command": "echo {0}", **extra}


def custom(module: str) -> dict[str, Any]:
    return {"id": "cli-add-b", "tasks": [task(task_factory={"custom": {"module": module}})]}


#: (the bad second job, a module next to jobs.yaml, what the error says)
BAD_SECOND: dict[str, tuple[dict[str, Any], tuple[str, str] | None, str]] = {
    "generator raises": (custom("boom"), ("boom", RAISES), "generate raised RuntimeError"),
    "generator never ends": (custom("endless"), ("endless", ENDLESS), "more than 100000"),
    "id twice in the file": ({**GOOD, "tasks": [task()]}, None, "duplicate job id"),
    "schedule refused": ({"id": "cli-add-r", "recurrence": {"schedule": {
        "recurrence_interval": "01:00:00"}}, "tasks": [task()]}, None, "Pass -y"),
}


def jobs_file(*jobs: dict[str, Any]) -> str:
    return yaml.safe_dump({"job_specifications": list(jobs)})


@pytest.fixture
def on_nodeless(sh: Shell, nodeless: str, client: BatchClient) -> Iterator[Shell]:
    sh.write("pool.yaml", pool_yaml(nodeless, 0))
    yield sh
    for job in client.list_jobs():  # whatever a test made (or a failed one left)
        if str(job.id).startswith("cli-add"):
            sh("jobs", "del", "--jobid", str(job.id), "--wait", "-y", ok=False)
    for schedule in client.list_job_schedules():
        if str(schedule.id).startswith("cli-add"):
            sh("jobs", "del", "--jobscheduleid", str(schedule.id), "--wait", "-y", ok=False)


def ours(client: BatchClient) -> list[str]:
    return sorted([str(j.id) for j in client.list_jobs() if str(j.id).startswith("cli-add")]
                  + [str(s.id) for s in client.list_job_schedules()
                     if str(s.id).startswith("cli-add")])


@pytest.mark.parametrize("bad", list(BAD_SECOND))
def test_a_bad_second_job_leaves_no_job(on_nodeless: Shell, client: BatchClient,
                                        bad: str) -> None:
    job, module, message = BAD_SECOND[bad]
    if module is not None:
        on_nodeless.write(f"{module[0]}.py", module[1])
    on_nodeless.write("jobs.yaml", jobs_file(GOOD, job))
    result = on_nodeless("jobs", "add", ok=False)
    assert result.exit_code != 0 and message in result.output, result.output
    assert ours(client) == []


def test_a_job_that_exists_is_found_before_anything_is_made(
        on_nodeless: Shell, client: BatchClient, nodeless: str) -> None:
    client.create_job(models.BatchJobCreateOptions(
        id="cli-add-b", pool_info=models.BatchPoolInfo(pool_id=nodeless)))
    on_nodeless.write("jobs.yaml", jobs_file(GOOD, {"id": "cli-add-b", "tasks": [task()]}))
    result = on_nodeless("jobs", "add", ok=False)
    assert "job cli-add-b already exists" in result.output, result.output
    assert ours(client) == ["cli-add-b"]
    assert client.get_job_task_counts("cli-add-b").task_counts.active == 0


def test_a_task_the_service_refuses_removes_its_job_and_names_what_was_made(
        on_nodeless: Shell, client: BatchClient) -> None:
    # One task over the service's 1 MB request limit: only the service can refuse it.
    big = task(environment_variables={"BIG": "x" * (1024 * 1024 + 1)})
    on_nodeless.write("jobs.yaml", jobs_file(GOOD, {"id": "cli-add-b",
                                                    "tasks": [task(id="t0"), big]}))
    result = on_nodeless("jobs", "add", ok=False)
    assert result.exit_code != 0
    out = " ".join(result.output.split())
    assert "job cli-add-b was removed" in out and "created: job cli-add-a" in out, out
    wait_for("the half-made job to go", lambda: not exists(client.get_job, "cli-add-b"), 30)
    assert ours(client) == ["cli-add-a"]
    assert client.get_job_task_counts("cli-add-a").task_counts.active == 1


def test_migrate_a_job_schedule_moves_its_specification_and_its_active_job(
        on_nodeless: Shell, client: BatchClient) -> None:
    recurring = {"id": "cli-add-s", "auto_complete": True, "recurrence": {
        "schedule": {"recurrence_interval": "01:00:00"}}, "tasks": [task()]}
    on_nodeless.write("jobs.yaml", jobs_file(recurring))
    on_nodeless("jobs", "add")
    wait_for("the schedule's first job", lambda: exists(client.get_job, "cli-add-s:job-1"), 30)
    with small_pool(client, 0) as target:
        out = on_nodeless("jobs", "migrate", "--jobscheduleid", "cli-add-s", "--poolid",
                          target, "-y").output
        assert f"job schedule cli-add-s migrated to pool {target}" in out, out
        schedule = client.get_job_schedule("cli-add-s")
        assert schedule.job_specification.pool_info.pool_id == target
        assert schedule.state == "active"
        job = client.get_job("cli-add-s:job-1")
        assert job.pool_info.pool_id == target and job.state == "active"
        on_nodeless("jobs", "del", "--jobscheduleid", "cli-add-s", "--wait", "-y")


@pytest.mark.parametrize("refused", ["update_job_schedule", "update_job"])
def test_a_failed_schedule_migration_enables_what_it_disabled(
        on_nodeless: Shell, client: BatchClient, monkeypatch: pytest.MonkeyPatch,
        refused: str) -> None:
    # The service refusing the schedule's update, or its job's: the one injected fault.
    recurring = {"id": "cli-add-f", "auto_complete": True, "recurrence": {
        "schedule": {"recurrence_interval": "01:00:00"}}, "tasks": [task()]}
    on_nodeless.write("jobs.yaml", jobs_file(recurring))
    on_nodeless("jobs", "add")
    wait_for("the schedule's first job", lambda: exists(client.get_job, "cli-add-f:job-1"), 30)

    def refuse(*_: object, **__: object) -> None:
        raise HttpResponseError(message=f"{refused} refused for the test")

    with small_pool(client, 0) as target, monkeypatch.context() as patch:
        patch.setattr(BatchClient, refused, refuse)
        result = on_nodeless("jobs", "migrate", "--jobscheduleid", "cli-add-f", "--poolid",
                             target, "-y", ok=False)
    assert result.exit_code == 1 and f"{refused} refused for the test" in result.output
    assert "job schedule cli-add-f enabled" in result.output, result.output
    assert client.get_job_schedule("cli-add-f").state == "active"
    assert client.get_job("cli-add-f:job-1").state == "active"
    on_nodeless("jobs", "del", "--jobscheduleid", "cli-add-f", "--wait", "-y")
