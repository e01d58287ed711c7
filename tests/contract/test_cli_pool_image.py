"""pool.yaml's custom_image and network keys through the real CLI against the engine.

A custom gallery image makes a working local pool: the engine keeps the image id and the
node agent as the service would, and a node (this machine's Linux, whatever the image)
runs a task. A virtual network is refused before anything is created.
"""

from __future__ import annotations

from azure.batch import BatchClient

from tests.contract.clihelpers import Shell, jobs_yaml, sh
from tests.contract.jobhelpers import delete_job, uid
from tests.realengine import delete_pool, pool_exists

__all__ = ["sh"]  # the fixture, for pytest
SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers"
IMAGE_ID = f"{SUB}/Microsoft.Compute/galleries/hpc/images/mpi/versions/1.0.0"


def _pool(pool_id: str, extra: str = "") -> str:
    return (f"pool_specification:\n  id: {pool_id}\n  vm_count: 1\n  vm_configuration:\n"
            f"    custom_image:\n      arm_image_id: {IMAGE_ID}\n"
            "      node_agent: batch.node.ubuntu 22.04\n" + extra)


def test_custom_image_pool_runs_a_task(sh: Shell, client: BatchClient) -> None:
    pool_id, job_id = uid("custom"), uid("customjob")
    sh.write("pool.yaml", _pool(pool_id))
    sh.write("jobs.yaml", jobs_yaml(job_id, "echo ran-on-custom-image"))
    try:
        assert f"pool {pool_id}: 1 nodes ready" in sh("pool", "add").output
        machine = client.get_pool(pool_id).virtual_machine_configuration
        assert machine is not None and machine.image_reference is not None
        assert machine.image_reference.virtual_machine_image_id == IMAGE_ID
        assert machine.image_reference.version is None  # nothing added to a gallery id
        assert machine.node_agent_sku_id == "batch.node.ubuntu 22.04"
        assert "ran-on-custom-image" in sh("jobs", "add", "--tail", "stdout.txt").output
    finally:
        delete_job(client, job_id)
        delete_pool(client, pool_id)


def test_virtual_network_is_refused_and_nothing_is_created(sh: Shell,
                                                           client: BatchClient) -> None:
    pool_id = uid("vnet")
    subnet = f"{SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/nodes"
    sh.write("pool.yaml", _pool(pool_id, f"  virtual_network:\n    arm_subnet_id: {subnet}\n"))
    result = sh("pool", "add", ok=False)
    assert result.exit_code == 1
    assert ("pool.yaml: pool_specification.virtual_network: the local engine's nodes sit on "
            "its own bridge network, in no Azure virtual network") in result.output
    assert not pool_exists(client, pool_id)
