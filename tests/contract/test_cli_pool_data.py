"""pool.yaml's data settings through the real ``shipyard pool add`` against the engine.

One two-node pool shows the three at once, in Batch Shipyard's order: config.yaml's
``files`` are ingressed to the engine's Azurite before the pool exists
(``transfer_files_on_pool_creation``), the start task fetches ``resource_files`` (an
unsigned Azurite blob, signed by the CLI, and its ``file_mode``) into
``startup/wd`` and the pool's ``input_data`` (reading what was just ingressed) into its
``local_path`` on every node. The results are read back through the node file API, with
``data files node`` and with the SDK.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from azure.batch import BatchClient
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from tests.contract.clihelpers import Shell, sh
from tests.contract.jobhelpers import uid
from tests.contract.storagehelpers import blobs
from tests.realengine import IMAGE, delete_pool, pool_exists

__all__ = ["blobs", "sh"]  # fixtures


def _config(sh: Shell, source: Path, container: str) -> None:
    sh.write("config.yaml", f"""\
global_resources:
  docker_images:
  - {IMAGE}
  files:
  - source:
      path: {source}
    destination:
      storage_account_settings: mystorage
      data_transfer:
        remote_path: {container}/in
""")


def _pool(pool_id: str, script_url: str, container: str) -> str:
    return f"""\
pool_specification:
  id: {pool_id}
  vm_count:
    dedicated: 2
  transfer_files_on_pool_creation: true
  resource_files:
  - blob_source: {script_url}
    file_path: tools/hello.sh
    file_mode: '0750'
  input_data:
    azure_storage:
    - storage_account_settings: mystorage
      remote_path: {container}/in
      local_path: $AZ_BATCH_NODE_SHARED_DIR/pooldata
  additional_node_prep:
    commands:
      post:
      - ./tools/hello.sh > $AZ_BATCH_NODE_SHARED_DIR/pooldata/hello.out
"""


def test_pool_start_task_brings_resource_files_and_input_data_to_every_node(
        sh: Shell, client: BatchClient, blobs: BlobServiceClient, tmp_path: Path) -> None:
    pool_id, container, scripts = uid("pooldata"), uid("pooldata"), uid("scripts")
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.dat").write_text("alpha")
    (source / "sub" / "b.dat").write_text("beta")
    script = blobs.create_container(scripts).upload_blob(
        "hello.sh", b"#!/bin/sh\necho hello from $(hostname)\n")
    _config(sh, source, container)
    sh.write("pool.yaml", _pool(pool_id, script.url, container))
    try:
        added = sh("pool", "add").output
        assert "ingressed 2 file(s), 9 bytes" in added
        assert added.index("ingressed") < added.index(f"pool {pool_id} created")
        nodes = [n.id for n in client.list_nodes(pool_id)]
        assert len(nodes) == 2
        for node in nodes:
            def read(path: str, node: str = node) -> bytes:
                return b"".join(client.download_node_file(pool_id, node, path))

            assert read("shared/pooldata/in/a.dat") == b"alpha"
            assert read("shared/pooldata/in/sub/b.dat") == b"beta"
            assert read("shared/pooldata/hello.out").startswith(b"hello from ")
            props = client.get_node_file_properties(pool_id, node, "startup/wd/tools/hello.sh")
            assert str(props.file_mode).endswith("750")
        sh("data", "files", "node", "--filespec", f"{nodes[0]},shared/pooldata/in/a.dat")
        assert Path("a.dat").read_text() == "alpha"
    finally:
        delete_pool(client, pool_id)
        for name in (container, scripts):
            with suppress(ResourceNotFoundError):  # the ingress may not have run
                blobs.delete_container(name)


def test_missing_input_container_creates_nothing(sh: Shell, client: BatchClient) -> None:
    pool_id, container = uid("pooldata"), uid("absent")
    sh.write("pool.yaml", f"""\
pool_specification:
  id: {pool_id}
  vm_count: 1
  input_data:
    azure_storage:
    - storage_account_settings: mystorage
      remote_path: {container}
      local_path: /data
