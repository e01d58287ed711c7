"""``shipyard diag logs upload`` and ``shipyard account`` through the real CLI and engine.

The logs land in the engine's Azurite and are read back with ``shipyard storage list``
and the blob SDK, as a user handing them to support would; the account commands are
checked against what the engine serves (its supported images, the session's pool).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.storage.blob import BlobServiceClient

from shipyard.engine.services.poolextras import SUPPORTED_IMAGES
from tests.contract.clihelpers import Shell, pool_yaml, sh
from tests.contract.jobhelpers import uid
from tests.contract.storagehelpers import blobs
from tests.realengine import IMAGE

pytestmark = pytest.mark.root
__all__ = ["blobs", "sh"]  # fixtures


@pytest.fixture
def prefix(blobs: BlobServiceClient) -> Iterator[str]:
    """A ``storage_entity_prefix`` of this test's own; its diaglogs container goes after."""
    name = uid("diag")
    yield name
    container = blobs.get_container_client(f"{name}-diaglogs")
    if container.exists():
        container.delete_container()


def test_diag_logs_upload_waits_for_the_nodes_logs(sh: Shell, shared_pool: str,
                                                   client: BatchClient, prefix: str,
                                                   blobs: BlobServiceClient) -> None:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    sh.write("config.yaml", f"batch_shipyard:\n  storage_entity_prefix: {prefix}\n"
                            f"global_resources:\n  docker_images:\n  - {IMAGE}\n")
    node_id = [n.id for n in client.list_nodes(shared_pool)][1]
    done = json.loads(sh("diag", "logs", "upload", "--cardinal", "1", "--wait",
                         "--generate-sas", "--raw").output)
    directory = done["virtual_directory"]
    assert (done["node_id"], done["container"], done["uploaded"]) == (
        node_id, f"{prefix}-diaglogs", True)
    assert directory.split("/")[1:3] == [shared_pool, node_id]
    assert "sig=" in done["sas_url"] and "sp=rl" in done["sas_url"]

    listed = sh.raw("storage", "list", "local", f"{prefix}-diaglogs/{directory}")
    assert isinstance(listed, list)
    uploaded = {entry["name"].rsplit("/", 1)[1]: entry["size"] for entry in listed}
    assert len(uploaded) == done["files"]
    assert {"dockerd.log", "sshd.log", "engine.log"} <= set(uploaded)
    assert all(size > 0 for size in uploaded.values())
    engine_log = blobs.get_blob_client(f"{prefix}-diaglogs", f"{directory}/engine.log")
    lines = engine_log.download_blob().readall().decode().splitlines()
    assert lines and all(node_id in line for line in lines)

    plain = sh("diag", "logs", "upload", "--nodeid", node_id).output
    assert f"log file(s) of node {node_id} (pool {shared_pool})" in plain
    refused = sh("diag", "logs", "upload", "--cardinal", "0", "--nodeid", node_id, ok=False)
    assert refused.exit_code == 1 and "only one of --cardinal and --nodeid" in refused.output
    too_far = sh("diag", "logs", "upload", "--cardinal", "3", ok=False)
    assert too_far.exit_code == 1 and "has 3 node(s)" in too_far.output


def test_account_images_lists_the_engines_images(sh: Shell) -> None:
    raw = sh.raw("account", "images")
    assert isinstance(raw, list)
    served = {(i["imageReference"]["publisher"], i["imageReference"]["offer"]) for i in raw}
    assert served == {(publisher, offer) for publisher, offer, _, _ in SUPPORTED_IMAGES}

    related = sh("account", "images").output
    assert "0001-com-ubuntu-server-jammy" in related and "batch.node.ubuntu 22.04" in related
    assert "debian-12" not in related and "almalinux-hpc" not in related
    everything = sh("account", "images", "--show-unrelated", "--show-unverified").output
    assert all(offer in everything for _, offer, _, _ in SUPPORTED_IMAGES)


def test_account_info_counts_the_pools_cores(sh: Shell, shared_pool: str) -> None:
    info = sh.raw("account", "info")
    assert isinstance(info, dict)
    pools = {p["id"]: p for p in info["pools"]}
    # standard_d2_v3: 2 vCPUs a node
    assert pools[shared_pool] == {"id": shared_pool, "vm_size": "standard_d2_v3",
                                  "dedicated_nodes": 3, "low_priority_nodes": 0,
                                  "dedicated_cores": 6, "low_priority_cores": 0}
    assert info["dedicated_cores"] >= 6 and info["account"] and info["url"].startswith("http")
    assert f"{shared_pool}" in sh("account", "info").output

    for argv in (("account", "quota", "westus"), ("account", "list"),
                 ("account", "info", "--name", "other")):
        refused = sh(*argv, ok=False)
        assert refused.exit_code == 1 and "Azure Resource Manager" in refused.output
