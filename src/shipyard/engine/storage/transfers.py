"""Resource files in and output files out, as the Batch node agent moves them.

Downloads: ``httpUrl`` (a blob URL goes through the blob SDK, any other URL is a plain
GET), ``storageContainerUrl`` with an optional ``blobPrefix`` (every blob under it, with
its virtual directories kept below ``filePath``), and ``autoStorageContainerName`` (the
same through the account's linked storage, here the engine's Azurite). Uploads: each
``outputFiles`` entry whose ``uploadCondition`` holds, its ``filePattern`` globbed (``*``,
``?``, ``[..]`` within a directory, ``**`` across them) relative to the working directory,
``$VAR`` expanded from the task's environment, named by ``path`` as the service names
them. Storage's answers are checked by Azurite exactly as Azure checks them (SAS
signature, expiry, permissions), and come back as ``StorageError`` carrying the
``failureInfo`` code and message the service uses for that case.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContainerClient

from shipyard.engine.storage.link import StorageLink
from shipyard.errors import StorageError

DOWNLOAD_TIMEOUT = 60.0
#: Parallel block transfers per file: a 100 MB output moves in 4 MB blocks.
CONCURRENCY = 4
WILDCARD = re.compile(r"[*?\[]")

Json = dict[str, Any]
#: Maps a path on the node (``/mnt/batch/...``) to the host side of its bind mount.
HostPath = Callable[[PurePosixPath], Path]

_DOWNLOAD_MESSAGES = {
    "BlobAccessDenied": "Access for one of the specified Azure Blob(s) is denied",
    "BlobNotFound": "One of the specified Azure Blob(s) is not found",
    "BlobDownloadMiscError": "Miscellaneous error encountered while downloading one of the "
                             "specified Azure Blob(s)",
    "ResourceContainerAccessDenied": "Access to one of the specified Azure Storage "
                                     "container(s) is denied",
    "ResourceContainerNotFound": "One of the specified Azure Storage container(s) is not found",
    "ResourceContainerListMiscError": "Miscellaneous error encountered while listing one of "
                                      "the specified Azure Storage container(s)",
}
_UPLOAD_MESSAGES = {
    "FileUploadAccessDenied": "Access to one of the specified Azure container(s) was denied "
                              "while attempting to upload an output file",
    "FileUploadContainerNotFound": "One of the specified Azure container(s) was not found "
                                   "while attempting to upload an output file",
    "FileUploadMiscError": "Miscellaneous error encountered while uploading one of the "
                           "output files",
}


def redacted(url: str) -> str:
    """A URL without its query: a SAS is a secret and never goes into a log or a reply."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# -- downloads ---------------------------------------------------------------------------
def download_resource_files(files: list[Json] | None, into: Path,
                            auto: StorageLink | None) -> None:
    """Fetch every resource file into the host directory ``into``, applying fileMode."""
    for item in files or []:
        for target in _download_one(item, into, auto):
            if item.get("fileMode"):
                os.chmod(target, int(str(item["fileMode"]), 8))


def _download_one(item: Json, into: Path, auto: StorageLink | None) -> list[Path]:
    relative = item.get("filePath") or ""
    if item.get("httpUrl"):
        url = str(item["httpUrl"])
        # A SAS signature may hold unescaped slashes: name the file from the path alone.
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        target = inside(into, relative or name)
        _fetch_url(url, target)
        return [target]
    container = _container_of(item, auto)
    prefix = item.get("blobPrefix") or None
    base = inside(into, relative) if relative else into
    try:
        names = [b.name for b in container.list_blobs(name_starts_with=prefix)]
    except AzureError as exc:
        raise _download_error(exc, container.url, container=True) from exc
    targets = []
    for name in names:
        target = inside(base, name)
        _fetch_blob(container.get_blob_client(name), target)
        targets.append(target)
    return targets


def _container_of(item: Json, auto: StorageLink | None) -> ContainerClient:
    if item.get("storageContainerUrl"):
        return ContainerClient.from_container_url(str(item["storageContainerUrl"]))
    name = item.get("autoStorageContainerName")
    if not name:
        raise StorageError("BlobDownloadMiscError", "a resource file needs one of httpUrl, "
                           "storageContainerUrl or autoStorageContainerName")
    if auto is None:
        raise StorageError("ResourceContainerAccessDenied", "the account has no linked "
                           "auto-storage account for autoStorageContainerName")
    return ContainerClient(auto.blob_endpoint, str(name), credential=auto.credential())


