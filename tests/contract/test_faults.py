"""Node faults are the node's, never the task's: real nodes broken under real tasks.

A node that cannot take a command (its daemon killed, its file system refusing the exit
file) is taken out of scheduling at once with the reason, and the task that was to run
there goes back to the queue: its requeue count moves, its retry count does not, and no
exit code is made up for a command that never ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from azure.batch import BatchClient, models

from shipyard.engine.settings import EngineSettings
from tests.contract.conftest import wait_for
from tests.contract.jobhelpers import (
    add_task,
    bash,
    job,
    pid_alive,
    small_pool,
    uid,
    wait_task,
)
from tests.realengine import cmdlines

pytestmark = pytest.mark.root


def node_home(settings: EngineSettings, ip: str) -> Path:
    """The host directory of the node with address ``ip`` (its hosts file names it)."""
    for home in settings.nodes_dir.iterdir():
        hosts = home / "hosts"
        if hosts.exists() and f"\n{ip}\t" in hosts.read_text():
            return home
    raise AssertionError(f"no node home for {ip} under {settings.nodes_dir}")


def dockerd_pid(home: Path) -> int:
    mark = f"--data-root={home / 'docker'}".encode()
    for pid, raw in cmdlines().items():
        argv = raw.split(b"\0")
        if argv[0].endswith(b"dockerd") and mark in argv:
            return pid
    raise AssertionError(f"no dockerd for {home}")


@contextmanager
def refusing_exit_files(home: Path) -> Iterator[None]:
    """The node's exit directory replaced by a file: no command can be launched there."""
    exit_dir = home / "batch" / "exit"
    aside = home / "batch" / "exit.aside"
    had = exit_dir.exists()
    if had:
        exit_dir.rename(aside)
    exit_dir.write_text("not a directory\n")
    try:
        yield
    finally:
        exit_dir.unlink()
        if had:
            aside.rename(exit_dir)


def containers(home: Path) -> list[str]:
    out = subprocess.run(["docker", "-H", f"unix://{home / 'docker.sock'}", "ps", "-aq"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.split()


def node_state(client: BatchClient, pool_id: str, node_id: str) -> models.BatchNode | None:
    node = client.get_node(pool_id, node_id)
    return node if node.state == "unusable" else None


def assert_never_failed(task: models.BatchTask) -> None:
    info = task.execution_info
    assert info is not None
    assert info.failure_info is None, info.failure_info
    assert info.retry_count == 0, info


def test_a_launch_refused_by_the_node_requeues_the_task_and_marks_the_node(
        client: BatchClient, settings: EngineSettings) -> None:
    with small_pool(client, 2) as pool_id:
        nodes = {n.id: n.ip_address for n in client.list_nodes(pool_id)}
        broken_id = sorted(nodes)[0]
        home = node_home(settings, nodes[broken_id])
        with refusing_exit_files(home), job(client, pool_id) as job_id:
            ids = [add_task(client, job_id, f"t{i}", "/bin/true") for i in range(4)]
            done = [wait_task(client, job_id, t, timeout=60) for t in ids]
            for task in done:
                assert_never_failed(task)
                assert task.execution_info.exit_code == 0
                assert task.node_info.node_id != broken_id
            # At least the first task placed on the broken node was requeued, not failed.
            assert sum(t.execution_info.requeue_count for t in done) >= 1
            broken = wait_for("the broken node unusable",
                              lambda: node_state(client, pool_id, broken_id), 10)
            assert broken.errors and "exit" in broken.errors[0].message, broken.errors


def test_a_killed_daemon_never_fails_tasks_placed_right_after(
        client: BatchClient, settings: EngineSettings) -> None:
    with small_pool(client, 2) as pool_id:
        nodes = {n.id: n.ip_address for n in client.list_nodes(pool_id)}
        victim = sorted(nodes)[0]
        os.kill(dockerd_pid(node_home(settings, nodes[victim])), signal.SIGKILL)
        with job(client, pool_id) as job_id:
            # Submitted within milliseconds of the kill: the window the issue found.
            ids = [add_task(client, job_id, f"t{i}", "/bin/true") for i in range(6)]
            down = wait_for("the node without a daemon unusable",
                            lambda: node_state(client, pool_id, victim), 10)
            assert "daemon" in down.errors[0].message, down.errors
            for task_id in ids:
                task = wait_task(client, job_id, task_id, timeout=60)
                assert_never_failed(task)
                assert task.execution_info.exit_code == 0
                assert task.node_info.node_id != victim


def test_multi_instance_task_whose_node_refuses_the_application_is_requeued_whole(
        client: BatchClient, settings: EngineSettings) -> None:
    with small_pool(client, 2) as pool_id, job(client, pool_id) as job_id:
        nodes = {n.id: n.ip_address for n in client.list_nodes(pool_id)}
        homes = {node_id: node_home(settings, ip) for node_id, ip in nodes.items()}
        go = "$AZ_BATCH_NODE_SHARED_DIR/go"
        coordination = bash(
            "docker run -d --net=none debian:bookworm-slim sleep 600 >/dev/null && "
            f"echo $$ > $AZ_BATCH_NODE_SHARED_DIR/coord.pid && "
            f"while [ ! -e {go} ]; do sleep 0.1; done")
        task_id = uid("mi")
        add_task(client, job_id, task_id, "/bin/true", multiInstanceSettings={
            "numberOfInstances": 2, "coordinationCommandLine": coordination})
        wait_for("a container per node", lambda: all(containers(h) for h in homes.values()),
                 60)
        primary = wait_task(client, job_id, task_id, ("running",)).node_info.node_id
        other = next(n for n in nodes if n != primary)
        pid_file = homes[other] / "batch/tasks/shared/coord.pid"
        other_pid = int(wait_for("the coordination pid", lambda: pid_file.exists() and
                                 pid_file.read_text().strip()))
        # The primary's file system refuses the application's output file (the
        # coordination command keeps its own open): its launch cannot happen there.
        stdout = homes[primary] / "batch/tasks/workitems" / job_id / "job-1" / task_id / \
            "stdout.txt"
        stdout.unlink()
        stdout.mkdir()
        for home in homes.values():
            (home / "batch/tasks/shared/go").touch()
        down = wait_for("the primary unusable",
                        lambda: node_state(client, pool_id, primary), 20)
        assert "stdout.txt" in down.errors[0].message, down.errors
        task = wait_task(client, job_id, task_id, ("active",), 20)
        info = task.execution_info
        assert info.requeue_count == 1 and info.retry_count == 0, info
        assert info.failure_info is None and info.exit_code is None, info
        # The other instance is stopped and what its commands started is gone.
        wait_for("the other node's containers removed", lambda: not containers(
            homes[other]), 30)
        assert not pid_alive(other_pid)
