"""Pools changing over time: resize, start task failure, image failure, restart and crash."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from azure.batch import BatchClient, models

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from shipyard.errors import EngineError
from tests.realengine import (
    delete_pool,
    leftovers,
    pool_options,
    wait_for,
    wait_nodes,
)


def netns_names(prefix: str = "") -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    names = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    return {name for name in names if name.startswith(prefix)}


def pool_netns_prefix(node: models.BatchNode) -> str:
    """Namespaces of a pool are ``shy<slot>-<index>``; the slot is the address's third byte."""
    return f"shy{node.ip_address.split('.')[2]}-"


def node_count_steady(client: BatchClient, pool_id: str, count: int) -> bool:
    pool = client.get_pool(pool_id)
    return pool.allocation_state == "steady" and pool.current_dedicated_nodes == count


def test_resize_down_then_up(client: BatchClient) -> None:
    pool_id = f"resize-{uuid.uuid4().hex[:6]}"
    client.create_pool(pool_options(pool_id, 2, command=None))
    try:
        nodes = wait_nodes(client, pool_id, 2)
        before = {n.id: n.ip_address for n in nodes}
        prefix = pool_netns_prefix(nodes[0])
        namespaces = netns_names(prefix)
        assert len(namespaces) == 2
        client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(
            target_dedicated_nodes=1), polling_interval=0.5).result()
        wait_for("shrink to 1", lambda: node_count_steady(client, pool_id, 1))
        (kept,) = wait_nodes(client, pool_id, 1)
        assert before[kept.id] == kept.ip_address
        assert len(netns_names(prefix)) == 1, "the removed node's namespace stays"
        client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(
            target_dedicated_nodes=3), polling_interval=0.5).result()
        grown = wait_nodes(client, pool_id, 3)
        assert kept.id in {n.id for n in grown}
        assert len({n.ip_address for n in grown}) == 3
    finally:
        delete_pool(client, pool_id)


def test_resize_while_resizing_is_refused(client: BatchClient) -> None:
    pool_id = f"busy-{uuid.uuid4().hex[:6]}"
    client.create_pool(pool_options(pool_id, 2, command=None))
    try:
        if client.get_pool(pool_id).allocation_state == "resizing":
            with pytest.raises(Exception) as caught:
                client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(
                    target_dedicated_nodes=1))
            assert "PoolBeingResized" in str(caught.value)
        wait_nodes(client, pool_id, 2)
    finally:
        delete_pool(client, pool_id)


def test_failing_start_task_marks_node(client: BatchClient) -> None:
    pool_id = f"stfail-{uuid.uuid4().hex[:6]}"
    client.create_pool(pool_options(pool_id, 1, command="/bin/sh -c 'echo boom >&2; exit 3'"))
    try:
        (node,) = wait_nodes(client, pool_id, 1, states=("starttaskfailed",))
        assert node.start_task_info.exit_code == 3
        assert node.start_task_info.result == "failure"
        assert node.start_task_info.failure_info.code == "FailureExitCode"
        err = b"".join(client.download_node_file(pool_id, node.id, "startup/stderr.txt"))
        assert err == b"boom\n"
    finally:
        delete_pool(client, pool_id)


def test_missing_command_and_missing_image_are_node_errors(client: BatchClient) -> None:
    pool_id = f"badimg-{uuid.uuid4().hex[:6]}"
    options = pool_options(pool_id, 1, command=None)
    options.virtual_machine_configuration.container_configuration.container_image_names = [
        "shipyard-test/no-such-image:1"]
    client.create_pool(options)
    try:
        (node,) = wait_nodes(client, pool_id, 1, states=("unusable",))
        assert node.errors and "no-such-image" in node.errors[0].message
    finally:
        delete_pool(client, pool_id)
    nocmd = f"nocmd-{uuid.uuid4().hex[:6]}"
    client.create_pool(pool_options(nocmd, 1, command="/no/such/program --flag"))
    try:
        (node,) = wait_nodes(client, nocmd, 1, states=("starttaskfailed",))
        assert node.start_task_info.exit_code == 127
    finally:
        delete_pool(client, nocmd)


def _snapshot(client: BatchClient, pool_id: str) -> dict[str, tuple[str, str, object]]:
    return {n.id: (n.ip_address, n.state, n.last_boot_time) for n in client.list_nodes(pool_id)}


def test_stop_and_start_keeps_pools_and_nodes(
        client: BatchClient, shared_pool: str, settings: EngineSettings) -> None:
    before = _snapshot(client, shared_pool)
    assert control.stop(settings.data_dir) is not None
    control.start(settings)
    after = _snapshot(client, shared_pool)
    # Same nodes, same addresses, still idle, and not rebooted: the daemons were re-adopted.
    assert after == before


def test_kill_9_mid_allocation_recovers(
        client: BatchClient, shared_pool: str, settings: EngineSettings) -> None:
    before = _snapshot(client, shared_pool)
    pool_id = f"crash-{uuid.uuid4().hex[:6]}"
    client.create_pool(pool_options(pool_id, 2))
    state = control.read_state(settings.data_dir)
    assert state is not None
    os.kill(state.pid, signal.SIGKILL)
    wait_for("the engine to die", lambda: control.read_state(settings.data_dir) is None, 10)
    # A leftover of this engine that no record explains, as a crash mid-creation leaves:
    # the node's home exists under the data dir and its namespace is up.
    (settings.data_dir / "n" / "249-7").mkdir(parents=True)
    subprocess.run(["ip", "netns", "add", "shy249-7"], check=True)
    control.start(settings)
    try:
        assert "shy249-7" not in netns_names(), "the stray namespace was not reclaimed"
        wait_nodes(client, pool_id, 2)
        assert _snapshot(client, shared_pool) == before
    finally:
        delete_pool(client, pool_id)
        subprocess.run(["ip", "netns", "delete", "shy249-7"], capture_output=True, check=False)
    assert not [x for x in leftovers(settings.data_dir) if "shy249" in x]


def test_a_second_engine_on_a_taken_port_is_refused_and_leaves_nothing(
        client: BatchClient, settings: EngineSettings) -> None:
    """Before, it wrote its state and died on the port, and the CLI then believed the
    engine holding the port (same development key) was the new one."""
    other = EngineSettings(data_dir=Path(tempfile.mkdtemp(prefix="shyport-", dir="/var/tmp")),
                           port=settings.port)
    try:
        with pytest.raises(EngineError) as refused:
            control.start(other, timeout=60)
        assert f"cannot listen on 127.0.0.1:{settings.port}" in str(refused.value.hint)
        assert control.read_state(other.data_dir) is None
        assert not (other.data_dir / "storage").exists(), "its Azurite was started"
    finally:
        control.stop(other.data_dir)
        shutil.rmtree(other.data_dir)
    state = control.read_state(settings.data_dir)
    assert state is not None and control.answers(state)
