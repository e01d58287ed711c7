"""``uploadbatchservicelogs``: a node's service logs into a blob container, as Batch does.

On Azure these are the node agent's own logs, gathered for support. Here the node's
"agent" is the engine plus the node's daemons, so a node's service logs are its daemons'
log files (its dockerd's in its home, its sshd's in ``ssh/``) and the engine log's lines
that name the node. The service uploads the logs that hold a message in the asked range:
a file last written before ``startTime`` holds none and is left out, and the engine's
lines are cut to ``[startTime, endTime]`` by their own stamps (a line without one, such as
a traceback's, goes with the line before it). A daemon's file is kept whole: its first
message is the node's boot, which no ``endTime`` before the node existed could ask for
anyway. Blobs go under
``<account>-<id>/<pool>/<node>/<request id>/``, the ``virtualDirectoryName`` the service
answers with, next to ``numberOfFilesUploaded``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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


#: The daemons' log files, relative to the node's home; a blob is named after the file.
DAEMON_LOGS = ("*.log", "ssh/*.log")
#: How the engine stamps its log lines (``logging``'s asctime, the engine's local time).
_STAMP = "%Y-%m-%d %H:%M:%S,%f"
_STAMP_LENGTH = len("2026-01-22 21:43:18,123")


def upload(logs: NodeLogs, container_url: str, start: datetime, end: datetime | None,
           request_id: str) -> dict[str, object]:
    """Upload the node's logs of ``[start, end]``; the service's result body."""
    directory = virtual_directory(logs, request_id)
    container = ContainerClient.from_container_url(container_url)
    count = 0
    try:
        for name, data in _collect(logs, start, end):
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


def _collect(logs: NodeLogs, start: datetime, end: datetime | None
             ) -> list[tuple[str, bytes]]:
    since = start.timestamp()
    paths = sorted(p for pattern in DAEMON_LOGS for p in logs.home.glob(pattern))
    found = [(p.name, p.read_bytes()) for p in paths
             if p.is_file() and p.stat().st_mtime >= since]
    try:
        with open(logs.engine_log, "rb") as handle:
            mentions = b"".join(engine_lines(handle, logs.node_id, start, end))
    except OSError:
        mentions = b""
    if mentions:
        found.append(("engine.log", mentions))
    return found


def engine_lines(lines: Iterable[bytes], node_id: str, start: datetime,
                 end: datetime | None) -> Iterable[bytes]:
    """The entries of the engine's log that name ``node_id`` and fall in ``[start, end]``.

    An entry is a timestamped line and the unstamped lines after it (a traceback), which
    go or stay with it.
    """
    wanted, kept = node_id.encode(), False
    for line in lines:
        stamp = _stamp(line)
        if stamp is not None:
            kept = stamp >= start and (end is None or stamp <= end) and wanted in line
        if kept:
            yield line


def _stamp(line: bytes) -> datetime | None:
    try:
        text = line[:_STAMP_LENGTH].decode("ascii")
        return datetime.strptime(text, _STAMP).astimezone()
    except (UnicodeDecodeError, ValueError):
        return None
