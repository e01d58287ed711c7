"""pool.yaml's custom_image and network keys on bad input, and where they cannot hold.

Each problem is one line naming the file and the key: a malformed id or port range
wherever the credentials point; virtual networks, public IPs and access rules on the local
engine; on Azure, what shipyard cannot do without a management client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.config.unimplemented import NOT_SUPPORTED
from shipyard.errors import ConfigError
from tests.unit.test_config_errors import AZURE_CREDENTIALS, FILES, POOL, load_with

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers"
IMAGE = f"{SUB}/Microsoft.Compute/galleries/hpc/images/mpi/versions/1.0.0"
SUBNET = f"{SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/nodes"
PUBLIC_IP = f"{SUB}/Microsoft.Network/publicIPAddresses/ip1"
AZURE_POOL = POOL + "  vm_size: standard_d2_v3\n"
PLATFORM = ("  vm_configuration:\n    platform_image:\n      publisher: canonical\n"
            "      offer: ubuntu-24_04-lts\n      sku: server\n")
CUSTOM = (f"  vm_configuration:\n    custom_image:\n      arm_image_id: {IMAGE}\n"
          "      node_agent: batch.node.ubuntu 22.04\n")
ENTRA = ("  aad:\n    directory_id: tenant\n    application_id: app\n"
         "    auth_key: not-a-secret\n")
AZURE_ENTRA = AZURE_CREDENTIALS.replace("    account_key: a2V5\n", "") + ENTRA
P = "pool.yaml: pool_specification"

BAD_VALUES = [
    (CUSTOM.replace(IMAGE, "/images/mpi"),
     f"{P}.vm_configuration.custom_image.arm_image_id: must be the resource id of an Azure "
     "Compute Gallery image or a managed image, /subscriptions/{subscription}/resourceGroups/"
     "{group}/providers/Microsoft.Compute/galleries/{gallery}/images/{image}"
     "[/versions/{version}] (got '/images/mpi')"),
    (CUSTOM.replace("batch.node.ubuntu 22.04", "ubuntu"),
     f"{P}.vm_configuration.custom_image.node_agent: must be a node agent SKU id such as "
     "'batch.node.ubuntu 22.04' (see 'shipyard account images'; got 'ubuntu')"),
    (CUSTOM.replace("batch.node.ubuntu 22.04", "batch.node.windows amd64"),
     f"{P}.vm_configuration.custom_image.node_agent: 'batch.node.windows amd64' is a Windows "
     "node agent; shipyard makes Linux pools only"),
    (CUSTOM + "    platform_image:\n      publisher: a\n      offer: b\n      sku: c\n",
     f"{P}.vm_configuration.custom_image: set only one of platform_image and custom_image"),
    ("  remote_access_control:\n    starting_port: 49500\n",
     f"{P}.remote_access_control.starting_port: 49500 to 50499 (the 1000 ports it starts) "
     "must lie within 1-65534 and outside 50000-55000, which Batch reserves"),
    ("  remote_access_control:\n    starting_port: 64536\n",
     f"{P}.remote_access_control.starting_port: 64536 to 65535 (the 1000 ports it starts) "
     "must lie within 1-65534 and outside 50000-55000, which Batch reserves"),
    ("  remote_access_control:\n    allow: [1.2.3.4/40]\n",
     f"{P}.remote_access_control.allow[0]: must be an IP address, a CIDR prefix such as "
     "10.0.0.0/24, a service tag or '*' (got '1.2.3.4/40')"),
    ("  remote_access_control:\n    deny: [" + ", ".join(["'*'"] * 26) + "]\n",
     f"{P}.remote_access_control.deny: at most 25 allow and deny rules in all (Batch's "
     "limit; got 26)"),
    (f"  virtual_network:\n    arm_subnet_id: {SUBNET}\n    name: vnet\n",
     f"{P}.virtual_network.name: set only one of arm_subnet_id and name"),
    ("  virtual_network:\n    name: vnet\n",
     f"{P}.virtual_network.subnet: required with virtual_network.name ('vnet')"),
    ("  virtual_network:\n    resource_group: rg\n",
     f"{P}.virtual_network.arm_subnet_id: needs arm_subnet_id (or name and subnet.name)"),
    ("  virtual_network:\n    arm_subnet_id: /subnets/nodes\n",
     f"{P}.virtual_network.arm_subnet_id: must be the resource id of a virtual network "
     "subnet, /subscriptions/{subscription}/resourceGroups/{group}/providers/"
     "Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet} (got '/subnets/nodes')"),
    (f"  public_ips:\n  - {SUBNET}\n",
     f"{P}.public_ips[0]: must be the resource id of a public IP address, "
     "/subscriptions/{subscription}/resourceGroups/{group}/providers/"
     f"Microsoft.Network/publicIPAddresses/{{name}} (got '{SUBNET}')"),
]


@pytest.mark.parametrize(("lines", "message"), BAD_VALUES)
def test_bad_value_names_the_key(tmp_path: Path, lines: str, message: str) -> None:
    assert load_with(tmp_path, "pool.yaml", POOL + lines).message == message


LOCAL_HINT = "remove it to run on the local engine; it is kept for Azure only"
LOCAL_REFUSED = [
    (f"  virtual_network:\n    arm_subnet_id: {SUBNET}\n",
     f"{P}.virtual_network: the local engine's nodes sit on its own bridge network, in no "
     "Azure virtual network", LOCAL_HINT),
    (f"  public_ips:\n  - {PUBLIC_IP}\n",
     f"{P}.public_ips: the local engine's nodes have no public IP addresses", LOCAL_HINT),
    ("  remote_access_control:\n    allow: [1.2.3.4]\n    deny: ['*']\n",
     f"{P}.remote_access_control: allow and deny rules need Batch's load balancer; the local "
     "engine reaches each node at its bridge address on port 22 (see 'pool nodes grls') "
     "with no network security group to apply them",
     "remove allow and deny to run on the local engine; they are kept for Azure only"),
]


@pytest.mark.parametrize(("lines", "message", "hint"), LOCAL_REFUSED)
def test_local_engine_refuses_network_keys(tmp_path: Path, lines: str, message: str,
                                           hint: str) -> None:
    error = load_with(tmp_path, "pool.yaml", POOL + lines)
    assert (error.message, error.hint) == (message, hint)


def test_local_engine_takes_a_custom_image_and_a_bare_starting_port(tmp_path: Path) -> None:
    pool = POOL + CUSTOM + "  remote_access_control:\n    starting_port: 40000\n"
    for name, text in {**FILES, "pool.yaml": pool}.items():
        (tmp_path / name).write_text(text)
    vm = load_config(tmp_path).pool.vm_configuration
    assert vm is not None and vm.custom_image is not None
    assert vm.custom_image.node_agent == "batch.node.ubuntu 22.04"


def load_azure(tmp_path: Path, pool_lines: str, credentials: str = AZURE_ENTRA) -> ConfigError:
    image = "" if "vm_configuration" in pool_lines else PLATFORM
    files = {**FILES, "credentials.yaml": credentials,
             "pool.yaml": AZURE_POOL + image + pool_lines}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    return caught.value


BY_NAME = "  virtual_network:\n    name: vnet\n    subnet:\n      name: nodes\n"
AZURE_REFUSED = [
    (CUSTOM, AZURE_CREDENTIALS,
     f"{P}.vm_configuration.custom_image: needs Entra ID sign-in to the Batch account, as "
     "Batch Shipyard requires for custom images, virtual networks and public IPs"),
    (f"  virtual_network:\n    arm_subnet_id: {SUBNET}\n", AZURE_CREDENTIALS,
     f"{P}.virtual_network: needs Entra ID sign-in to the Batch account, as Batch Shipyard "
     "requires for custom images, virtual networks and public IPs"),
    (BY_NAME + "    create_nonexistant: true\n", AZURE_ENTRA,
     f"{P}.virtual_network.create_nonexistant: creating a virtual network needs Azure "
     "Resource Manager, which shipyard does not use"),
    (BY_NAME, AZURE_ENTRA,
     f"{P}.virtual_network.name: writing out the subnet's resource id needs "
     "credentials.management.subscription_id (shipyard does not look networks up)"),
    (BY_NAME, AZURE_ENTRA + "  management:\n    subscription_id: s\n",
     f"{P}.virtual_network.resource_group: required with a network given by name (or "
     "credentials.batch.resource_group)"),
    (f"  public_ips:\n  - {PUBLIC_IP}\n", AZURE_ENTRA,
     f"{P}.public_ips: needs virtual_network: Batch assigns user-managed public IP addresses "
     "only to pools in a virtual network"),
]


@pytest.mark.parametrize(("lines", "credentials", "message"), AZURE_REFUSED)
def test_azure_refusals_name_the_key(tmp_path: Path, lines: str, credentials: str,
                                     message: str) -> None:
    assert load_azure(tmp_path, lines, credentials).message == message


@pytest.mark.parametrize(("lines", "reason"), [
    ("  certificates:\n    0123abcd:\n      visibility: [task]\n",
     "Batch account certificates, retired by Azure Batch on 29 February 2024 (the "
     "azure-batch SDK, API 2025-06-01, has no certificate references); install certificates "
     "with the Azure Key Vault VM extension instead"),
    ("  rdp:\n    username: shipyard\n",
     "RDP users, for Windows pools; shipyard makes Linux pools only (Batch Shipyard ignores "
     "rdp on Linux): remove it and use ssh"),
])
def test_certificates_and_rdp_stay_refused_with_the_reason(tmp_path: Path, lines: str,
                                                           reason: str) -> None:
    key = lines.split(":", 1)[0].strip()
    message = load_with(tmp_path, "pool.yaml", POOL + lines).message
    assert message == f"{P}.{key}: {NOT_SUPPORTED}: {reason}"
