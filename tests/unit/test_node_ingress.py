"""Ingress to nodes, planned: which file goes to which node and path, the destination rules,
the config checks, and the ssh/scp/rsync command lines and their one chokepoint (pure: no
node; the chokepoint runs only ``true``, ``false`` and ``sleep``).
"""

from __future__ import annotations

import datetime
import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from shipyard.cli.remote import Login, rsync_argv, run_remote, scp_argv, ssh_argv
from shipyard.cli.sshkeys import SshUser
from shipyard.config.data import IngressDestination, IngressFile
from shipyard.config.global_config import GlobalConfig
from shipyard.config.pool import PoolSpecification
from shipyard.config.unimplemented import reject_unimplemented
from shipyard.config.volumes import SharedDataVolume
from shipyard.errors import CommandError, ConfigError
from shipyard.factory.ingress import Destination, LocalFile, destination, node_plan, node_root

NODES = ["node-0", "node-1"]
ROOT = "/mnt/batch/tasks"
GLUSTER = SharedDataVolume(volume_driver="glusterfs_on_compute", container_path="/data")
BLOB = SharedDataVolume(volume_driver="azureblob", container_path="/blob",
                        storage_account_settings="sa", azure_blob_container_name="c")


def files(*sizes: int) -> list[LocalFile]:
    """Files f0, d/f1, f2, ... of the given sizes, in path order."""
    return [LocalFile(Path(f"/src/{'d/' if i % 2 else ''}f{i}"),
                      f"{'d/' if i % 2 else ''}f{i}", size) for i, size in enumerate(sizes)]


def dest(**keys: object) -> IngressDestination:
    return IngressDestination.model_validate(keys)


def test_node_root_is_written_out_per_image() -> None:
    def pool(offer: str) -> PoolSpecification:
        return PoolSpecification.model_validate({
            "id": "p", "vm_configuration": {"platform_image": {
                "publisher": "x", "offer": offer, "sku": "1"}}})

    assert node_root(pool("0001-com-ubuntu-server-jammy"), local=False) == ROOT
    assert node_root(pool("CentOS-HPC"), local=False) == "/mnt/resource/batch/tasks"
    assert node_root(pool("CentOS-HPC"), local=True) == ROOT
    image_id = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/"
                "providers/Microsoft.Compute/images/hpc")
    for agent, root in (("batch.node.ubuntu 20.04", ROOT),
                        ("batch.node.centos 7", "/mnt/resource/batch/tasks")):
        custom = PoolSpecification.model_validate({"id": "p", "vm_configuration": {
            "custom_image": {"arm_image_id": image_id, "node_agent": agent}}})
        assert node_root(custom, local=False) == root, agent


@pytest.mark.parametrize(("keys", "expected"), [
    ({"relative_destination_path": "data/in/"}, Destination(f"{ROOT}/data/in", False)),
    ({"relative_destination_path": "/data"}, Destination(f"{ROOT}/data", False)),
    ({"relative_destination_path": ""}, Destination(ROOT, False)),
    ({"shared_data_volume": "gv"}, Destination(f"{ROOT}/mounts/gluster_on_compute/gv0", True)),
    ({"shared_data_volume": "gv", "relative_destination_path": "x"},
     Destination(f"{ROOT}/mounts/gluster_on_compute/gv0/x", True)),
])
def test_destination_directory(keys: dict[str, str], expected: Destination) -> None:
    found = destination(dest(**keys, data_transfer={"method": "scp"}), {"gv": GLUSTER}, ROOT,
                        "global_resources.files[0].destination")
    assert found == expected


