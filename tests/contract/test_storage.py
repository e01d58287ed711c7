"""Storage through the SDKs: resource files from blobs, output files to containers, node logs.

The engine's Azurite is the storage account; SAS tokens are made with the real blob SDK
from its development key, so Azurite checks them exactly as Azure would.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.storage.blob import BlobServiceClient, ContainerClient

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from shipyard.engine.storage.azurite import Azurite
from tests.contract.jobhelpers import (
    add_task,
    bash,
    details,
    error_of,
    job,
    node_ips,
    uid,
    wait_task,
)
from tests.contract.storagehelpers import blobs, container, names, sas_url
from tests.contract.test_multi_instance import add_mi, per_node
from tests.realengine import delete_pool, pool_options, wait_for, wait_nodes

pytestmark = pytest.mark.root
__all__ = ["blobs", "container"]  # fixtures


def output(pattern: str, url: str, condition: str, path: str | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"containerUrl": url}
    if path:
        destination["path"] = path
    return {"filePattern": pattern, "destination": {"container": destination},
            "uploadOptions": {"uploadCondition": condition}}


def failure(task: models.BatchTask) -> tuple[str | None, str | None, int | None]:
    info = task.execution_info
    assert info is not None
    code = info.failure_info.code if info.failure_info else None
    category = info.failure_info.category if info.failure_info else None
    return code, category, info.exit_code


WRITE_RESULTS = bash(
    "mkdir -p out/deep"
    " && cat single.txt in/data/a.txt in/data/sub/b.txt auto/other/c.txt > found.txt"
    " && echo x > out/x.dat && echo y > out/deep/y.dat && echo skip > out/z.log"
    " && echo to-stdout && exit ${CODE:-0}")


def test_resource_files_in_and_output_files_out_by_condition(
        client: BatchClient, shared_pool: str, container: ContainerClient,
        blobs: BlobServiceClient) -> None:
    for name, text in {"single": "one", "data/a.txt": "a", "data/sub/b.txt": "b",
                       "other/c.txt": "c", "elsewhere/d.txt": "d"}.items():
        container.upload_blob(name, text.encode())
    auto = blobs.create_container(uid("auto"))
    auto.upload_blob("other/c.txt", b"c")
    try:
        inputs = [
            {"httpUrl": sas_url(container, "r", blob="single"), "filePath": "single.txt"},
            {"storageContainerUrl": sas_url(container, "rl"), "blobPrefix": "data/",
             "filePath": "in"},
            {"autoStorageContainerName": auto.container_name, "blobPrefix": "other/",
             "filePath": "auto"},
        ]
        url = sas_url(container, "rwl")
        with job(client, shared_pool) as job_id:
            for task_id, code in (("ok", 0), ("bad", 3)):
                outputs = [output("out/**/*.dat", url, "taskSuccess", f"{task_id}/res"),
                           output("found.txt", url, "taskSuccess",
                                  f"{task_id}/found-renamed.txt"),
                           output("../std*.txt", url, "taskCompletion", f"{task_id}/logs"),
                           output("out/*.log", url, "taskFailure", f"{task_id}/failed")]
                add_task(client, job_id, task_id, WRITE_RESULTS, resourceFiles=inputs,
                         outputFiles=outputs,
                         environmentSettings=[{"name": "CODE", "value": str(code)}])
            ok, bad = (wait_task(client, job_id, t, timeout=90) for t in ("ok", "bad"))
            stderr = b"".join(client.download_task_file(job_id, "ok", "stderr.txt"))
        assert failure(ok) == (None, None, 0), stderr
        assert failure(bad) == ("FailureExitCode", "usererror", 3)
        assert names(container, "ok/") == ["ok/found-renamed.txt", "ok/logs/stderr.txt",
                                           "ok/logs/stdout.txt", "ok/res/deep/y.dat",
                                           "ok/res/x.dat"]
        assert names(container, "bad/") == ["bad/failed/z.log", "bad/logs/stderr.txt",
                                            "bad/logs/stdout.txt"]
        found = container.download_blob("ok/found-renamed.txt").readall()
        assert found == b"oneabc"  # every kind of input arrived, blob names kept below filePath
        assert container.download_blob("ok/logs/stdout.txt").readall() == b"to-stdout\n"
    finally:
        auto.delete_container()


def test_bad_sas_and_missing_container_fail_the_task_with_the_service_codes(
        client: BatchClient, shared_pool: str, container: ContainerClient) -> None:
    container.upload_blob("in.txt", b"data")
    good = sas_url(container, "r", blob="in.txt")
    tampered = good.replace("sig=", "sig=AAAA")
    expired = sas_url(container, "rwl", expiry=timedelta(minutes=-5))
    # Signed for a container that does not exist: the signature holds, the container not.
    absent = ContainerClient(container.url.rsplit("/", 1)[0], "no-such-container",
                             credential=container.credential)
    missing = sas_url(absent, "rl")
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "tampered", "/bin/true",
                 resourceFiles=[{"httpUrl": tampered, "filePath": "in.txt"}])
        add_task(client, job_id, "gone", "/bin/true",
                 resourceFiles=[{"storageContainerUrl": missing}])
        add_task(client, job_id, "expired", bash("echo r > r.txt"),
                 outputFiles=[output("r.txt", expired, "taskCompletion")])
        tasks = {t: wait_task(client, job_id, t, timeout=90)
                 for t in ("tampered", "gone", "expired")}
    assert failure(tasks["tampered"]) == ("BlobAccessDenied", "usererror", None)
    assert failure(tasks["gone"]) == ("ResourceContainerNotFound", "usererror", None)
    # The process ran and succeeded; the upload is what failed, and the exit code stays.
    assert failure(tasks["expired"]) == ("FileUploadAccessDenied", "usererror", 0)
    assert tasks["expired"].execution_info.result == "failure"
    info = {d.name: d.value for d in tasks["tampered"].execution_info.failure_info.details}
    assert "sig=" not in str(info) and info["Url"].endswith("/in.txt")


def test_common_resource_files_reach_every_node_of_a_multi_instance_task(
        client: BatchClient, shared_pool: str, container: ContainerClient) -> None:
    container.upload_blob("common/app.conf", b"shared-config")
    container.upload_blob("primary.txt", b"primary-only")
    common = [{"storageContainerUrl": sas_url(container, "rl"), "blobPrefix": "common/"}]
    nodes = len(node_ips(client, shared_pool))
    with job(client, shared_pool) as job_id:
        add_mi(client, job_id, "mi", nodes,
               bash('cp "$AZ_BATCH_TASK_DIR/common/app.conf" "$AZ_BATCH_TASK_DIR/seen.txt"'),
               bash("cat primary.txt"), common=common,
               resourceFiles=[{"httpUrl": sas_url(container, "r", blob="primary.txt"),
                               "filePath": "primary.txt"}])
        task = wait_task(client, job_id, "mi", timeout=120)
        seen = per_node(client, shared_pool, job_id, "mi", "seen.txt")
        stdout = b"".join(client.download_task_file(job_id, "mi", "stdout.txt"))
        stderr = b"".join(client.download_task_file(job_id, "mi", "stderr.txt"))
    assert failure(task) == (None, None, 0), (stderr, task.execution_info.failure_info)
    assert set(seen.values()) == {b"shared-config"} and len(seen) == nodes
    assert stdout == b"primary-only"


def test_upload_node_logs_to_a_container(client: BatchClient, shared_pool: str,
                                         container: ContainerClient) -> None:
    node_id = sorted(node_ips(client, shared_pool))[0]
    since = datetime.now(UTC) - timedelta(hours=1)
    result = client.upload_node_logs(shared_pool, node_id, models.UploadBatchServiceLogsOptions(
        container_url=sas_url(container, "rwl"), start_time=since))
    parts = result.virtual_directory_name.split("/")
    assert parts[1:3] == [shared_pool, node_id] and len(parts) == 4
    uploaded = names(container, result.virtual_directory_name + "/")
    assert len(uploaded) == result.number_of_files_uploaded >= 2
    assert {u.rsplit("/", 1)[1] for u in uploaded} >= {"dockerd.log", "engine.log"}

    refused = error_of(lambda: client.upload_node_logs(
        shared_pool, node_id, models.UploadBatchServiceLogsOptions(
            container_url=sas_url(container, "r"), start_time=since)))
    assert refused.status_code == 400 and refused.error.code == "InvalidPropertyValue"
    missing = error_of(lambda: client.upload_node_logs(
        shared_pool, node_id, models.UploadBatchServiceLogsOptions({"containerUrl": "x"})))
    assert missing.status_code == 400 and missing.error.code == "MissingRequiredProperty"


def test_task_dir_holds_the_agents_upload_logs(client: BatchClient, shared_pool: str,
                                               container: ContainerClient) -> None:
    with job(client, shared_pool) as job_id:
        add_task(client, job_id, "t", bash("echo r > r.txt"),
                 outputFiles=[output("r.txt", sas_url(container, "rwl"), "taskCompletion")])
        wait_task(client, job_id, "t", timeout=60)
        files = {f.name for f in client.list_task_files(job_id, "t")}
        log = b"".join(client.download_task_file(job_id, "t", "fileuploadout.txt"))
    assert {"fileuploadout.txt", "fileuploaderr.txt"} <= files
    assert b"r.txt" in log and b"sig=" not in log


def test_storage_outlives_a_crash_and_stops_with_the_engine(
        settings: EngineSettings, engine: control.EngineState,
        container: ContainerClient) -> None:
    container.upload_blob("kept.txt", b"still here")
    azurite = Azurite(settings.data_dir)
    found = azurite.find()
    assert found is not None
    state = control.read_state(settings.data_dir)
    assert state is not None and state.storage
    os.kill(state.pid, signal.SIGKILL)
    wait_for("the engine to die", lambda: control.read_state(settings.data_dir) is None, 10)
    assert azurite.find() == found  # storage keeps serving while the engine is down
    restarted, _ = control.start(settings)
    assert azurite.find() == found and restarted.storage == state.storage  # adopted
    control.stop(settings.data_dir)
    assert azurite.find() is None, "Azurite outlived the engine's stop"
    again, _ = control.start(settings)
    assert again.storage == state.storage  # same port, so URLs handed out stay valid
    assert container.download_blob("kept.txt").readall() == b"still here"


def test_malformed_storage_fields_are_refused_at_create_and_change_nothing(
        client: BatchClient, shared_pool: str) -> None:
    url = "http://127.0.0.1:1/devstoreaccount1/c?sig=x"
    cases = [
        ({"resourceFiles": [{"httpUrl": url, "storageContainerUrl": url}]},
         "InvalidPropertyValue", "resourceFiles[0]"),
        ({"resourceFiles": [{"httpUrl": url}]}, "MissingRequiredProperty",
         "resourceFiles[0].filePath"),
        ({"outputFiles": [{"filePattern": "*", "destination": {"container": {}},
                           "uploadOptions": {"uploadCondition": "taskSuccess"}}]},
         "MissingRequiredProperty", "outputFiles[0].destination.container.containerUrl"),
    ]
    with job(client, shared_pool) as job_id:
        for extra, code, prop in cases:
            refused = error_of(lambda extra=extra: add_task(client, job_id, "t", "/bin/true",
                                                            **extra))
            assert (refused.status_code, refused.error.code) == (400, code)
            assert details(refused)["PropertyName"] == prop
        assert list(client.list_tasks(job_id)) == []


def test_start_task_and_job_preparation_report_their_transfer_failures(
        client: BatchClient, shared_pool: str, container: ContainerClient) -> None:
    container.upload_blob("setup.sh", b"true")
    tampered = sas_url(container, "r", blob="setup.sh").replace("sig=", "sig=AAAA")
    pool_id = uid("sp")
    client.create_pool(pool_options(pool_id, 1, command=None, startTask={
        "commandLine": "/bin/true", "waitForSuccess": True,
        "resourceFiles": [{"httpUrl": tampered, "filePath": "setup.sh"}]}))
    try:
        (node,) = wait_nodes(client, pool_id, 1, states=("starttaskfailed",))
        info = node.start_task_info
        assert (info.failure_info.code, info.result) == ("BlobAccessDenied", "failure")
    finally:
        delete_pool(client, pool_id)
    gone = {"storageContainerUrl": sas_url(container, "rl").replace(
        container.container_name, "no-such-container", 1)}
    with job(client, shared_pool, jobPreparationTask={
            "commandLine": "/bin/true", "resourceFiles": [gone]}) as job_id:
        add_task(client, job_id, "t", "/bin/true")

        def prep_failures() -> list[str]:
            return [s.job_preparation_task_execution_info.failure_info.code for s in
                    client.list_job_preparation_and_release_task_status(job_id)
                    if s.job_preparation_task_execution_info
                    and s.job_preparation_task_execution_info.failure_info]

        codes = wait_for("the job preparation task to fail", prep_failures, 60)
    assert set(codes) == {"ResourceContainerAccessDenied"}  # signed for another container
