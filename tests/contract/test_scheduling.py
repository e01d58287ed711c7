"""Which task runs where and when: task slots, job priority and submission order, no
starvation between jobs, and job preparation once per node before that job's tasks."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient, models

from tests.contract.jobhelpers import (
    add_task,
    bash,
    create_job,
    delete_job,
    job,
    node_ips,
    release_runs,
    small_pool,
    task_body,
    terminate_job,
    uid,
    wait_task,
)
from tests.realengine import wait_for

pytestmark = pytest.mark.root


def both_running(client: BatchClient, job_id: str, ids: tuple[str, ...]) -> bool:
    return all(client.get_task(job_id, i).state == "running" for i in ids)


def test_task_slots_and_required_slots(client: BatchClient) -> None:
    with small_pool(client, 1, taskSlotsPerNode=2) as pool_id, job(client, pool_id) as job_id:
        client.create_task_collection(job_id, models.BatchTaskGroup(task_values=[
            task_body("a", bash("sleep 3")), task_body("b", bash("sleep 3"))]))
        # Two one-slot tasks share the node's two slots at the same time.
        wait_for("a and b running together", lambda: both_running(client, job_id, ("a", "b")),
                 30, 0.25)
        assert client.get_job_task_counts(job_id).task_slot_counts.running == 2
        add_task(client, job_id, "big", bash("sleep 3"), requiredSlots=2)
        add_task(client, job_id, "small", "/bin/true")
        assert client.get_task(job_id, "big").required_slots == 2

        def big_alone() -> models.BatchTaskCountsResult | None:
            if client.get_task(job_id, "big").state != "running":
                return None
            counts = client.get_job_task_counts(job_id)
            # Only counts taken while big still runs say anything.
            return counts if client.get_task(job_id, "big").state == "running" else None

        counts = wait_for("big running", big_alone, 30, 0.25)
        assert counts.task_counts.running == 1
        assert counts.task_slot_counts.running == 2
        done = {i: wait_task(client, job_id, i, timeout=30).execution_info
                for i in ("a", "b", "big", "small")}
        # The two-slot task needed the whole node: it overlapped with nothing.
        assert done["big"].start_time >= max(done["a"].end_time, done["b"].end_time)
        assert (done["small"].start_time >= done["big"].end_time
                or done["small"].end_time <= done["big"].start_time)


def test_job_priority_then_submission_order(client: BatchClient) -> None:
    with small_pool(client, 1) as pool_id:
        jobs: list[str] = []
        try:
            jobs.append(create_job(client, pool_id, job_id=uid("block")))
            add_task(client, jobs[0], "block", bash("sleep 3"))
            wait_task(client, jobs[0], "block", ("running",))
            # While the only slot is busy: low first, then high, then another low.
            plan = [(0, ["L1", "L2"]), (500, ["H1", "H2"]), (0, ["M1"])]
            for priority, ids in plan:
                job_id = create_job(client, pool_id, job_id=uid(f"p{priority}"),
                                    priority=priority)
                jobs.append(job_id)
                for task_id in ids:
                    add_task(client, job_id, task_id, "/bin/true")
            starts = {}
            for job_id, (_, ids) in zip(jobs[1:], plan, strict=True):
                for task_id in ids:
                    task = wait_task(client, job_id, task_id, timeout=60)
                    starts[task_id] = task.execution_info.start_time
            assert sorted(starts, key=starts.__getitem__) == ["H1", "H2", "L1", "L2", "M1"]
        finally:
            for job_id in jobs:
                delete_job(client, job_id)


def test_a_busy_job_does_not_starve_another(client: BatchClient) -> None:
    with small_pool(client, 1) as pool_id, job(client, pool_id) as busy, \
            job(client, pool_id) as other:
        submitted = 0

        def feed() -> None:
            nonlocal submitted
            while client.get_job_task_counts(busy).task_counts.active < 2:
                add_task(client, busy, f"a{submitted}", bash("sleep 0.5"))
                submitted += 1

        feed()
        add_task(client, other, "b", "/bin/true")

        def other_ran() -> bool:
            feed()
            return client.get_task(other, "b").state == "completed"

        # The busy job always has work queued; the other job's task still gets its turn.
        try:
            wait_for("the other job's task to run", other_ran, 30, 0.25)
        except AssertionError:
            b = client.get_task(other, "b")
            later = [t.id for t in client.list_tasks(busy) if t.creation_time > b.creation_time
                     and t.execution_info and t.execution_info.start_time]
            raise AssertionError(
                f"task b (state {b.state}) starved: {len(later)} tasks of the other job "
                f"submitted after it ran first: {later[:5]}...") from None
        assert client.get_job_task_counts(busy).task_counts.active >= 1


def test_a_gang_does_not_starve_behind_a_stream_of_plain_tasks(
        client: BatchClient, shared_pool: str) -> None:
    with job(client, shared_pool) as plain, job(client, shared_pool) as gang:
        # The three nodes free 1 s apart and each freed node has a 3 s task waiting: left
        # to first come, first served, three nodes are never free together.
        for index in range(3):
            add_task(client, plain, f"s{index}", bash(f"sleep {index + 1}"))
        wait_for("the plain tasks running", lambda: both_running(
            client, plain, ("s0", "s1", "s2")), 30, 0.25)
        submitted = 0

        def feed() -> None:
            nonlocal submitted
            while client.get_job_task_counts(plain).task_counts.active < 2:
                add_task(client, plain, f"f{submitted}", bash("sleep 3"))
                submitted += 1

        feed()
        add_task(client, gang, "mpi", "hostname",
                 multiInstanceSettings={"numberOfInstances": 3})

        def gang_ran() -> bool:
            feed()
            return client.get_task(gang, "mpi").state == "completed"

        wait_for("the multi-instance task to run", gang_ran, 25, 0.25)
        assert client.get_task(gang, "mpi").execution_info.exit_code == 0


def test_a_gang_never_holds_the_nodes_a_running_job_manager_waits_for(
        client: BatchClient, shared_pool: str) -> None:
    # A job manager runs on one node until its job's tasks are done (here: until its job
    # is ended); the gang needs that node too. Held for the gang, the other two nodes
    # would keep the manager's own task off them for as long as the manager ran.
    manager = {"id": "m", "commandLine": bash("sleep 120"), "killJobOnCompletion": False}
    with job(client, shared_pool, jobManagerTask=manager) as managed, \
            job(client, shared_pool, priority=1000) as gang:
        wait_task(client, managed, "m", ("running",), timeout=30)
        add_task(client, gang, "mpi", "hostname",
                 multiInstanceSettings={"numberOfInstances": 3})
        add_task(client, managed, "a1", "/bin/true")
        assert wait_task(client, managed, "a1", timeout=20).execution_info.exit_code == 0
        assert client.get_task(gang, "mpi").state == "active"
        terminate_job(client, managed)  # the manager ends: now the gang has the pool
        assert wait_task(client, gang, "mpi", timeout=30).execution_info.exit_code == 0


def test_preparation_once_per_node_before_the_first_task(
        client: BatchClient, shared_pool: str) -> None:
    job_id = uid("prep")
    prep_log = f"prep-{job_id}.txt"
    create_job(client, shared_pool, job_id=job_id, jobPreparationTask={"commandLine": bash(
        f'sleep 1; echo "$AZ_BATCH_NODE_ID" >> "$AZ_BATCH_NODE_SHARED_DIR/{prep_log}"; '
        "touch ready")})
    try:
        check = bash('test -f "$AZ_BATCH_JOB_PREP_WORKING_DIR/ready" && sleep 0.5')
        ids = [f"t{i}" for i in range(9)]
        client.create_task_collection(job_id, models.BatchTaskGroup(
            task_values=[task_body(i, check) for i in ids]))
        finished = [wait_task(client, job_id, i, timeout=60) for i in ids]
        assert [t.execution_info.exit_code for t in finished] == [0] * 9
        ran = {t.node_info.node_id for t in finished}
        expected = {n: int(n in ran) for n in node_ips(client, shared_pool)}
        assert release_runs(client, shared_pool, prep_log) == expected
        statuses = {s.node_id: s.job_preparation_task_execution_info
                    for s in client.list_job_preparation_and_release_task_status(job_id)}
        assert set(statuses) == ran
        for task in finished:
            prep = statuses[task.node_info.node_id]
            assert prep.result == "success"
            assert task.execution_info.start_time >= prep.end_time
    finally:
        delete_job(client, job_id)


def test_failing_preparation_keeps_the_jobs_tasks_off_that_node(
        client: BatchClient, shared_pool: str) -> None:
    bad = sorted(node_ips(client, shared_pool))[0]
    job_id = uid("badprep")
    create_job(client, shared_pool, job_id=job_id, jobPreparationTask={"commandLine": bash(
        f'[ "$AZ_BATCH_NODE_ID" != "{bad}" ] || {{ echo no prep here >&2; exit 5; }}')})
    try:
        ids = [f"t{i}" for i in range(4)]
        client.create_task_collection(job_id, models.BatchTaskGroup(
            task_values=[task_body(i, bash("sleep 2")) for i in ids]))

        def bad_status() -> models.BatchJobPreparationTaskExecutionInfo | None:
            for status in client.list_job_preparation_and_release_task_status(job_id):
                info = status.job_preparation_task_execution_info
                if status.node_id == bad and info and info.state == "completed":
                    return info
            return None

        info = wait_for("the failed preparation to be reported", bad_status, 30)
        assert (info.exit_code, info.result) == (5, "failure")
        assert info.failure_info.category == "usererror"
        assert info.failure_info.code == "FailureExitCode"
        finished = [wait_task(client, job_id, i, timeout=60) for i in ids]
        assert [t.execution_info.exit_code for t in finished] == [0] * 4
        assert bad not in {t.node_info.node_id for t in finished}
    finally:
        delete_job(client, job_id)
