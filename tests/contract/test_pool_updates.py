"""Pool update, replace properties, stop resize, create-time checks, and the account
listings (node counts, supported images, usage metrics, applications), through the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from shipyard.engine.services.poolchecks import subscription_of
from tests.contract.jobhelpers import details, error_of, uid
from tests.realengine import delete_pool, pool_exists, pool_options, wait_for

START = {"commandLine": "/bin/true", "waitForSuccess": True}
SUBNET = ("/subscriptions/{}/resourceGroups/test/providers/Microsoft.Network/"
          "virtualNetworks/vnet1/subnets/subnet1")


@pytest.fixture
def empty_pool(client: BatchClient) -> Iterator[str]:
    """A pool of no nodes (cheap), with a start task and metadata to change."""
    pool_id = uid("upd")
    client.create_pool(pool_options(pool_id, 0, command=None, startTask=START,
                                    metadata=[{"name": "foo", "value": "bar"}]))
    yield pool_id
    delete_pool(client, pool_id)


def metadata(pool: models.BatchPool) -> dict[str, str]:
    return {item.name: item.value for item in pool.metadata or []}


def test_update_pool_changes_only_the_given_properties(client: BatchClient,
                                                       empty_pool: str) -> None:
    before = client.get_pool(empty_pool)
    client.update_pool(empty_pool, models.BatchPoolUpdateOptions(
        metadata=[models.BatchMetadataItem(name="foo2", value="bar2")]))
    after = client.get_pool(empty_pool)
    assert metadata(after) == {"foo2": "bar2"}, "PATCH replaces the metadata list"
    assert after.start_task is not None and after.start_task.command_line == "/bin/true"
    assert after.etag != before.etag and after.last_modified >= before.last_modified
    client.update_pool(empty_pool, models.BatchPoolUpdateOptions(
        start_task=models.BatchStartTask(command_line="/bin/echo hi")))
    changed = client.get_pool(empty_pool)
    assert changed.start_task.command_line == "/bin/echo hi"
    assert metadata(changed) == {"foo2": "bar2"}, "metadata left out stays"
    client.update_pool(empty_pool, models.BatchPoolUpdateOptions(metadata=[]))
    assert client.get_pool(empty_pool).metadata is None, "an empty list removes it"


def test_update_pool_honours_if_match(client: BatchClient, empty_pool: str) -> None:
    pool = client.get_pool(empty_pool)
    client.update_pool(empty_pool, models.BatchPoolUpdateOptions(display_name="fresh"),
                       etag=pool.etag, match_condition=MatchConditions.IfNotModified)
    stale = error_of(lambda: client.update_pool(
        empty_pool, models.BatchPoolUpdateOptions(display_name="stale"), etag=pool.etag,
        match_condition=MatchConditions.IfNotModified))
    assert stale.status_code == 412 and stale.error.code == "ConditionNotMet"
    assert client.get_pool(empty_pool).display_name == "fresh", "a refusal changes nothing"


def test_update_pool_refusals_change_nothing(client: BatchClient, empty_pool: str,
                                             shared_pool: str) -> None:
    before = client.get_pool(empty_pool)
    packages = error_of(lambda: client.update_pool(empty_pool, models.BatchPoolUpdateOptions(
        application_package_references=[models.BatchApplicationPackageReference(
            application_id="blender")])))
    assert packages.status_code == 409
    assert packages.error.code == "InvalidApplicationPackageReferences"
    busy = error_of(lambda: client.update_pool(
        shared_pool, models.BatchPoolUpdateOptions(vm_size="standard_d4_v3")))
    assert busy.status_code == 409 and "vmSize" in details(busy)["Reason"]
    assert client.get_pool(shared_pool).vm_size == "standard_d2_v3"
    assert client.get_pool(empty_pool).etag == before.etag
    missing = error_of(lambda: client.update_pool("no-such-pool", models.BatchPoolUpdateOptions(
        display_name="x")))
    assert missing.status_code == 404 and missing.error.code == "PoolNotFound"


def test_replace_pool_properties_replaces_wholesale(client: BatchClient,
                                                   empty_pool: str) -> None:
    before = client.get_pool(empty_pool)
    client.replace_pool_properties(empty_pool, models.BatchPoolReplaceOptions(
        application_package_references=[],
        metadata=[models.BatchMetadataItem(name="only", value="this")]))
    after = client.get_pool(empty_pool)
    assert after.start_task is None, "a start task left out is removed"
    assert metadata(after) == {"only": "this"}
    assert after.application_package_references is None
    assert after.etag != before.etag
    lacking = error_of(lambda: client.replace_pool_properties(
        empty_pool, {"applicationPackageReferences": []}))
    assert lacking.status_code == 400 and lacking.error.code == "MissingRequiredProperty"
    assert details(lacking)["PropertyName"] == "metadata"
    assert metadata(client.get_pool(empty_pool)) == {"only": "this"}


def test_stop_pool_resize(client: BatchClient, empty_pool: str) -> None:
    steady = error_of(lambda: client.begin_stop_pool_resize(empty_pool))
    assert steady.status_code == 409, "only a resizing pool can stop resizing"
    assert steady.error.code == "OperationInvalidForCurrentState"
    etag = client.get_pool(empty_pool).etag
    client.begin_resize_pool(empty_pool, models.BatchPoolResizeOptions(
        target_dedicated_nodes=2))
    resized = client.get_pool(empty_pool)
    client.begin_stop_pool_resize(empty_pool, polling_interval=0.5).result()
    pool = wait_for("steady after stop", lambda: _steady(client, empty_pool), 120)
    assert pool.etag == resized.etag != etag, "stopresize keeps the resize's eTag"
    assert pool.target_dedicated_nodes == 2, "the target stays"
    nodes = list(client.list_nodes(empty_pool))
    assert len(nodes) == pool.current_dedicated_nodes <= 2
    if pool.current_dedicated_nodes < 2:
        assert [e.code for e in pool.resize_errors or []] == ["ResizeStopped"]
    assert pool.allocation_state == "steady"


def _steady(client: BatchClient, pool_id: str) -> models.BatchPool | None:
    pool = client.get_pool(pool_id)
    return pool if pool.allocation_state == "steady" else None


def test_list_pool_node_counts(client: BatchClient, shared_pool: str,
                               empty_pool: str) -> None:
    counts = {c.pool_id: c for c in client.list_pool_node_counts()}
    shared = counts[shared_pool]
    assert shared.dedicated.idle + shared.dedicated.running == 3
    assert shared.dedicated.total == 3 and shared.low_priority.total == 0
    assert counts[empty_pool].dedicated.total == 0
    only = list(client.list_pool_node_counts(filter=f"poolId eq '{empty_pool}'"))
    assert [c.pool_id for c in only] == [empty_pool]


def test_list_pool_usage_metrics(client: BatchClient) -> None:
    metrics = list(client.list_pool_usage_metrics())
    assert metrics == [], "the engine keeps no usage history yet"


def test_list_supported_images(client: BatchClient) -> None:
    images = list(client.list_supported_images())
    jammy = [i for i in images if i.image_reference.offer == "0001-com-ubuntu-server-jammy"]
    assert len(jammy) == 1
    assert jammy[0].node_agent_sku_id == "batch.node.ubuntu 22.04"
    assert jammy[0].verification_type == "verified" and jammy[0].os_type == "linux"
    assert "DockerCompatible" in (jammy[0].capabilities or [])
    # Each listed image makes a pool the engine accepts.
    pool_id = uid("img")
    image = images[-1]
    client.create_pool(models.BatchPoolCreateOptions({
        "id": pool_id, "vmSize": "standard_d2_v3", "virtualMachineConfiguration": {
            "imageReference": image.image_reference.as_dict(),
            "nodeAgentSKUId": image.node_agent_sku_id}}))
    delete_pool(client, pool_id)


def _create_refused(client: BatchClient, **extra: Any) -> HttpResponseError:
    pool_id = uid("bad")
    refused = error_of(lambda: client.create_pool(pool_options(pool_id, 0, command=None,
                                                               **extra)))
    assert not pool_exists(client, pool_id), "a refused create changes nothing"
    return refused


def test_create_pool_with_a_subnet_of_another_subscription(client: BatchClient) -> None:
    subnet = SUBNET.format("00000000-0000-0000-0000-000000000000")
    refused = _create_refused(client, networkConfiguration={"subnetId": subnet})
    assert refused.status_code == 400 and refused.error.code == "InvalidPropertyValue"
    assert details(refused)["PropertyName"] == "subnetId"
    assert details(refused)["PropertyValue"] == subnet
    assert "different subscription" in details(refused)["Reason"]


def test_create_pool_with_a_malformed_subnet(client: BatchClient) -> None:
    refused = _create_refused(client, networkConfiguration={"subnetId": "vnet1/subnet1"})
    assert refused.error.code == "InvalidPropertyValue"
    assert details(refused)["PropertyName"] == "subnetId"


def test_create_pool_with_a_malformed_image_id(client: BatchClient) -> None:
    configuration = pool_options("x", 0, command=None).virtual_machine_configuration.as_dict()
    configuration["imageReference"] = {"virtualMachineImageId": "/subscriptions/nope/images"}
    refused = _create_refused(client, virtualMachineConfiguration=configuration)
    assert refused.status_code == 400 and refused.error.code == "InvalidPropertyValue"
    assert details(refused)["PropertyName"] == "virtualMachineImageId"


def test_create_pool_with_a_gallery_image_id(client: BatchClient, engine: Any) -> None:
    configuration = pool_options("x", 0, command=None).virtual_machine_configuration.as_dict()
    configuration["imageReference"] = {"virtualMachineImageId": (
        f"/subscriptions/{subscription_of(engine.account)}/resourceGroups/g/providers/"
        "Microsoft.Compute/galleries/gal/images/img/versions/1.0.0")}
    pool_id = uid("gal")
    client.create_pool(pool_options(pool_id, 0, command=None,
                                    virtualMachineConfiguration=configuration))
    delete_pool(client, pool_id)


def test_applications_of_an_account_without_packages(client: BatchClient) -> None:
    assert list(client.list_applications()) == []
    missing = error_of(lambda: client.get_application("blender"))
    assert missing.status_code == 404 and missing.error.code == "ApplicationNotFound"
