"""Ingress to nodes, the checks before anything is created or sent: each entry checked
without a pool (what ``pool add`` runs before it creates one), the extra options as shell
words, the SSH user a node destination needs, scp's legacy protocol, and a node that leaves
the pool between planning and sending (pure: a stand-in client lists the nodes and the one
chokepoint that starts ssh and scp only records their command lines).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shipyard.cli import nodeingress, remote, storage
from shipyard.cli.remote import legacy_scp, scp_argv
from shipyard.config import ShipyardConfig, load_config
from shipyard.errors import ConfigError, ShipyardError
from tests.unit.test_node_ingress import LOGIN, USER

GLUSTER = ("  volumes:\n    shared_data_volumes:\n      gv:\n"
           "        volume_driver: glusterfs_on_compute\n        container_path: /gv\n"
           "      blob:\n        volume_driver: azureblob\n        container_path: /blob\n"
           "        storage_account_settings: sa\n        azure_blob_container_name: c\n")


def configs(tmp_path: Path, destination: str, source: str | None = None,
            ssh: str = "  ssh:\n    username: shipyard\n") -> ShipyardConfig:
    """A local config with one files entry to ``destination`` (YAML lines under it)."""
    tree = tmp_path / "src"
    (tree / "d").mkdir(parents=True, exist_ok=True)
    (tree / "a.dat").write_text("alpha")
    (tree / "d" / "b.dat").write_text("bravo!")
    (tmp_path / "credentials.yaml").write_text(
        "credentials:\n  batch:\n    account_service_url: local\n")
    (tmp_path / "config.yaml").write_text(
        f"global_resources:\n{GLUSTER}  files:\n  - source:\n      path: {source or tree}\n"
        f"    destination:\n{destination}")
    (tmp_path / "pool.yaml").write_text(
        f"pool_specification:\n  id: p\n  vm_count:\n    dedicated: 2\n{ssh}"
        f"    generated_file_export_path: {tmp_path / 'keys'}\n" if ssh else
        "pool_specification:\n  id: p\n  vm_count:\n    dedicated: 2\n")
    return load_config(tmp_path)


def node_dest(method: str = "multinode_scp", **transfer: str) -> str:
    lines = "".join(f"        {key}: {value}\n" for key, value in transfer.items())
    return (f"      relative_destination_path: in\n      data_transfer:\n"
            f"        method: {method}\n{lines}")


def check_error(cfg: ShipyardConfig) -> str:
    app: Any = SimpleNamespace(config=cfg)
    with pytest.raises(ConfigError) as caught:
        nodeingress.check_all(app, storage.node_entries(app))
    return str(caught.value)


def test_checks_need_no_pool_and_pass_a_good_entry(tmp_path: Path) -> None:
    app: Any = SimpleNamespace(config=configs(tmp_path, node_dest()))
    [checked] = nodeingress.check_all(app, storage.node_entries(app))
    assert checked.target.directory == "/mnt/batch/tasks/in"
    assert [(f.relative, f.size) for f in checked.files] == [("a.dat", 5), ("d/b.dat", 6)]
    assert checked.key is None


def test_checks_refuse_a_missing_source_and_an_empty_one(tmp_path: Path) -> None:
    missing = check_error(configs(tmp_path, node_dest(), source=str(tmp_path / "nope")))
    assert missing.startswith("config.yaml: global_resources.files[0].source.path: ")
    assert "does not exist" in missing
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no files to send" in check_error(configs(tmp_path, node_dest(), source=str(empty)))


@pytest.mark.parametrize(("volume", "words"), [
    ("nope", "'nope' is not in global_resources.volumes.shared_data_volumes"),
    ("blob", "'blob' is a azureblob volume"),
])
def test_checks_refuse_unknown_and_non_gluster_volumes(tmp_path: Path, volume: str,
                                                       words: str) -> None:
    dest = f"      shared_data_volume: {volume}\n      data_transfer:\n        method: scp\n"
    assert words in check_error(configs(tmp_path, dest))


def test_checks_refuse_a_missing_or_shared_key(tmp_path: Path) -> None:
    key = tmp_path / "id_entry"
    field = "global_resources.files[0].destination.data_transfer.ssh_private_key"
    assert f"{field}: no such file" in check_error(
        configs(tmp_path, node_dest(ssh_private_key=str(key))))
    key.write_text("private")
    key.chmod(0o644)
    message = check_error(configs(tmp_path, node_dest(ssh_private_key=str(key))))
    assert f"{field}: {key} is readable by others" in message and "chmod 600" in message
    key.chmod(0o600)
    app: Any = SimpleNamespace(config=configs(tmp_path, node_dest(ssh_private_key=str(key))))
    assert nodeingress.check_all(app, storage.node_entries(app))[0].key == key


def test_checks_refuse_a_given_public_key_without_its_private_key(tmp_path: Path) -> None:
    ssh = "  ssh:\n    username: shipyard\n    ssh_public_key_data: ssh-rsa AAA\n"
    message = check_error(configs(tmp_path, node_dest(), ssh=ssh))
    assert message.startswith("pool.yaml: pool_specification.ssh.ssh_private_key: required")


def test_a_node_destination_needs_the_pool_ssh_user(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"global_resources\.files\[0\]\.destination: "
                                          "sending to the pool's nodes needs an SSH user"):
        configs(tmp_path, node_dest(), ssh="")


@pytest.mark.parametrize("key", ["scp_ssh_extra_options", "rsync_extra_options"])
def test_extra_options_must_be_shell_words(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configs(tmp_path, node_dest(**{key: "\"-o 'Ciphers=x\""}))
    message = str(caught.value)
    assert f"global_resources.files[0].destination.data_transfer.{key}" in message
    assert "is not shell words (No closing quotation)" in message


@pytest.mark.parametrize(("options", "legacy"), [
    ("", False), ("-O", True), ("-C -3O", True), ("-o Compression=yes", False),
    ("-oCompression=yes", False), ("-i O", False), ("-iO -C", False), ("-l 100 -O", True),
    ("--", False),
])
def test_legacy_scp_is_found_alone_or_bundled(options: str, legacy: bool) -> None:
    assert legacy_scp(shlex.split(options)) is legacy


def test_scp_quotes_the_remote_path_for_the_legacy_protocol() -> None:
    hostile = "/mnt/batch/tasks/a b/it's;$(x)"
    assert scp_argv(LOGIN, USER, Path("/a"), hostile, "-O")[-1] == (
        f"shipyard@10.1.0.4:{shlex.quote(hostile)}")
    assert scp_argv(LOGIN, USER, Path("/a"), hostile, "-C")[-1] == f"shipyard@10.1.0.4:{hostile}"


class Nodes:
    """The pool's nodes as the Batch client lists them; each listing is counted."""

    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)
        self.listed = 0

    def list_nodes(self, pool_id: str) -> list[SimpleNamespace]:
        self.listed += 1
        return [SimpleNamespace(id=node_id, state="idle") for node_id in self.ids]

    def get_node_remote_login_settings(self, pool_id: str, node_id: str) -> SimpleNamespace:
        return SimpleNamespace(remote_login_ip_address=f"10.0.0.{node_id[-1]}",
                               remote_login_port=22)


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command lines ssh and scp would have run, in order."""
    found: list[list[str]] = []
    monkeypatch.setattr(remote, "run_remote", lambda argv, **_: found.append(argv))
    return found


def planned(tmp_path: Path, destination: str, client: Nodes) -> tuple[Any, Any]:
    cfg = configs(tmp_path, destination)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "id_rsa_shipyard").write_text("private")
    (keys / "id_rsa_shipyard.pub").write_text("ssh-rsa AAA shipyard")
    said: list[str] = []
    app: Any = SimpleNamespace(config=cfg, client=client, raw=True, said=said,
                               say=said.append)
    return app, nodeingress.plan_all(app, storage.node_entries(app))


def test_planning_lists_the_nodes_once(tmp_path: Path, ran: list[list[str]]) -> None:
    client = Nodes("node-0", "node-1")
    _, ingress = planned(tmp_path, node_dest(), client)
    assert client.listed == 1
    assert list(ingress.logins) == ["node-0", "node-1"]
    assert [argv[0] for argv in ran] == ["ssh", "ssh"]  # the directories on each node


def test_a_node_gone_before_sending_is_named(tmp_path: Path, ran: list[list[str]]) -> None:
    client = Nodes("node-0", "node-1")
    app, ingress = planned(tmp_path, node_dest(), client)
    client.ids.remove("node-1")
    with pytest.raises(ShipyardError, match=r"global_resources\.files\[0\]: node\(s\) node-1 "
                                            "left the pool after the ingress was planned"):
        nodeingress.send_all(app, ingress)
    assert [argv[0] for argv in ran] == ["ssh", "ssh"]  # nothing was copied


def test_a_shared_volume_goes_through_the_nodes_left(tmp_path: Path,
                                                     ran: list[list[str]]) -> None:
    client = Nodes("node-0", "node-1")
    dest = "      shared_data_volume: gv\n      data_transfer:\n        method: multinode_scp\n"
    app, ingress = planned(tmp_path, dest, client)
    assert set(ingress.items[0].plan.nodes) == {"node-0", "node-1"}
    client.ids.remove("node-0")
    del ran[:]
    nodeingress.send_all(app, ingress)
    assert app.said[0] == ("node(s) node-0 left the pool: global_resources.files[0] "
                           "goes through node-1 instead")
    assert app.said[1].startswith("ingressed 2 file(s), 11 bytes in ")
    assert ran[0][0] == "ssh" and "shipyard@10.0.0.1" in ran[0]
    copies = [argv[-1] for argv in ran[1:]]
    gv0 = "/mnt/batch/tasks/mounts/gluster_on_compute/gv0"
    assert copies == [f"shipyard@10.0.0.1:{gv0}/a.dat", f"shipyard@10.0.0.1:{gv0}/d/b.dat"]