def _fetch_url(url: str, target: Path) -> None:
    if is_blob_url(url):
        _fetch_blob(BlobClient.from_blob_url(url), target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as reply, \
                open(target, "wb") as out:
            while chunk := reply.read(1 << 20):
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        target.unlink(missing_ok=True)
        code = {403: "BlobAccessDenied", 404: "BlobNotFound"}.get(exc.code,
                                                                  "BlobDownloadMiscError")
        raise _failure(code, _DOWNLOAD_MESSAGES, url, f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise _failure("BlobDownloadMiscError", _DOWNLOAD_MESSAGES, url, str(exc)) from exc


def _fetch_blob(blob: BlobClient, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as out:
            blob.download_blob(max_concurrency=CONCURRENCY).readinto(out)
    except AzureError as exc:
        target.unlink(missing_ok=True)
        raise _download_error(exc, blob.url, container=False) from exc


def is_blob_url(url: str) -> bool:
    """Whether a URL names a blob (Azure's blob hosts, or any URL signed with a SAS)."""
    parts = urlsplit(url)
    return ".blob." in (parts.hostname or "") or "sig=" in parts.query


def _download_error(exc: AzureError, url: str, container: bool) -> StorageError:
    status = getattr(exc, "status_code", None)
    kind = "ResourceContainer" if container else "Blob"
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        code = f"{kind}NotFound"
    elif status == 403 or status == 401:
        code = f"{kind}AccessDenied"
    else:
        code = "ResourceContainerListMiscError" if container else "BlobDownloadMiscError"
    return _failure(code, _DOWNLOAD_MESSAGES, url, _reason(exc))


# -- uploads -----------------------------------------------------------------------------
def should_upload(item: Json, exit_code: int) -> bool:
    """Whether an output file's ``uploadCondition`` holds for this exit code."""
    condition = str((item.get("uploadOptions") or {}).get("uploadCondition")
                    or "taskCompletion").lower()
    if condition == "tasksuccess":
        return exit_code == 0
    if condition == "taskfailure":
        return exit_code != 0
    return True


def upload_output_files(files: list[Json], exit_code: int, wd: PurePosixPath,
                        env: dict[str, str], host_path: HostPath,
                        log: Callable[[str], None]) -> int:
    """Upload what the task's ``outputFiles`` select; the number of files uploaded."""
    count = 0
    for item in files:
        if not should_upload(item, exit_code):
            continue
        destination = (item.get("destination") or {}).get("container") or {}
        container = ContainerClient.from_container_url(str(destination.get("containerUrl")))
        for source, name in matches(str(item.get("filePattern") or ""), wd, env, host_path,
                                    destination.get("path")):
            log(f"uploading {source} to {redacted(container.url)}/{name}")
            _put_blob(container, name, source)
            count += 1
    return count


def matches(pattern: str, wd: PurePosixPath, env: dict[str, str], host_path: HostPath,
            path: str | None) -> Iterator[tuple[Path, str]]:
    """(host file, blob name) for every file a ``filePattern`` selects on the node."""
    node_pattern = PurePosixPath(os.path.normpath(wd / _expand(pattern, env)))
    parts = node_pattern.parts
    fixed = next((i for i, p in enumerate(parts) if WILDCARD.search(p)), len(parts))
    if fixed == len(parts):  # a single file: ``path`` is its whole blob name
        source = host_path(node_pattern)
        if source.is_file():
            yield source, path or node_pattern.name
        return
    base = host_path(PurePosixPath(*parts[:fixed]))
    rest = "/".join(parts[fixed:])
    if rest.endswith("**"):
        rest += "/*"
    prefix = f"{path.rstrip('/')}/" if path else ""
    for source in sorted(base.glob(rest)):
        if source.is_file():
            yield source, prefix + source.relative_to(base).as_posix()


def _put_blob(container: ContainerClient, name: str, source: Path) -> None:
    try:
        with open(source, "rb") as data:
            container.upload_blob(name, data, overwrite=True, max_concurrency=CONCURRENCY)
    except AzureError as exc:
        status = getattr(exc, "status_code", None)
        code = {404: "FileUploadContainerNotFound", 403: "FileUploadAccessDenied",
                401: "FileUploadAccessDenied"}.get(status or 0, "FileUploadMiscError")
        raise _failure(code, _UPLOAD_MESSAGES, container.url, _reason(exc),
                       ("FilePath", str(source))) from exc
    except OSError as exc:
        raise _failure("FileUploadMiscError", _UPLOAD_MESSAGES, container.url, str(exc),
                       ("FilePath", str(source))) from exc


def _expand(pattern: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from the task environment, as the service expands them."""
    return re.sub(r"\$(\w+)|\$\{(\w+)\}",
                  lambda m: env.get(m.group(1) or m.group(2), m.group(0)), pattern)


# -- shared ------------------------------------------------------------------------------
def inside(root: Path, relative: str) -> Path:
    """``root/relative``, refusing a path that climbs out of ``root``."""
    target = (root / relative).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise StorageError("ResourceFileCreateFailed",
                           f"resource file path {relative!r} leaves the task directory")
    return target


def _failure(code: str, messages: dict[str, str], url: str, reason: str,
             *extra: tuple[str, str]) -> StorageError:
    details = [("Url", redacted(url)), ("Reason", reason), *extra]
    return StorageError(code, messages[code], details=details)


def _reason(exc: AzureError) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "error_code", None) or ""
        return f"HTTP {exc.status_code} {code}".strip()
    return type(exc).__name__