""")
    result = sh("pool", "add", ok=False)
    assert result.exit_code == 1
    assert f"container '{container}' does not exist in storage account" in result.output
    assert not pool_exists(client, pool_id)


def _files_to(sh: Shell, tmp_path: Path, container: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.dat").write_text("alpha")
    _config(sh, source, container)


def test_existing_pool_uploads_nothing(sh: Shell, blobs: BlobServiceClient, nodeless: str,
                                       tmp_path: Path) -> None:
    target = uid("notsent")
    _files_to(sh, tmp_path, target)
    sh.write("pool.yaml", f"pool_specification:\n  id: {nodeless}\n  vm_count: 0\n"
                          "  transfer_files_on_pool_creation: true\n")
    try:
        result = sh("pool", "add", ok=False)
        assert result.exit_code == 1
        assert f"PoolExists: pool {nodeless} already exists" in result.output
        assert "ingressed" not in result.output
        assert not blobs.get_container_client(target).exists()
    finally:
        with suppress(ResourceNotFoundError):
            blobs.delete_container(target)


def test_missing_input_container_uploads_nothing(sh: Shell, client: BatchClient,
                                                 blobs: BlobServiceClient,
                                                 tmp_path: Path) -> None:
    # The ingress target may be missing (the ingress makes it); another input may not.
    pool_id, target, absent = uid("pooldata"), uid("notsent"), uid("absent")
    _files_to(sh, tmp_path, target)
    inputs = "".join(f"    - storage_account_settings: mystorage\n      remote_path: {name}\n"
                     "      local_path: /data\n" for name in (target, absent))
    sh.write("pool.yaml", f"pool_specification:\n  id: {pool_id}\n  vm_count: 1\n"
                          "  transfer_files_on_pool_creation: true\n"
                          f"  input_data:\n    azure_storage:\n{inputs}")
    try:
        result = sh("pool", "add", ok=False)
        assert result.exit_code == 1
        assert f"container '{absent}' does not exist in storage account" in result.output
        assert not blobs.get_container_client(target).exists()
        assert not pool_exists(client, pool_id)
    finally:
        with suppress(ResourceNotFoundError):
            blobs.delete_container(target)


def test_a_node_added_later_gets_what_the_container_holds_then(
        sh: Shell, client: BatchClient, blobs: BlobServiceClient, tmp_path: Path) -> None:
    # An include a blob prefix can say goes as the container (with the prefix), not as the
    # blobs listed at pool add: Batch Shipyard's nodes download at node preparation too.
    pool_id, container = uid("pooldata"), uid("pooldata")
    _files_to(sh, tmp_path, container)

    def pool(nodes: int) -> str:
        return (f"pool_specification:\n  id: {pool_id}\n  vm_count: {nodes}\n"
                "  transfer_files_on_pool_creation: true\n  input_data:\n    azure_storage:\n"
                f"    - storage_account_settings: mystorage\n      remote_path: {container}\n"
                "      include: ['in/*']\n      local_path: $AZ_BATCH_NODE_SHARED_DIR/pd\n")

    try:
        sh.write("pool.yaml", pool(1))
        sh("pool", "add")
        (first,) = [n.id for n in client.list_nodes(pool_id)]
        blobs.get_container_client(container).upload_blob("in/late.dat", b"late")
        blobs.get_container_client(container).upload_blob("out/not.dat", b"not")
        sh.write("pool.yaml", pool(2))
        sh("pool", "resize", "--wait")
        (added,) = [n.id for n in client.list_nodes(pool_id) if n.id != first]
        files = {f.name for f in client.list_node_files(pool_id, added, recursive=True)}
        assert {"shared/pd/in/a.dat", "shared/pd/in/late.dat"} <= files, files
        assert not any("not.dat" in name for name in files)
        assert "shared/pd/in/late.dat" not in {
            f.name for f in client.list_node_files(pool_id, first, recursive=True)}
    finally:
        delete_pool(client, pool_id)
        with suppress(ResourceNotFoundError):
            blobs.delete_container(container)
