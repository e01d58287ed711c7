"""``uploadbatchservicelogs``: a node's service logs into a blob container, as Batch does.

On Azure these are the node agent's own logs, gathered for support. Here the node's
"agent" is the engine plus the node's daemons, so a node's service logs are the log files
in its home (its dockerd's and its launch agent's) and the engine log's lines that name the
node. Files last written before ``startTime`` hold nothing from the asked range and are
left out, as the service leaves out logs outside it. Blobs go under
``<account>-<id>/<pool>/<node>/<request id>/``, the ``virtualDirectoryName`` the service
answers with, next to ``numberOfFilesUploaded``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

from shipyard.engine.storage.transfers import redacted
from shipyard.errors import BatchError


@dataclass(frozen=True)
class NodeLogs:
    """Where one node's logs are and whose they are."""

    account: str
    pool_id: str
    node_id: str
    home: Path
    engine_log: Path


def virtual_directory(logs: NodeLogs, request_id: str) -> str:
    # The service's first segment is the account plus a stable id of it.
    tag = hashlib.sha256(logs.account.encode()).hexdigest()[:16].upper()
    return f"{logs.account}-{tag}/{logs.pool_id}/{logs.node_id}/{request_id}"


def upload(logs: NodeLogs, container_url: str, start: datetime, request_id: str
           ) -> dict[str, object]:
    """Upload the node's logs written since ``start``; the service's result body."""
    directory = virtual_directory(logs, request_id)
    container = ContainerClient.from_container_url(container_url)
    count = 0
    try:
        for name, data in _collect(logs, start.timestamp()):
            container.upload_blob(f"{directory}/{name}", data, overwrite=True)
            count += 1
    except AzureError as exc:
        status = getattr(exc, "status_code", None)
        raise BatchError(400, "InvalidPropertyValue", "The value provided for one of the "
                         "properties in the request body is invalid.",
                         [("PropertyName", "containerUrl"),
                          ("PropertyValue", redacted(container_url)),
                          ("Reason", f"the container refused the upload (HTTP {status})")]
                         ) from exc
    return {"virtualDirectoryName": directory, "numberOfFilesUploaded": count}


def _collect(logs: NodeLogs, since: float) -> list[tuple[str, bytes]]:
    found = [(p.name, p.read_bytes()) for p in sorted(logs.home.glob("*.log"))
             if p.is_file() and p.stat().st_mtime >= since]
    mentions = _engine_lines(logs)
    if mentions:
        found.append(("engine.log", mentions))
    return found


def _engine_lines(logs: NodeLogs) -> bytes:
    try:
        with open(logs.engine_log, "rb") as handle:
            return b"".join(line for line in handle if logs.node_id.encode() in line)
    except OSError:
        return b""
