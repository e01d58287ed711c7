"""Data movement through the real shipyard command: ingress, input_data/output_data, file factory.

Config dirs are what a Batch Shipyard user writes; their storage link is not in
credentials.yaml, so with the local Batch account it means the engine's Azurite. Results
are checked by listing containers through the blob SDK, as a user would fetch them.
"""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.storage.blob import BlobServiceClient

from shipyard.config.data import RemotePath
from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from shipyard.errors import StorageError
from shipyard.storage.account import Account
from shipyard.storage.blobs import Blobs
from tests.contract.jobhelpers import delete_job, uid
from tests.contract.storagehelpers import blobs, names, shipyard
from tests.realengine import IMAGE, wait_for

pytestmark = pytest.mark.root
__all__ = ["blobs"]  # fixture

CREDENTIALS = "credentials:\n  batch:\n    account_service_url: local\n"
POOL = "pool_specification:\n  id: {pool}\n  vm_size: Standard_D2s_v3\n  vm_count:\n" \
       "    dedicated: 3\n"


def configdir(root: Path, pool: str, jobs: str, files: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "credentials.yaml").write_text(CREDENTIALS)
    (root / "pool.yaml").write_text(POOL.format(pool=pool))
    (root / "config.yaml").write_text(
        f"global_resources:\n  docker_images:\n  - {IMAGE}\n"
        + textwrap.indent(textwrap.dedent(files), "  "))
    (root / "jobs.yaml").write_text(textwrap.dedent(jobs))
    return root


def wait_all(client: BatchClient, job_id: str, count: int) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        tasks = list(client.list_tasks(job_id))
        ended = len(tasks) == count and all(t.state == "completed" for t in tasks)
        return {t.id: t for t in tasks} if ended else None

    return wait_for(f"{count} tasks of {job_id} to complete", done, 180)


