"""Job schedules through the SDK: create, get, list, exists, update, replace, disable,
enable, terminate, delete, the jobs they make (``<schedule>:job-<N>``) at the times their
``schedule`` says, one open job at a time, and the jobs they list."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceNotFoundError

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import (
    details,
    error_of,
    holds_for,
    job,
    job_gone,
    terminate_job,
    uid,
    wait_job,
)
from tests.realengine import delete_pool, pool_exists, wait_for

pytestmark = pytest.mark.root

UTC = datetime.UTC


def create(client: BatchClient, schedule: dict[str, Any], spec: dict[str, Any],
           **extra: Any) -> str:
    schedule_id = uid("js")
    client.create_job_schedule(models.BatchJobScheduleCreateOptions(
        {"id": schedule_id, "schedule": schedule, "jobSpecification": spec, **extra}))
    return schedule_id


def delete(client: BatchClient, schedule_id: str) -> None:
    """Delete a schedule and wait until it (and every job it made) is gone."""
    try:
        client.begin_delete_job_schedule(schedule_id, polling_interval=0.5).result()
    except ResourceNotFoundError:
        return
    wait_for(f"schedule {schedule_id} gone", lambda: not exists(client, schedule_id), 60)


def exists(client: BatchClient, schedule_id: str) -> bool:
    """``job_schedule_exists`` of SDK 15.1 raises on the service's 404 like pool_exists."""
    try:
        return bool(client.job_schedule_exists(schedule_id))
    except ResourceNotFoundError:
        return False


