"""Blobs of one account: SAS URLs, filtered listings, uploads with progress, clear errors.

SAS tokens are signed locally with the account key (no request), so Azurite checks them
exactly as Azure does. Every call that reaches storage runs inside ``translated``: a
missing container, a key the account refuses and an endpoint that does not answer each
end as one ``StorageError`` saying which link, which container and what to do.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
)
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    LinearRetry,
    generate_blob_sas,
    generate_container_sas,
)

from shipyard.config.data import RemotePath
from shipyard.errors import StorageError
from shipyard.storage.account import JOB_SAS, Account

CONCURRENCY = 4
RETRY_BACKOFF = 1


class Progress(Protocol):
    """What a transfer reports: the whole size first, then bytes and finished files."""

    def begin(self, total_bytes: int, total_files: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def file_done(self) -> None: ...


def keep(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Batch Shipyard's filter: any include matches (or none given), no exclude matches."""
    if include and not any(fnmatch.fnmatch(name, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatch(name, pattern) for pattern in exclude)


class Blobs:
    """The blob service of one ``Account``."""

    def __init__(self, account: Account) -> None:
        self.account = account
        # Someone waits at the command line: two retries about a second apart, not the SDK's
        # exponential 15 s and 24 s, which made a dead endpoint take 42 s to report.
        self.service = BlobServiceClient(
            account.blob_endpoint, credential=account.credential(), connection_timeout=5,
            retry_policy=LinearRetry(backoff=RETRY_BACKOFF, retry_total=2, random_jitter_range=1))

    def container_url(self, container: str, permission: str,
                      lifetime: timedelta = JOB_SAS) -> str:
        """The container's URL with a SAS for ``permission`` (e.g. ``rl``, ``rwdl``)."""
        token = generate_container_sas(
            self.account.name, container, account_key=self.account.key,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=datetime.now(UTC) + lifetime)
        return f"{self.account.blob_endpoint}/{container}?{token}"

    def blob_url(self, container: str, name: str, lifetime: timedelta = JOB_SAS) -> str:
        """A blob's URL with a read SAS."""
        token = generate_blob_sas(
            self.account.name, container, name, account_key=self.account.key,
            permission=BlobSasPermissions(read=True), expiry=datetime.now(UTC) + lifetime)
        return f"{self.account.blob_endpoint}/{container}/{quote(name)}?{token}"

    def ensure_container(self, container: str) -> None:
        with self.translated(container), suppress(ResourceExistsError):
            self.service.create_container(container)

    def require_container(self, container: str) -> None:
        """Fail as a listing would when ``container`` is missing or the key is refused."""
        with self.translated(container):
            self.service.get_container_client(container).get_container_properties()

    def names(self, where: RemotePath) -> list[str]:
        """Blob names under ``where.remote_path`` that its include/exclude keep."""
        client = self.service.get_container_client(where.container)
        with self.translated(where.container):
            listed = [b.name for b in client.list_blobs(name_starts_with=where.prefix or None)]
        return [n for n in listed if keep(n, where.include, where.exclude)]

    def upload(self, container: str, files: Sequence[tuple[Path, str]],
               progress: Progress) -> int:
        """Upload (local file, blob name) pairs, overwriting; the bytes sent."""
        progress.begin(sum(p.stat().st_size for p, _ in files), len(files))
        client = self.service.get_container_client(container)
        sent = 0
        with self.translated(container):
            for path, name in files:
                hook = _Hook(progress)
                with open(path, "rb") as data:
                    client.upload_blob(name, data, overwrite=True, max_concurrency=CONCURRENCY,
                                       progress_hook=hook)
                sent += path.stat().st_size
                progress.file_done()
        return sent

    def sizes(self, where: RemotePath) -> list[tuple[str, int]]:
        """(name, size) of the blobs ``names`` keeps, for listings and downloads."""
        client = self.service.get_container_client(where.container)
        with self.translated(where.container):
            listed = list(client.list_blobs(name_starts_with=where.prefix or None))
        return [(b.name, int(b.size or 0)) for b in listed
                if keep(b.name, where.include, where.exclude)]

    def download(self, container: str, blobs: Sequence[tuple[str, int]], into: Path,
                 progress: Progress) -> int:
        """Download (name, size) blobs below ``into``, names kept as paths; the bytes."""
        progress.begin(sum(size for _, size in blobs), len(blobs))
        root = into.resolve()
        with self.translated(container):
            for name, _ in blobs:
                target = (root / name).resolve()
                if root not in target.parents:
                    raise StorageError("InvalidBlobName", f"blob {name!r} would land outside "
                                       f"{into}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    self.service.get_blob_client(container, name).download_blob(
                        max_concurrency=CONCURRENCY, progress_hook=_Hook(progress)).readinto(out)
                progress.file_done()
        return sum(size for _, size in blobs)

    @contextmanager
    def translated(self, container: str) -> Iterator[None]:
        """Storage errors as one line naming the link, the account and the container."""
        try:
            yield
        except StorageError:
            raise
        except AzureError as exc:
            raise self._error(exc, container) from exc

    def _error(self, exc: AzureError, container: str) -> StorageError:
        where = f"storage account {self.account.name} (link '{self.account.link}')"
        code = getattr(exc, "error_code", None) or type(exc).__name__
        if isinstance(exc, ServiceRequestError):
            return StorageError("EndpointUnreachable", f"cannot reach {where} at "
                                f"{self.account.blob_endpoint}: {exc.message}",
                                hint="check credentials.storage endpoint; for the local engine "
                                     "see 'shipyard local status'")
        if code == "ContainerNotFound":
            return StorageError(code, f"container '{container}' does not exist in {where}",
                                hint="create it, or upload into it with 'shipyard data ingress'")
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return StorageError(code, f"{where} refused the credentials ({code})",
                                hint=f"check credentials.storage.{self.account.link}.account_key")
        reason = exc.message.splitlines()[0] if isinstance(exc, HttpResponseError) \
            and exc.message else str(exc)
        return StorageError(code, f"{where}, container '{container}': {reason}")


class _Hook:
    """Turns the SDK's cumulative progress callbacks into byte increments."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.seen = 0

    def __call__(self, current: int, total: int | None) -> None:
        self.progress.advance(current - self.seen)
        self.seen = current
