"""Storage fixtures and helpers for contract tests: the engine's Azurite through the blob SDK."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import uid

SHIPYARD = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "shipyard")


@pytest.fixture()
def blobs(settings: EngineSettings, engine: control.EngineState) -> BlobServiceClient:
    # Read afresh: tests that restart the engine may leave it with another Azurite.
    state = control.read_state(settings.data_dir) or engine
    assert state.storage, "the engine reports no storage"
    link = state.storage
    return BlobServiceClient(link["blob_endpoint"], credential={
        "account_name": link["account"], "account_key": link["key"]})


@pytest.fixture()
def container(blobs: BlobServiceClient) -> Iterator[ContainerClient]:
    client = blobs.create_container(uid("c"))
    yield client
    client.delete_container()


def sas_url(container: ContainerClient, permission: str = "racwdl",
            expiry: timedelta = timedelta(hours=1), blob: str | None = None) -> str:
    """A SAS URL for the container (or one blob in it) signed with the account key."""
    key = container.credential.account_key
    expires = datetime.now(UTC) + expiry
    if blob is None:
        token = generate_container_sas(container.account_name, container.container_name,
                                       account_key=key, expiry=expires,
                                       permission=ContainerSasPermissions.from_string(permission))
        return f"{container.url}?{token}"
    token = generate_blob_sas(container.account_name, container.container_name, blob,
                              account_key=key, expiry=expires,
                              permission=BlobSasPermissions.from_string(permission))
    return f"{container.get_blob_client(blob).url}?{token}"


def names(container: ContainerClient, prefix: str | None = None) -> list[str]:
    return sorted(b.name for b in container.list_blobs(name_starts_with=prefix))


def shipyard(settings: EngineSettings, config: Path, *args: str, cwd: Path | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_DATA_DIR": str(settings.data_dir), "NO_COLOR": "1",
           "COLUMNS": "200"}
    done = subprocess.run([SHIPYARD, "--configdir", str(config), "-y", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False, cwd=cwd)
    assert done.returncode == 0 or not check, done.stdout + done.stderr
    return done