def test_data_ingress_of_a_directory(settings: EngineSettings, engine: object,
                                     blobs: BlobServiceClient, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.dat").write_bytes(b"a" * 1000)
    (source / "sub" / "b.dat").write_bytes(b"b" * 2000)
    (source / "skip.tmp").write_text("no")
    container = uid("ingress")
    config = configdir(tmp_path / "cfg", "unused", "job_specifications:\n- id: x\n  tasks:\n"
                       f"  - docker_image: {IMAGE}\n", f"""\
          files:
          - source:
              path: {source}
              include: ['*.dat']
            destination:
              storage_account_settings: mystorage
              data_transfer:
                remote_path: {container}/in
        """)
    out = shipyard(settings, config, "data", "ingress").stdout
    try:
        assert sorted(b.name for b in blobs.get_container_client(container).list_blobs()) == [
            "in/a.dat", "in/sub/b.dat"]
        assert "ingressed 2 file(s), 3000 bytes" in out
    finally:
        blobs.delete_container(container)


def test_job_reads_input_data_and_writes_output_data(
        settings: EngineSettings, client: BatchClient, shared_pool: str,
        blobs: BlobServiceClient, tmp_path: Path) -> None:
    inputs, results, job_id = uid("inputs"), uid("results"), uid("job")
    source = blobs.create_container(inputs)
    source.upload_blob("shared/scale.txt", b"10")
    for n in range(3):
        source.upload_blob(f"per-task/x{n}.txt", str(n + 1).encode())
    source.upload_blob("per-task/ignore.bak", b"0")
    config = configdir(tmp_path / "cfg", shared_pool, f"""\
        job_specifications:
        - id: {job_id}
          auto_complete: true
          input_data:
            azure_storage:
            - storage_account_settings: mystorage
              remote_path: {inputs}/shared
              local_path: $AZ_BATCH_NODE_SHARED_DIR/{job_id}
          tasks:
          - docker_image: {IMAGE}
            task_factory:
              parametric_sweep:
                product:
                - start: 0
                  stop: 3
            input_data:
              azure_storage:
              - storage_account_settings: mystorage
                remote_path: {inputs}/per-task
                include: ['*.txt']
            output_data:
              azure_storage:
              - storage_account_settings: mystorage
                remote_path: {results}/run
                local_path: $AZ_BATCH_TASK_WORKING_DIR
                include: ['*.out']
            command: >-
              sh -c 'echo $(( $(cat $AZ_BATCH_NODE_SHARED_DIR/{job_id}/shared/scale.txt)
              * $(cat per-task/x{{0}}.txt) )) > result-{{0}}.out; ls per-task > listing.txt'
        """)
    try:
        shipyard(settings, config, "jobs", "add")
        tasks = wait_all(client, job_id, 3)
        failed = {i: t.execution_info.failure_info for i, t in tasks.items()  # type: ignore
                  if t.execution_info.result != "success"}  # type: ignore[attr-defined]
        assert not failed, failed
        out = blobs.get_container_client(results)
        assert names(out) == ["run/result-0.out", "run/result-1.out", "run/result-2.out"]
        values = [out.download_blob(f"run/result-{n}.out").readall() for n in range(3)]
        assert values == [b"10\n", b"20\n", b"30\n"]
    finally:
        delete_job(client, job_id)
        blobs.delete_container(inputs)
        blobs.delete_container(results)


def test_task_factory_file_makes_one_task_per_blob(
        settings: EngineSettings, client: BatchClient, shared_pool: str,
        blobs: BlobServiceClient, tmp_path: Path) -> None:
    items, job_id = uid("items"), uid("job")
    source = blobs.create_container(items)
    for n in range(10):
        source.upload_blob(f"batch/item-{n}.txt", f"payload {n}".encode())
    source.upload_blob("batch/readme.md", b"not an item")
    config = configdir(tmp_path / "cfg", shared_pool, f"""\
        job_specifications:
        - id: {job_id}
          auto_complete: true
          tasks:
          - docker_image: {IMAGE}
            task_factory:
              file:
                azure_storage:
                  storage_account_settings: mystorage
                  remote_path: {items}/batch
                  include: ['*.txt']
                task_filepath: file_name
            command: sh -c 'echo {{file_name_no_extension}} $(cat {{file_name}}) {{url}}'
        """)
    try:
        shipyard(settings, config, "jobs", "add")
        tasks = wait_all(client, job_id, 10)
        outputs = sorted(b"".join(client.download_task_file(job_id, t, "stdout.txt")).decode()
                         for t in tasks)
        endpoint = blobs.url.rstrip("/")
        assert outputs == sorted(f"item-{n} payload {n} {endpoint}/{items}/batch/item-{n}.txt\n"
                                 for n in range(10))
    finally:
        delete_job(client, job_id)
        blobs.delete_container(items)


def test_missing_container_and_wrong_key_are_one_clear_line(
        settings: EngineSettings, engine: control.EngineState, tmp_path: Path) -> None:
    config = configdir(tmp_path / "cfg", "unused", "job_specifications:\n- id: x\n  tasks:\n"
                       f"  - docker_image: {IMAGE}\n")
    missing = shipyard(settings, config, "storage", "list", "mystorage", "no-such-container",
                       check=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "container 'no-such-container' does not exist in storage account " \
           "devstoreaccount1 (link 'mystorage')" in missing.stderr

    assert engine.storage
    endpoint = engine.storage["blob_endpoint"]
    wrong = Account("mine", "devstoreaccount1", base64.b64encode(b"x" * 64).decode(), endpoint)
    with pytest.raises(StorageError) as refused:
        Blobs(wrong).names(RemotePath(storage_account_settings="mine", remote_path="any"))
    assert "refused the credentials" in refused.value.message
    assert "credentials.storage.mine.account_key" in (refused.value.hint or "")


def test_resource_files_naming_private_blobs_get_a_read_sas(
        settings: EngineSettings, client: BatchClient, shared_pool: str,
        blobs: BlobServiceClient, tmp_path: Path) -> None:
    private, job_id = uid("tools"), uid("job")
    blobs.create_container(private).upload_blob("bin/tool.sh", b"echo tool ran\n")
    url = f"{blobs.url.rstrip('/')}/{private}/bin/tool.sh"  # no SAS: the container is private
    config = configdir(tmp_path / "cfg", shared_pool, f"""\
        job_specifications:
        - id: {job_id}
          auto_complete: true
          tasks:
          - id: t
            docker_image: {IMAGE}
            resource_files:
            - file_path: tool.sh
              blob_source: {url}
            command: sh tool.sh
        """)
    try:
        shipyard(settings, config, "jobs", "add")
        task = wait_all(client, job_id, 1)["t"]
        assert task.execution_info.result == "success", task.execution_info  # type: ignore
        assert b"".join(client.download_task_file(job_id, "t", "stdout.txt")) == b"tool ran\n"
    finally:
        delete_job(client, job_id)
        blobs.delete_container(private)
