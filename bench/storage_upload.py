"""A 100 MB output file through Batch output files to Azurite, against ``cp`` of the same file.

One run, side by side on the same machine: a task on a one-node pool of a fresh engine
writes 100 MB of random bytes and exits; its ``outputFiles`` entry uploads the file to a
container of the engine's Azurite. Measured:

- ``engine_upload_s``: the upload as the engine timed it (``fileuploadout.txt``);
- ``round_trip_s``: the whole round trip seen by a client: from the task's process exit
  (its ``stdout`` says when) to the task's completion, plus downloading the blob back
  through the blob SDK, i.e. until the user holds the result again;
- ``cp_s``: ``cp`` of the same file on the host (into the page cache, like the upload's
  reads), the floor for moving those bytes on this machine.

Run as root: ``.venv/bin/python -m bench.storage_upload [--mb 100]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings


def _client(state: control.EngineState) -> BatchClient:
    return BatchClient(state.url, AzureNamedKeyCredential(state.account, state.key))


def _wait(what: str, check, timeout: float = 300.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


def _container_url(blobs: BlobServiceClient, name: str, key: str) -> str:
    token = generate_container_sas(blobs.account_name, name, account_key=key,
                                   permission=ContainerSasPermissions(write=True, read=True),
                                   expiry=datetime(2099, 1, 1, tzinfo=UTC))
    return f"{blobs.url.rstrip('/')}/{name}?{token}"


def _run_task(client: BatchClient, url: str, mb: int) -> tuple[models.BatchTask, float]:
    """The upload task; returns it completed, and the monotonic time it was seen complete."""
    script = (f"head -c {mb}M /dev/urandom > big.bin && date +%s.%N")
    client.create_job(models.BatchJobCreateOptions({"id": "bench", "poolInfo": {
        "poolId": "bench"}}))
    client.create_task("bench", models.BatchTaskCreateOptions({
        "id": "up", "commandLine": f"/bin/bash -c '{script}'",
        "outputFiles": [{"filePattern": "big.bin", "destination": {"container": {
            "containerUrl": url, "path": "big.bin"}},
            "uploadOptions": {"uploadCondition": "taskSuccess"}}]}))

    def completed() -> models.BatchTask | None:
        task = client.get_task("bench", "up")
        return task if task.state == "completed" else None

    task = _wait("the upload task", completed)
    return task, time.time()


def measure(mb: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="shyb-", dir="/var/tmp"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = EngineSettings(data_dir=data_dir, port=port)
    state, _ = control.start(settings)
    try:
        return _measure(state, mb)
    finally:
        client = _client(state)
        client.begin_delete_pool("bench", polling_interval=0.5)
        _wait("pool deleted", lambda: not list(client.list_pools()))
        control.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _measure(state: control.EngineState, mb: int) -> dict[str, float]:
    client = _client(state)
    client.create_pool(models.BatchPoolCreateOptions({
        "id": "bench", "vmSize": "standard_d2_v3", "targetDedicatedNodes": 1}))
    _wait("an idle node", lambda: [n for n in client.list_nodes("bench") if n.state == "idle"])
    storage = state.storage or {}
    blobs = BlobServiceClient(storage["blob_endpoint"], credential={
        "account_name": storage["account"], "account_key": storage["key"]})
    blobs.create_container("bench")
    url = _container_url(blobs, "bench", storage["key"])
    task, seen = _run_task(client, url, mb)
    exited = float(b"".join(client.download_task_file("bench", "up", "stdout.txt")).split()[-1])
    log = b"".join(client.download_task_file("bench", "up", "fileuploadout.txt")).decode()
    engine_upload = float(re.findall(r"in ([\d.]+) s", log)[-1])
    local = Path(state.data_dir) / "bench-copy.bin"
    started = time.monotonic()
    with open(local, "wb") as out:
        blobs.get_blob_client("bench", "big.bin").download_blob(max_concurrency=4).readinto(out)
    download = time.monotonic() - started
    cp = _cp(local)
    assert task.execution_info is not None and task.execution_info.result == "success", task
    round_trip = (seen - exited) + download
    return {"mb": mb, "engine_upload_s": engine_upload, "exit_to_complete_s": seen - exited,
            "download_s": download, "round_trip_s": round_trip, "cp_s": cp,
            "upload_vs_cp": engine_upload / cp, "round_trip_vs_cp": round_trip / cp}


def _cp(source: Path) -> float:
    target = source.with_suffix(".cp")
    started = time.monotonic()
    subprocess.run(["cp", str(source), str(target)], check=True)
    elapsed = time.monotonic() - started
    target.unlink()
    source.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    print(json.dumps(measure(parser.parse_args().mb), indent=2))


if __name__ == "__main__":
    main()
