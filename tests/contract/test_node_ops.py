"""Node operations through the SDK on real nodes: reboot, reimage, deallocate and start,
remove, scheduling, extensions; with the option semantics and the node state sequences.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.batch import BatchClient, models
from azure.batch.models import _models  # the node option models are not exported
from azure.core.exceptions import ResourceNotFoundError

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import (
    add_task,
    bash,
    details,
    error_of,
    holds_for,
    job,
    node_file,
    uid,
    wait_task,
)
from tests.contract.nodehelpers import (
    daemon_answers,
    dockerd_pids,
    key_pair,
    link_exists,
    netns_exists,
    place,
    ssh,
    sshd_greets,
    sshd_pids,
    watch_states,
)
from tests.realengine import delete_pool, pool_options, wait_for, wait_nodes

#: Every boot of a node appends a line: a reboot keeps the file, a reimage starts it over.
BOOT = bash('date +%s.%N >> "$AZ_BATCH_NODE_SHARED_DIR/boots.txt"')


@pytest.fixture(scope="module")
def ops_pool(client: BatchClient) -> Iterator[str]:
    pool_id = uid("ops")
    client.create_pool(pool_options(pool_id, 2, command=BOOT))
    wait_nodes(client, pool_id, 2)
    yield pool_id
    delete_pool(client, pool_id)


def two(client: BatchClient, pool_id: str) -> tuple[models.BatchNode, models.BatchNode]:
    first, second = sorted(client.list_nodes(pool_id), key=lambda n: str(n.id))
    return first, second


def boots(client: BatchClient, pool_id: str, node_id: str) -> int:
    data = node_file(client, pool_id, node_id, "shared/boots.txt")
    return len(data.splitlines()) if data else 0


def only_on(node_id: str) -> str:
    """A task that blocks on ``node_id`` only, and ends at once anywhere else."""
    return bash(f'[ "$AZ_BATCH_NODE_ID" = "{node_id}" ] && sleep 600; hostname')


def running_on(client: BatchClient, job_id: str, task_id: str) -> str:
    task = wait_task(client, job_id, task_id, ("running",))
    return str(task.node_info.node_id)


def reboot(client: BatchClient, pool_id: str, node_id: str, option: str = "requeue") -> None:
    # SDK 15.1 cannot send these operations without options (it fails before sending).
    body = _models.BatchNodeRebootOptions({"nodeRebootOption": option})
    client.begin_reboot_node(pool_id, node_id, body, polling_interval=0.5)


def disable(client: BatchClient, pool_id: str, node_id: str, option: str = "requeue") -> None:
    client.disable_node_scheduling(pool_id, node_id, models.BatchNodeDisableSchedulingOptions(
        {"nodeDisableSchedulingOption": option}))


def test_reboot_brings_the_node_back_with_its_disk_dockerd_and_sshd(
        client: BatchClient, ops_pool: str, settings: EngineSettings) -> None:
    node = two(client, ops_pool)[0]
    node_id = str(node.id)
    where = place(settings.data_dir, node)
    daemons, sshds = dockerd_pids(where), sshd_pids(where)
    assert len(daemons) == 1 and len(sshds) == 1
    name = uid("r").replace("-", "")
    with key_pair() as (key, public):
        client.create_node_user(ops_pool, node_id, models.BatchNodeUserCreateOptions(
            {"name": name, "isAdmin": True, "sshPublicKey": public}))
        hostname = ssh(name, where.ip, 22, "hostname", key=key).stdout.strip()
        reboot(client, ops_pool, node_id, "terminate")
        states = watch_states(client, ops_pool, node_id, "idle")
        assert states[0] == "rebooting" and _booted(states), states
        assert client.get_node(ops_pool, node_id).last_boot_time > node.last_boot_time
        # New daemons, both answering; the disk (boots.txt, the user) survived.
        assert dockerd_pids(where) and not set(dockerd_pids(where)) & set(daemons)
        assert sshd_pids(where) and not set(sshd_pids(where)) & set(sshds)
        assert daemon_answers(where) and sshd_greets(where.ip)
        assert boots(client, ops_pool, node_id) == 2
        again = ssh(name, where.ip, 22, "hostname; docker ps -q", key=key)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[0] == hostname
        client.delete_node_user(ops_pool, node_id, name)


def test_reboot_requeue_runs_the_task_again_elsewhere(client: BatchClient,
                                                      ops_pool: str) -> None:
    first, second = (str(n.id) for n in two(client, ops_pool))
    disable(client, ops_pool, second)
    with job(client, ops_pool) as job_id:
        add_task(client, job_id, "t", only_on(first), constraints={"maxTaskRetryCount": 2})
        assert running_on(client, job_id, "t") == first
        client.enable_node_scheduling(ops_pool, second)
        reboot(client, ops_pool, first, "requeue")
        task = wait_task(client, job_id, "t", timeout=120)
        assert task.execution_info.result == "success"
        assert task.node_info.node_id == second
        assert task.execution_info.requeue_count == 1
        assert task.execution_info.retry_count == 0
    watch_states(client, ops_pool, first, "idle")


def test_reboot_terminate_ends_the_running_task(client: BatchClient, ops_pool: str) -> None:
    with job(client, ops_pool) as job_id:
        add_task(client, job_id, "t", "sleep 600", constraints={"maxTaskRetryCount": 3})
        node_id = running_on(client, job_id, "t")
        reboot(client, ops_pool, node_id, "terminate")
        task = wait_task(client, job_id, "t", timeout=60)
        assert task.execution_info.result == "failure"
        assert task.execution_info.failure_info.code == "TaskEnded"
        assert (task.execution_info.retry_count, task.execution_info.requeue_count) == (0, 0)
        watch_states(client, ops_pool, node_id, "idle")


def test_reboot_taskcompletion_waits_for_the_task(client: BatchClient, ops_pool: str) -> None:
    with job(client, ops_pool) as job_id:
        add_task(client, job_id, "t", bash("sleep 4; echo finished"))
        node_id = running_on(client, job_id, "t")
        before = boots(client, ops_pool, node_id)
        reboot(client, ops_pool, node_id, "taskcompletion")
        assert client.get_node(ops_pool, node_id).state == "rebooting"
        assert client.get_task(job_id, "t").state == "running"
        task = wait_task(client, job_id, "t", timeout=60)
        assert (task.execution_info.exit_code, task.execution_info.requeue_count) == (0, 0)
        watch_states(client, ops_pool, node_id, "idle")
        assert boots(client, ops_pool, node_id) == before + 1


def test_job_preparation_runs_again_after_a_reboot(client: BatchClient, ops_pool: str) -> None:
    first, second = (str(n.id) for n in two(client, ops_pool))
    disable(client, ops_pool, second)
    try:
        prep = {"commandLine": bash('echo x >> "$AZ_BATCH_NODE_SHARED_DIR/preps.txt"')}
        with job(client, ops_pool, jobPreparationTask=prep) as job_id:
            add_task(client, job_id, "before", "hostname")
            assert wait_task(client, job_id, "before").node_info.node_id == first
            reboot(client, ops_pool, first, "requeue")
            watch_states(client, ops_pool, first, "idle")
            add_task(client, job_id, "after", "hostname")
            assert wait_task(client, job_id, "after").node_info.node_id == first
            # rerunOnNodeRebootAfterSuccess defaults to true: once per boot.
            assert node_file(client, ops_pool, first, "shared/preps.txt") == b"x\nx\n"
    finally:
        client.enable_node_scheduling(ops_pool, second)


def test_disabled_node_gets_no_new_task(client: BatchClient, ops_pool: str) -> None:
    first, second = (str(n.id) for n in two(client, ops_pool))
    disable(client, ops_pool, first, "taskcompletion")
    node = client.get_node(ops_pool, first)
    assert (node.state, node.scheduling_state) == ("offline", "disabled")
    exc = error_of(lambda: disable(client, ops_pool, first))
    assert (exc.status_code, exc.error.code) == (409, "NodeAlreadyInTargetSchedulingState")
    with job(client, ops_pool) as job_id:
        for index in range(4):
            add_task(client, job_id, f"t{index}", "hostname")
        placed = {str(wait_task(client, job_id, f"t{i}").node_info.node_id) for i in range(4)}
    assert placed == {second}
    client.enable_node_scheduling(ops_pool, first)
    node = client.get_node(ops_pool, first)
    assert (node.state, node.scheduling_state) == ("idle", "enabled")
    exc = error_of(lambda: client.enable_node_scheduling(ops_pool, first))
    assert (exc.status_code, exc.error.code) == (409, "NodeAlreadyInTargetSchedulingState")


@pytest.mark.parametrize("option", ["requeue", "terminate"])
def test_disable_scheduling_deals_with_running_tasks(client: BatchClient, ops_pool: str,
                                                     option: str) -> None:
    first, second = (str(n.id) for n in two(client, ops_pool))
    disable(client, ops_pool, second)
    with job(client, ops_pool) as job_id:
        add_task(client, job_id, "t", only_on(first))
        assert running_on(client, job_id, "t") == first
        client.enable_node_scheduling(ops_pool, second)
        disable(client, ops_pool, first, option)
        try:
            task = wait_task(client, job_id, "t", timeout=60)
            # requeue: back to active, then done on the other node; terminate: ended.
            if option == "requeue":
                assert (task.node_info.node_id, task.execution_info.result) == (
                    second, "success")
                assert task.execution_info.requeue_count == 1
            else:
                assert task.execution_info.failure_info.code == "TaskEnded"
            wait_for("the disabled node to rest offline",
                     lambda: client.get_node(ops_pool, first).state == "offline", 30)
        finally:
            client.enable_node_scheduling(ops_pool, first)


def test_deallocate_then_start(client: BatchClient, ops_pool: str,
                               settings: EngineSettings) -> None:
    first, second = two(client, ops_pool)
    node_id = str(first.id)
    where = place(settings.data_dir, first)
    before = boots(client, ops_pool, node_id)
    client.begin_deallocate_node(ops_pool, node_id, _models.BatchNodeDeallocateOptions(
        {"nodeDeallocateOption": "retaineddata"}), polling_interval=0.5).result()
    assert client.get_node(ops_pool, node_id).state == "deallocated"
    assert not dockerd_pids(where) and not sshd_pids(where)
    assert not netns_exists(where.netns) and not link_exists(where.veth)
    assert (where.home / "batch").is_dir()  # its disk stays
    exc = error_of(lambda: client.begin_start_node(ops_pool, str(second.id)))
    assert (exc.status_code, exc.error.code) == (409, "OperationInvalidForCurrentState")
    client.begin_start_node(ops_pool, node_id, polling_interval=0.5)
    states = watch_states(client, ops_pool, node_id, "idle")
    assert _booted(states), states
    assert daemon_answers(where) and sshd_greets(where.ip)
    assert boots(client, ops_pool, node_id) == before + 1


def test_reimage_wipes_the_node(client: BatchClient, ops_pool: str) -> None:
    with job(client, ops_pool) as job_id:
        add_task(client, job_id, "t", bash("echo kept > out.txt"))
        node_id = str(wait_task(client, job_id, "t").node_info.node_id)
        assert node_file(client, ops_pool, node_id, f"workitems/{job_id}/job-1/t/wd/out.txt")
        client.begin_reimage_node(ops_pool, node_id, _models.BatchNodeReimageOptions(
            {"nodeReimageOption": "requeue"}), polling_interval=0.5)
        states = watch_states(client, ops_pool, node_id, "idle")
        assert states[0] == "reimaging" and _booted(states), states
        names = {f.name for f in client.list_node_files(ops_pool, node_id, recursive=True)}
        assert not any(job_id in n for n in names), names
        assert boots(client, ops_pool, node_id) == 1


def test_remove_nodes_requeue_finishes_the_task_elsewhere(
        client: BatchClient, settings: EngineSettings) -> None:
    pool_id = uid("rm")
    client.create_pool(pool_options(pool_id, 2, command=None))
    try:
        try:
            wait_nodes(client, pool_id, 2)
        except AssertionError as exc:
            nodes = [(n.id, n.state, n.errors) for n in client.list_nodes(pool_id)]
            raise AssertionError(f"{exc}; nodes: {nodes}") from None
        first, second = two(client, pool_id)
        where = place(settings.data_dir, first)
        disable(client, pool_id, str(second.id))
        with job(client, pool_id) as job_id:
            add_task(client, job_id, "t", only_on(str(first.id)))
            assert running_on(client, job_id, "t") == first.id
            client.enable_node_scheduling(pool_id, str(second.id))
            remove = _models.BatchNodeRemoveOptions(
                {"nodeList": [first.id], "nodeDeallocationOption": "requeue"})
            poller = client.begin_remove_nodes(pool_id, remove, polling_interval=0.5)
            pool = client.get_pool(pool_id)
            assert (pool.allocation_state, pool.target_dedicated_nodes) == ("resizing", 1)
            exc = error_of(lambda: client.begin_remove_nodes(pool_id, remove))
            assert (exc.status_code, exc.error.code) == (409, "PoolBeingResized")
            poller.result()
            task = wait_task(client, job_id, "t", timeout=60)
            assert (task.node_info.node_id, task.execution_info.result) == (second.id, "success")
            assert task.execution_info.requeue_count == 1
        pool = client.get_pool(pool_id)
        assert (pool.allocation_state, pool.current_dedicated_nodes) == ("steady", 1)
        with pytest.raises(ResourceNotFoundError):
            client.get_node(pool_id, str(first.id))
        wait_for("the removed node's namespace, veth and daemons to go", lambda: not (
            netns_exists(where.netns) or link_exists(where.veth) or dockerd_pids(where)
            or sshd_pids(where) or where.home.exists()), 30)
    finally:
        delete_pool(client, pool_id)


def resize(client: BatchClient, pool_id: str, nodes: int, **extra: str) -> None:
    client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(
        {"targetDedicatedNodes": nodes, **extra}), polling_interval=0.5)


def pool_is(client: BatchClient, pool_id: str, state: str, nodes: int) -> bool:
    pool = client.get_pool(pool_id)
    return (pool.allocation_state, pool.current_dedicated_nodes) == (state, nodes)


def test_resize_down_takes_idle_nodes_first_then_honours_the_option(
        client: BatchClient, settings: EngineSettings) -> None:
    pool_id = uid("rs")
    client.create_pool(pool_options(pool_id, 2, command=None))
    try:
        wait_nodes(client, pool_id, 2)
        with job(client, pool_id) as job_id:
            add_task(client, job_id, "t", bash(
                'until [ -f "$AZ_BATCH_NODE_SHARED_DIR/go" ]; do sleep 0.2; done'))
            busy = running_on(client, job_id, "t")
            go = place(settings.data_dir, client.get_node(pool_id, busy)).home / \
                "batch/tasks/shared/go"
            for bad, name in (({"resizeTimeout": "PT1M"}, "resizeTimeout"),
                              ({"nodeDeallocationOption": "later"}, "nodeDeallocationOption")):
                exc = error_of(lambda bad=bad: resize(client, pool_id, 0, **bad))
                assert (exc.status_code, details(exc)["PropertyName"]) == (400, name)
            assert pool_is(client, pool_id, "steady", 2)
            # Down to one: the idle node goes; the busy one keeps its task (no requeue).
            resize(client, pool_id, 1)
            wait_for("the pool at one node", lambda: pool_is(client, pool_id, "steady", 1), 60)
            assert [n.id for n in client.list_nodes(pool_id)] == [busy]
            task = client.get_task(job_id, "t")
            assert (task.state, task.execution_info.requeue_count) == ("running", 0)
            # Down to none with taskcompletion: the node leaves once its task is done.
            resize(client, pool_id, 0, nodeDeallocationOption="taskcompletion",
                   resizeTimeout="PT6M")
            pool = client.get_pool(pool_id)
            assert (pool.allocation_state, pool.resize_timeout) == (
                "resizing", timedelta(minutes=6))
            assert client.get_node(pool_id, busy).state == "leavingpool"
            holds_for("the task to keep running", lambda: client.get_task(
                job_id, "t").state == "running", 1)
            go.touch()
            task = wait_task(client, job_id, "t", timeout=30)
            assert (task.execution_info.exit_code, task.execution_info.requeue_count) == (0, 0)
            wait_for("the pool without nodes", lambda: pool_is(client, pool_id, "steady", 0), 60)
    finally:
        delete_pool(client, pool_id)


def test_node_operation_errors_change_nothing(client: BatchClient, ops_pool: str) -> None:
    node_id = str(two(client, ops_pool)[0].id)
    exc = error_of(lambda: reboot(client, ops_pool, "tvmps_nope_d"))
    assert (exc.status_code, exc.error.code) == (404, "NodeNotFound")
    exc = error_of(lambda: reboot(client, ops_pool, node_id, "sometimes"))
    assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
    assert details(exc)["PropertyName"] == "nodeRebootOption"
    assert client.get_node(ops_pool, node_id).state == "idle"
    exc = error_of(lambda: client.begin_remove_nodes(ops_pool, _models.BatchNodeRemoveOptions(
        {"nodeList": [node_id], "resizeTimeout": "PT1M"})))
    assert (exc.status_code, details(exc)["PropertyName"]) == (400, "resizeTimeout")
    exc = error_of(lambda: client.begin_remove_nodes(ops_pool, _models.BatchNodeRemoveOptions(
        {"nodeList": ["tvmps_nope_d"]})))
    assert (exc.status_code, exc.error.code) == (404, "NodeNotFound")
    pool = client.get_pool(ops_pool)
    assert (pool.allocation_state, pool.target_dedicated_nodes) == ("steady", 2)


def test_node_extensions(client: BatchClient, ops_pool: str) -> None:
    node_id = str(two(client, ops_pool)[0].id)
    assert list(client.list_node_extensions(ops_pool, node_id)) == []
    exc = error_of(lambda: client.get_node_extension(ops_pool, node_id, "CustomScript"))
    assert (exc.status_code, exc.error.code) == (404, "ResourceNotFound")


def _booted(states: list[str]) -> bool:
    """The node went through a boot (starting, then its start task) before idle."""
    return bool({"starting", "waitingforstarttask"} & set(states))


def test_engine_restart_adopts_or_restarts_node_sshds(
        client: BatchClient, ops_pool: str, settings: EngineSettings) -> None:
    first, second = two(client, ops_pool)
    lost, kept = place(settings.data_dir, first), place(settings.data_dir, second)
    kept_pids = sshd_pids(kept)
    assert control.stop(settings.data_dir) is not None
    # An sshd that died while the engine was away is started again; a live one is kept.
    for pid in sshd_pids(lost):
        os.kill(pid, signal.SIGKILL)
    wait_for("the killed sshd to go", lambda: not sshd_pids(lost), 10)
    control.start(settings)
    wait_for("the node's sshd to be back", lambda: sshd_greets(lost.ip), 60)
    assert len(sshd_pids(lost)) == 1
    assert sshd_pids(kept) == kept_pids
    # Neither node was rebooted for it.
    for node in (first, second):
        assert client.get_node(ops_pool, str(node.id)).last_boot_time == node.last_boot_time
