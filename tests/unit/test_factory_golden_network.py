"""Golden file of a custom-image pool in a virtual network, and the network request's shapes.

tests/unit/configs/azure-network has a gallery image with its node agent, a virtual
network given by name, public IPs and SSH access rules: the pool's
``virtualMachineConfiguration`` and ``networkConfiguration`` are the golden file.
Regenerate as tests/unit/test_factory_golden.py says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.config import ShipyardConfig, load_config
from shipyard.factory import PoolContext, pool_options
from tests.unit.test_factory_golden import check_golden

CONFIG = Path(__file__).parent / "configs" / "azure-network"
SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers"
SUBNET = f"{SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/nodes"
POOL = ("pool_specification:\n  id: p\n  vm_size: standard_d2_v3\n  vm_configuration:\n"
        "    custom_image:\n"
        f"      arm_image_id: {SUB}/Microsoft.Compute/images/mpi\n"
        "      node_agent: batch.node.el 8\n      license_type: windows_server\n")


def test_custom_image_in_a_virtual_network() -> None:
    created = pool_options(load_config(CONFIG)).as_dict()
    wanted = {key: created[key] for key in ("virtualMachineConfiguration",
                                            "networkConfiguration")}
    check_golden("pool_network.json", json.dumps(wanted, indent=2) + "\n")


def with_pool(tmp_path: Path, lines: str) -> ShipyardConfig:
    for name in ("credentials.yaml", "config.yaml"):
        (tmp_path / name).write_text((CONFIG / name).read_text())
    (tmp_path / "pool.yaml").write_text(POOL + lines)
    return load_config(tmp_path)


def test_a_subnet_alone_is_the_whole_network_configuration(tmp_path: Path) -> None:
    cfg = with_pool(tmp_path, f"  virtual_network:\n    arm_subnet_id: {SUBNET}\n"
                              "  remote_access_control:\n    starting_port: 40000\n")
    created = pool_options(cfg).as_dict()
    assert created["networkConfiguration"] == {"subnetId": SUBNET}
    machine = created["virtualMachineConfiguration"]
    assert machine["imageReference"] == {"virtualMachineImageId":
                                         f"{SUB}/Microsoft.Compute/images/mpi"}
    assert (machine["nodeAgentSKUId"], "licenseType" in machine) == ("batch.node.el 8", False)


def test_no_subnet_and_no_rules_is_no_network_configuration(tmp_path: Path) -> None:
    cfg = with_pool(tmp_path, "  remote_access_control:\n    starting_port: 40000\n")
    assert "networkConfiguration" not in pool_options(cfg).as_dict()


def test_rules_without_a_subnet_are_an_endpoint_configuration(tmp_path: Path) -> None:
    cfg = with_pool(tmp_path, "  remote_access_control:\n    deny: [Internet]\n")
    network = pool_options(cfg).as_dict()["networkConfiguration"]
    assert network == {"endpointConfiguration": {"inboundNATPools": [{
        "name": "BatchShipyard-RemoteAccessControl", "protocol": "tcp", "backendPort": 22,
        "frontendPortRangeStart": 49000, "frontendPortRangeEnd": 49999,
        "networkSecurityGroupRules": [
            {"priority": 150, "access": "deny", "sourceAddressPrefix": "Internet"}]}]}}


@pytest.mark.parametrize("native", [True, False])
def test_a_custom_image_decides_native_tasks(tmp_path: Path, native: bool) -> None:
    cfg = with_pool(tmp_path, f"      native: {str(native).lower()}\n")
    assert PoolContext(1, 0, cfg.pool).native is native
