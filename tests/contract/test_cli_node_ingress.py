"""``data ingress`` straight to the nodes, through the real CLI, a real ssh, scp and rsync,
and the engine's nodes (each its own sshd at its remote login address).

``pool add`` with ``transfer_files_on_pool_creation`` sends the node entries once the SSH
user is on the nodes; ``data ingress`` sends with rsync; without the user on the nodes
nothing is sent and the error says what to do; a bad node entry stops ``pool add`` before
the pool is created. Files are read back through the node file API of each node.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient

from tests.contract.clihelpers import Shell, sh
from tests.realengine import IMAGE, delete_pool

__all__ = ["sh"]  # the fixture, for pytest
POOL = "cli-ingress"
ROOT = "/mnt/batch/tasks"


def pool_yaml(keys: Path) -> str:
    return (f"pool_specification:\n  id: {POOL}\n  vm_count:\n    dedicated: 2\n"
            "  transfer_files_on_pool_creation: true\n"
            f"  ssh:\n    username: shipyard\n    generated_file_export_path: {keys}\n")


def config_yaml(source: Path, relative: str, method: str, extra: str = "") -> str:
    return (f"global_resources:\n  docker_images:\n  - {IMAGE}\n  files:\n"
            f"  - source:\n      path: {source}\n      exclude: ['*.tmp']\n"
            f"    destination:\n      relative_destination_path: {relative}\n"
            f"      data_transfer:\n        method: {method}\n{extra}")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A tree with a file in a subdirectory, a name with a space, and one excluded file."""
    tree = tmp_path / "src"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.dat").write_text("alpha\n")
    (tree / "sub" / "b c.dat").write_bytes(b"\x00bravo" * 1000)
    (tree / "skip.tmp").write_text("not sent")
    return tree


@pytest.fixture
def pool2(sh: Shell, client: BatchClient, tmp_path: Path, source: Path) -> Iterator[Shell]:
    """A 2-node pool by ``pool add``, its SSH user added and ``ingressed/scp`` sent."""
    sh.write("pool.yaml", pool_yaml(tmp_path / "keys"))
    sh.write("config.yaml", config_yaml(source, "ingressed/scp", "multinode_scp",
                                        "        max_parallel_transfers_per_node: 2\n"))
    try:
        added = sh("pool", "add")
        assert "SSH user shipyard added to 2 node(s)" in added.output, added.output
        assert (f"ingressed 2 file(s), 6006 bytes to {ROOT}/ingressed/scp on each of 2 node(s)"
                in added.output), added.output
        yield sh
    finally:
        delete_pool(client, POOL)


def node_file(client: BatchClient, node_id: str, path: str) -> bytes:
    return b"".join(client.download_node_file(POOL, node_id, path))


def names_under(client: BatchClient, node_id: str, prefix: str) -> set[str]:
    return {f.name or "" for f in client.list_node_files(POOL, node_id, recursive=True)
            if (f.name or "").startswith(prefix) and not f.is_directory}


def test_pool_add_then_data_ingress_reach_every_node(
        pool2: Shell, client: BatchClient, source: Path) -> None:
    nodes = [node.id for node in client.list_nodes(POOL)]
    assert len(nodes) == 2
    for node_id in nodes:
        assert names_under(client, node_id, "ingressed/scp") == {
            "ingressed/scp/a.dat", "ingressed/scp/sub/b c.dat"}
        assert node_file(client, node_id, "ingressed/scp/a.dat") == b"alpha\n"
    pool2.write("config.yaml", config_yaml(source, "ingressed/rsync", "rsync+ssh",
                                           "        rsync_extra_options: --checksum\n"))
    sent = pool2("data", "ingress")
    assert f"bytes to {ROOT}/ingressed/rsync on each of 2 node(s)" in sent.output, sent.output
    for node_id in nodes:
        assert node_file(client, node_id, "ingressed/rsync/sub/b c.dat") == b"\x00bravo" * 1000
        assert names_under(client, node_id, "ingressed/rsync") == {
            "ingressed/rsync/a.dat", "ingressed/rsync/sub/b c.dat"}


def test_without_the_ssh_user_nothing_is_sent(
        pool2: Shell, client: BatchClient, source: Path) -> None:
    pool2("pool", "user", "del")
    pool2.write("config.yaml", config_yaml(source, "ingressed/late", "scp"))
    refused = pool2("data", "ingress", ok=False)
    assert refused.exit_code == 1
    assert "SSH user shipyard cannot log in" in refused.output, refused.output
    assert "shipyard pool user add" in refused.output
    for node in client.list_nodes(POOL):
        assert not names_under(client, node.id, "ingressed/late")


@pytest.mark.parametrize("bad", ["source", "volume", "key"])
def test_pool_add_checks_node_entries_before_creating_the_pool(
        sh: Shell, client: BatchClient, tmp_path: Path, source: Path, bad: str) -> None:
    key = tmp_path / "id_open"
    key.write_text("not a key")
    key.chmod(0o644)
    entry = {"source": config_yaml(tmp_path / "missing", "in", "scp"),
             "volume": config_yaml(source, "in", "scp").replace(
                 "relative_destination_path: in", "shared_data_volume: nope"),
             "key": config_yaml(source, "in", "scp", f"        ssh_private_key: {key}\n")}[bad]
    sh.write("pool.yaml", pool_yaml(tmp_path / "keys").replace("dedicated: 2", "dedicated: 1"))
    sh.write("config.yaml", entry)
    try:
        refused = sh("pool", "add", ok=False)
        assert refused.exit_code == 1, refused.output
        assert "global_resources.files[0]" in refused.output, refused.output
        assert "created" not in refused.output, refused.output
        assert POOL not in {found.id for found in client.list_pools()}
    finally:
        delete_pool(client, POOL)


def test_pool_add_no_wait_says_the_node_files_were_not_sent(
        sh: Shell, client: BatchClient, tmp_path: Path, source: Path) -> None:
    sh.write("pool.yaml", pool_yaml(tmp_path / "keys").replace("dedicated: 2", "dedicated: 1"))
    sh.write("config.yaml", config_yaml(source, "in", "scp"))
    try:
        added = sh("pool", "add", "--no-wait")
        assert ("config.yaml's files for the nodes were not sent (--no-wait returns before the "
                "nodes are ready): run 'shipyard data ingress'") in added.output, added.output
    finally:
        delete_pool(client, POOL)
