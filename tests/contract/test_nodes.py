"""Pools with real nodes, through the SDK: identity, preload, start task, node files."""

from __future__ import annotations

import ipaddress

import pytest
from azure.batch import BatchClient
from azure.core.exceptions import ResourceNotFoundError

from tests.realengine import GREETING, IMAGE


def identity(client: BatchClient, pool_id: str, node_id: str) -> tuple[str, list[str]]:
    """Hostname and addresses the node's start task saw from a --net=host container."""
    text = b"".join(client.download_node_file(pool_id, node_id, "shared/identity.txt")).decode()
    hostname, addresses = text.strip().splitlines()[:2]
    return hostname, addresses.split()


def test_nodes_are_idle_with_distinct_addresses(client: BatchClient, shared_pool: str) -> None:
    nodes = list(client.list_nodes(shared_pool))
    assert len(nodes) == 3
    assert {n.state for n in nodes} == {"idle"}
    addresses = {n.ip_address for n in nodes}
    assert len(addresses) == 3
    assert all(ipaddress.IPv4Address(a).is_private for a in addresses)
    assert all(n.is_dedicated for n in nodes)
    pool = client.get_pool(shared_pool)
    assert pool.allocation_state == "steady"
    assert pool.current_dedicated_nodes == 3


def test_each_node_has_its_own_identity_inside_its_containers(
        client: BatchClient, shared_pool: str) -> None:
    seen_hosts = set()
    for node in client.list_nodes(shared_pool):
        hostname, addresses = identity(client, shared_pool, node.id)
        # The container ran on the node's own daemon with host networking: the node's address.
        assert node.ip_address in addresses, (node.ip_address, addresses)
        seen_hosts.add(hostname)
    assert len(seen_hosts) == 3


def test_start_task_ran_with_batch_environment(client: BatchClient, shared_pool: str) -> None:
    node = next(iter(client.list_nodes(shared_pool)))
    assert node.start_task_info.state == "completed"
    assert node.start_task_info.exit_code == 0
    assert node.start_task_info.result == "success"
    out = b"".join(client.download_node_file(shared_pool, node.id, "startup/stdout.txt"))
    env = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    assert env["AZ_BATCH_NODE_ID"] == node.id
    assert env["AZ_BATCH_POOL_ID"] == shared_pool
    assert env["AZ_BATCH_NODE_ROOT_DIR"] == "/mnt/batch/tasks"
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == "/mnt/batch/tasks/startup/wd"
    assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"


def test_start_task_environment_values_arrive_unchanged(
        client: BatchClient, shared_pool: str) -> None:
    for node in client.list_nodes(shared_pool):
        # No shell ran between the service and the command: the value is byte for byte.
        got = b"".join(client.download_node_file(shared_pool, node.id, "shared/greeting.txt"))
        assert got.decode() == GREETING


def test_image_was_preloaded_on_every_node(client: BatchClient, shared_pool: str) -> None:
    pool = client.get_pool(shared_pool)
    assert pool.virtual_machine_configuration.container_configuration.container_image_names \
        == [IMAGE]
    # No registry is reachable here, so the identity container only ran if the preload worked.
    for node in client.list_nodes(shared_pool):
        hostname, _ = identity(client, shared_pool, node.id)
        assert hostname


def test_node_files_list_get_head_and_range(client: BatchClient, shared_pool: str) -> None:
    node = next(iter(client.list_nodes(shared_pool)))
    top = {f.name for f in client.list_node_files(shared_pool, node.id)}
    assert {"startup", "shared", "workitems"} <= top
    deep = {f.name: f for f in client.list_node_files(shared_pool, node.id, recursive=True)}
    assert "startup/stdout.txt" in deep
    entry = deep["startup/stdout.txt"]
    assert not entry.is_directory
    whole = b"".join(client.download_node_file(shared_pool, node.id, "startup/stdout.txt"))
    assert int(entry.properties.content_length) == len(whole)
    part = b"".join(client.download_node_file(shared_pool, node.id, "startup/stdout.txt",
                                              ocp_range="bytes=2-6"))
    assert part == whole[2:7]


def test_missing_node_file_is_404(client: BatchClient, shared_pool: str) -> None:
    node = next(iter(client.list_nodes(shared_pool)))
    for path in ("startup/nope.txt", "../../../../etc/passwd", "startup/../../x"):
        with pytest.raises(ResourceNotFoundError):
            client.get_node_file_properties(shared_pool, node.id, path)
        # A streamed download leaves the error body unread: the status is what the SDK shows.
        with pytest.raises(ResourceNotFoundError) as caught:
            b"".join(client.download_node_file(shared_pool, node.id, path))
        assert caught.value.status_code == 404
