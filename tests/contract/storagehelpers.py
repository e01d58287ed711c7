"""Storage fixtures and helpers for contract tests: the engine's Azurite through the blob SDK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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
from tests.contract.jobhelpers import uid


@pytest.fixture(scope="session")
def blobs(engine: control.EngineState) -> BlobServiceClient:
    assert engine.storage, "the engine reports no storage"
    link = engine.storage
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