def jobs_of(client: BatchClient, schedule_id: str) -> list[models.BatchJob]:
    return list(client.list_jobs_from_schedule(schedule_id))


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_schedule_crud_and_errors(client: BatchClient, nodeless: str) -> None:
    later = datetime.datetime.now(UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    schedule = {"doNotRunUntil": iso(later), "recurrenceInterval": "PT1H"}
    spec = {"poolInfo": {"poolId": nodeless}, "priority": 3}
    schedule_id = create(client, schedule, spec, metadata=[{"name": "k", "value": "v"}])
    try:
        got = client.get_job_schedule(schedule_id)
        assert (got.id, got.state) == (schedule_id, "active")
        assert got.url.endswith(f"/jobschedules/{schedule_id}")
        assert got.schedule.recurrence_interval == datetime.timedelta(hours=1)
        assert got.schedule.do_not_run_until == later
        assert got.execution_info.next_run_time == later
        assert got.execution_info.recent_job is None
        assert got.job_specification.priority == 3
        assert exists(client, schedule_id)
        listed = {s.id: s for s in client.list_job_schedules(filter="state eq 'active'")}
        assert schedule_id in listed
        assert jobs_of(client, schedule_id) == []
        check_id_conflicts(client, schedule_id, nodeless)
        check_update_and_replace(client, schedule_id, nodeless, later, got.etag)
        check_disable_enable_terminate(client, schedule_id)
    finally:
        delete(client, schedule_id)
    assert not exists(client, schedule_id)
    for call in (lambda: client.get_job_schedule(schedule_id),
                 lambda: client.enable_job_schedule(schedule_id),
                 lambda: jobs_of(client, schedule_id)):
        exc = error_of(call)
        assert (exc.status_code, exc.error.code) == (404, "JobScheduleNotFound")


def check_id_conflicts(client: BatchClient, schedule_id: str, pool_id: str) -> None:
    """A schedule id is taken case-insensitively, and by a job too."""
    exc = error_of(lambda: create_again(client, schedule_id, pool_id))
    assert (exc.status_code, exc.error.code) == (409, "JobScheduleExists")
    exc = error_of(lambda: client.create_job(models.BatchJobCreateOptions(
        {"id": schedule_id, "poolInfo": {"poolId": pool_id}})))
    assert (exc.status_code, exc.error.code) == (409, "JobScheduleWithSameIdExists")


def check_update_and_replace(client: BatchClient, schedule_id: str, pool_id: str,
                             later: datetime.datetime, etag: str) -> None:
    """PATCH keeps what it leaves out (and changes the ETag); PUT removes it."""
    client.update_job_schedule(schedule_id, models.BatchJobScheduleUpdateOptions(
        {"metadata": [{"name": "k", "value": "w"}]}))
    updated = client.get_job_schedule(schedule_id)
    assert [(m.name, m.value) for m in updated.metadata] == [("k", "w")]
    assert updated.schedule.recurrence_interval == datetime.timedelta(hours=1)
    assert updated.etag != etag

    client.replace_job_schedule(schedule_id, models.BatchJobSchedule({
        "schedule": {"doNotRunUntil": iso(later), "recurrenceInterval": "PT2H"},
        "jobSpecification": {"poolInfo": {"poolId": pool_id}, "priority": 7}}))
    replaced = client.get_job_schedule(schedule_id)
    assert replaced.metadata is None, "PUT removes what it leaves out"
    assert replaced.job_specification.priority == 7
    assert replaced.schedule.recurrence_interval == datetime.timedelta(hours=2)


def check_disable_enable_terminate(client: BatchClient, schedule_id: str) -> None:
    """Disable and enable come back to active; a terminated schedule refuses to change."""
    client.disable_job_schedule(schedule_id)
    disabled = client.get_job_schedule(schedule_id)
    assert (disabled.state, disabled.previous_state) == ("disabled", "active")
    client.enable_job_schedule(schedule_id)
    assert client.get_job_schedule(schedule_id).state == "active"

    client.begin_terminate_job_schedule(schedule_id, polling_interval=0.5).result()
    ended = client.get_job_schedule(schedule_id)
    assert ended.state == "completed" and ended.execution_info.end_time is not None
    exc = error_of(lambda: client.disable_job_schedule(schedule_id))
    assert (exc.status_code, exc.error.code) == (409, "JobScheduleCompleted")


def create_again(client: BatchClient, schedule_id: str, pool_id: str) -> None:
    client.create_job_schedule(models.BatchJobScheduleCreateOptions({
        "id": schedule_id.upper(), "schedule": {},
        "jobSpecification": {"poolInfo": {"poolId": pool_id}}}))


def test_schedule_refuses_what_the_service_refuses(client: BatchClient, nodeless: str) -> None:
    spec = {"poolInfo": {"poolId": nodeless}}
    for schedule, name in (({"recurrenceInterval": "PT30S"}, "schedule.recurrenceInterval"),
                           ({"startWindow": "PT10S"}, "schedule.startWindow")):
        exc = error_of(lambda schedule=schedule: create(client, schedule, spec))
        assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
        assert details(exc)["PropertyName"] == name
    exc = error_of(lambda: create(client, {}, {"priority": 1}))
    assert (exc.status_code, exc.error.code) == (400, "MissingRequiredProperty")
    assert details(exc)["PropertyName"] == "jobSpecification.poolInfo"
    assert not [s for s in client.list_job_schedules() if s.job_specification.priority == 1]
    with job(client, nodeless) as job_id:
        exc = error_of(lambda: client.create_job_schedule(models.BatchJobScheduleCreateOptions(
            {"id": job_id, "schedule": {}, "jobSpecification": spec})))
        assert (exc.status_code, exc.error.code) == (409, "JobWithSameIdExists")


def test_do_not_run_until_then_one_job_and_completion(
        client: BatchClient, nodeless: str) -> None:
    start = datetime.datetime.now(UTC) + datetime.timedelta(seconds=4)
    # A job with no tasks that terminates when its tasks are done completes at once.
    spec = {"poolInfo": {"poolId": nodeless}, "onAllTasksComplete": "terminatejob"}
    schedule_id = create(client, {"doNotRunUntil": iso(start)}, spec)
    try:
        assert jobs_of(client, schedule_id) == [], "nothing runs before doNotRunUntil"
        made = wait_for("the schedule's job", lambda: jobs_of(client, schedule_id), 20, 0.25)
        assert [j.id for j in made] == [f"{schedule_id}:job-1"]
        assert made[0].creation_time >= start.replace(microsecond=0)
        first = client.get_job(f"{schedule_id}:job-1")
        assert first.pool_info.pool_id == nodeless
        wait_job(client, first.id, "completed")
        done = wait_for("the schedule to complete", lambda: completed(client, schedule_id), 20)
        assert done.execution_info.recent_job.id == first.id
        assert done.execution_info.recent_job.url.endswith(f"/jobs/{first.id}")
        assert done.execution_info.next_run_time is None
        assert len(jobs_of(client, schedule_id)) == 1
    finally:
        delete(client, schedule_id)
    assert job_gone(client, f"{schedule_id}:job-1"), "a deleted schedule takes its jobs"


def completed(client: BatchClient, schedule_id: str) -> models.BatchJobSchedule | None:
    got = client.get_job_schedule(schedule_id)
    return got if got.state == "completed" else None


def test_recurrence_makes_jobs_one_open_at_a_time(client: BatchClient, nodeless: str) -> None:
    """PT1M is the service's minimum interval, so this test takes a little over a minute."""
    spec = {"poolInfo": {"poolId": nodeless}, "onAllTasksComplete": "noaction"}
    schedule_id = create(client, {"recurrenceInterval": "PT1M"}, spec)
    try:
        created = client.get_job_schedule(schedule_id).creation_time
        first = wait_for("job-1", lambda: jobs_of(client, schedule_id), 10, 0.25)[0]
        assert first.id == f"{schedule_id}:job-1"
        got = client.get_job_schedule(schedule_id)
        assert got.execution_info.recent_job.id == first.id
        next_run = got.execution_info.next_run_time
        assert datetime.timedelta(seconds=59) <= next_run - first.creation_time <= \
            datetime.timedelta(seconds=61), next_run
        # job-1 stays open past the next run: the schedule waits for it.
        wait_for("the next run time to pass",
                 lambda: datetime.datetime.now(UTC) > next_run + datetime.timedelta(seconds=3),
                 90, 1)
        holds_for("one open job at a time", lambda: len(jobs_of(client, schedule_id)) == 1, 2)
        terminate_job(client, first.id)
        both = wait_for("job-2", lambda: ok_len(jobs_of(client, schedule_id), 2), 15, 0.25)
        second = next(j for j in both if j.id == f"{schedule_id}:job-2")
        assert second.creation_time - created >= datetime.timedelta(seconds=60)
        assert second.creation_time - first.creation_time >= datetime.timedelta(seconds=60)
        later = client.get_job_schedule(schedule_id).execution_info
        assert later.recent_job.id == second.id
        assert later.next_run_time - next_run == datetime.timedelta(seconds=60)

        client.begin_terminate_job_schedule(schedule_id, polling_interval=0.5).result()
        assert client.get_job_schedule(schedule_id).state == "completed"
        ended = client.get_job(second.id)
        assert ended.state == "completed", "terminate ends its job"
        assert ended.execution_info.termination_reason == "TerminateJobSchedule"
    finally:
        delete(client, schedule_id)


def ok_len(items: list[models.BatchJob], count: int) -> list[models.BatchJob] | None:
    return items if len(items) == count else None


def test_schedule_clock_survives_engine_restart(
        client: BatchClient, nodeless: str, settings: EngineSettings) -> None:
    """The due time and the job count live in the store: a restart loses no run, repeats none."""
    start = datetime.datetime.now(UTC) + datetime.timedelta(seconds=3)
    spec = {"poolInfo": {"poolId": nodeless}}
    schedule_id = create(client, {"doNotRunUntil": iso(start), "recurrenceInterval": "PT1H"},
                         spec)
    try:
        assert control.stop(settings.data_dir) is not None
        try:  # the run falls due while no engine is up
            wait_for("doNotRunUntil to pass", lambda: datetime.datetime.now(UTC) > start, 10)
        finally:
            control.start(settings)
        made = wait_for("job-1 after the restart", lambda: jobs_of(client, schedule_id), 20)
        assert [j.id for j in made] == [f"{schedule_id}:job-1"]
        next_run = client.get_job_schedule(schedule_id).execution_info.next_run_time
        assert abs(next_run - start - datetime.timedelta(hours=1)) < datetime.timedelta(
            seconds=1), "the recurrence counts from doNotRunUntil"
        assert control.stop(settings.data_dir) is not None
        control.start(settings)
        holds_for("no job made twice", lambda: [j.id for j in jobs_of(client, schedule_id)]
                  == [f"{schedule_id}:job-1"], 2)
        assert client.get_job_schedule(schedule_id).execution_info.next_run_time == next_run
    finally:
        delete(client, schedule_id)


def test_schedule_auto_pool_lives_as_long_as_the_schedule(client: BatchClient) -> None:
    auto = {"autoPoolIdPrefix": "jsp", "poolLifetimeOption": "jobschedule",
            "pool": {"vmSize": "standard_d2_v3"}}
    spec = {"poolInfo": {"autoPoolSpecification": auto}, "onAllTasksComplete": "terminatejob"}
    schedule_id = create(client, {}, spec)
    pool_id = ""
    try:
        made = wait_for("the schedule's job", lambda: jobs_of(client, schedule_id), 20, 0.25)
        pool_id = wait_for("its auto pool", lambda: client.get_job(
            made[0].id).execution_info.pool_id, 20)
        assert pool_id.startswith("jsp_")
        assert client.get_pool(pool_id).id == pool_id
        wait_for("the schedule to complete", lambda: completed(client, schedule_id), 30)
        wait_for(f"pool {pool_id} to go with the schedule",
                 lambda: not pool_exists(client, pool_id), 60)
    finally:
        delete(client, schedule_id)
        if pool_id:
            delete_pool(client, pool_id)