@pytest.mark.parametrize(("alias", "words"), [
    ("nope", "'nope' is not in global_resources.volumes.shared_data_volumes"),
    ("blob", "'blob' is a azureblob volume; Batch Shipyard ingresses to glusterfs_on_compute"),
])
def test_destination_refuses_unknown_or_unsupported_volumes(alias: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        destination(dest(shared_data_volume=alias, data_transfer={"method": "scp"}),
                    {"gv": GLUSTER, "blob": BLOB}, ROOT, "global_resources.files[2].destination")
    assert str(caught.value).startswith(
        "config.yaml: global_resources.files[2].destination.shared_data_volume: ")
    assert words in str(caught.value)


def test_node_root_destination_sends_every_file_to_every_node() -> None:
    plan = node_plan(files(10, 5), Destination(f"{ROOT}/in", False), "multinode_rsync+ssh", 3,
                     NODES)
    assert (plan.tool, plan.parallel, plan.files, plan.size) == ("rsync", 3, 4, 30)
    for node_id in NODES:
        share = plan.nodes[node_id]
        assert share.directories == (f"{ROOT}/in", f"{ROOT}/in/d")
        assert [(c.local, c.remote) for c in share.copies] == [
            (Path("/src/f0"), f"{ROOT}/in/f0"), (Path("/src/d/f1"), f"{ROOT}/in/d/f1")]


def test_shared_volume_multinode_spreads_by_bytes() -> None:
    # Each file in order to the node with the fewest bytes so far (a tie: the first):
    # 10 -> 0, 5 -> 1, 4 -> 1 (5 < 10), 3 -> 1 (9 < 10), 8 -> 0 (10 < 12).
    plan = node_plan(files(10, 5, 4, 3, 8), Destination("/v", True), "multinode_scp", 2, NODES)
    placed = {n: [c.remote for c in share.copies] for n, share in plan.nodes.items()}
    assert placed == {"node-0": ["/v/f0", "/v/f4"], "node-1": ["/v/d/f1", "/v/f2", "/v/d/f3"]}
    assert {n: share.size for n, share in plan.nodes.items()} == {"node-0": 18, "node-1": 12}
    assert plan.nodes["node-0"].directories == ("/v",)
    assert plan.nodes["node-1"].directories == ("/v", "/v/d")
    assert (plan.tool, plan.parallel, plan.files) == ("scp", 2, 5)


def test_shared_volume_single_method_goes_through_the_first_node_one_at_a_time() -> None:
    plan = node_plan(files(1, 2, 3), Destination("/v", True), "rsync+ssh", 4, NODES)
    assert list(plan.nodes) == ["node-0"]
    assert (plan.tool, plan.parallel, plan.files) == ("rsync", 1, 3)


def test_a_node_destination_needs_a_method_and_not_a_storage_account() -> None:
    with pytest.raises(ValidationError, match="required for ingress to nodes: scp, "):
        dest(relative_destination_path="x")
    with pytest.raises(ValidationError, match="a storage account or the pool's nodes, not both"):
        dest(relative_destination_path="x", storage_account_settings="sa",
             data_transfer={"method": "scp", "remote_path": "c"})
    with pytest.raises(ValidationError, match="multinode_scp"):
        dest(shared_data_volume="gv", data_transfer={"method": "ftp"})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        dest(shared_data_volume="gv", data_transfer={
            "method": "scp", "max_parallel_transfers_per_node": 0})


def test_node_destinations_load_and_split_files_is_refused() -> None:
    entry = {"source": {"path": "/d"}, "destination": {
        "shared_data_volume": "gv", "relative_destination_path": "x",
        "data_transfer": {"method": "multinode_scp"}}}
    reject_unimplemented("config.yaml", GlobalConfig.model_validate(
        {"global_resources": {"files": [entry]}}))
    assert IngressFile.model_validate(entry).destination.to_nodes
    entry["destination"]["data_transfer"]["split_files_megabytes"] = 100  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"files\[0\]\.destination\.data_transfer\."
                                          r"split_files_megabytes: a Batch Shipyard setting"):
        reject_unimplemented("config.yaml", GlobalConfig.model_validate(
            {"global_resources": {"files": [entry]}}))


USER = SshUser("shipyard", "ssh-rsa AAA", Path("/keys/id_rsa_shipyard"),
               datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
LOGIN = Login("node-0", "10.1.0.4", 2222)
HOSTILE = "/mnt/batch/tasks/a b/it's;$(x)"


def test_scp_and_rsync_command_lines() -> None:
    scp = scp_argv(LOGIN, USER, Path("/src/a b"), HOSTILE, "-c aes256-gcm@openssh.com -C")
    assert scp[0] == "scp" and scp[-3:] == ["--", "/src/a b", f"shipyard@10.1.0.4:{HOSTILE}"]
    assert scp[scp.index("-P"):scp.index("-P") + 2] == ["-P", "2222"]
    assert scp[scp.index("-i"):scp.index("-i") + 2] == ["-i", "/keys/id_rsa_shipyard"]
    assert "-p" in scp and "-C" in scp and "aes256-gcm@openssh.com" in scp
    rsync = rsync_argv(LOGIN, USER, Path("/src/a"), "/dst/a", "-C", "-v --inplace")
    assert rsync[:3] == ["rsync", "-v", "--inplace"]
    shell = shlex.split(rsync[rsync.index("-e") + 1])
    assert shell[:3] == ["ssh", "-T", "-x"] and shell[-3:] == ["-C", "-p", "2222"]
    assert "BatchMode=yes" in shell and "/keys/id_rsa_shipyard" in shell
    assert rsync[-1] == "shipyard@10.1.0.4:/dst/a"
    v6 = scp_argv(Login("n", "fd00::4", 22), USER, Path("/a"), "/b")
    assert v6[-1] == "shipyard@[fd00::4]:/b"
    assert ssh_argv(LOGIN, USER, "true")[-2:] == ["shipyard@10.1.0.4", "true"]


def test_run_remote_raises_one_error_with_argv_exit_and_tail() -> None:
    assert run_remote(["true"]).returncode == 0
    with pytest.raises(CommandError) as failed:
        run_remote(["sh", "-c", "echo one; echo two >&2; exit 3"])
    assert (failed.value.returncode, failed.value.argv[0]) == (3, "sh")
    assert "two" in str(failed.value) and "exit 3" in str(failed.value)
    with pytest.raises(CommandError, match=r"timed out after 0\.2 s") as slow:
        run_remote(["sleep", "5"], timeout=0.2)
    assert slow.value.returncode is None
    with pytest.raises(CommandError, match="did not start"):
        run_remote(["/nonexistent/scp"])
