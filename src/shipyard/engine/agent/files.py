"""Files on a node, as the node-file and task-file APIs serve them.

A file API path arrives %-encoded as one segment (``startup%2Fstdout.txt``); here it is
already decoded and resolved strictly inside the given root, so ``..`` or a symlink can
never reach anything outside the node's task directory.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from shipyard.engine.model import wire
from shipyard.engine.store import Json
from shipyard.errors import BatchError


def file_not_found() -> BatchError:
    return BatchError(404, "FileNotFound", "The specified file does not exist.")


@dataclass(frozen=True)
class FileInfo:
    """One file or directory below a root, with what the headers and list entries need."""

    name: str
    path: Path
    is_directory: bool
    size: int
    mode: int
    modified: datetime

    @property
    def content_type(self) -> str:
        if self.is_directory:
            return "application/octet-stream"
        guessed = mimetypes.guess_type(self.name)[0]
        return guessed or ("text/plain" if self.name.endswith(".txt") else
                           "application/octet-stream")

    @property
    def file_mode(self) -> str:
        return f"0o{self.mode:o}"


def resolve(root: Path, relative: str) -> FileInfo:
    """The file at ``relative`` below ``root``; 404 when it is absent or outside."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise file_not_found()
    path = root.joinpath(*parts)
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        raise file_not_found() from exc
    if real != root.resolve() and root.resolve() not in real.parents:
        raise file_not_found()
    return _info("/".join(parts), real)


def listing(root: Path, recursive: bool) -> Iterator[FileInfo]:
    """Entries below ``root``: one level, or everything breadth first like the service."""
    if not root.is_dir():
        return
    level: list[tuple[str, Path]] = [("", root)]
    while level:
        deeper: list[tuple[str, Path]] = []
        for prefix, directory in level:
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                name = f"{prefix}{entry.name}"
                info = _info(name, Path(entry.path))
                yield info
                if recursive and info.is_directory and not entry.is_symlink():
                    deeper.append((f"{name}/", Path(entry.path)))
        level = deeper


def list_entry(info: FileInfo, base_url: str) -> Json:
    entry: Json = {"name": info.name, "url": f"{base_url}/{quote(info.name, safe='')}",
                   "isDirectory": info.is_directory}
    if not info.is_directory:
        entry["properties"] = {
            "lastModified": wire.format_datetime(info.modified),
            "contentLength": str(info.size),
            "contentType": info.content_type,
            "fileMode": info.file_mode,
        }
    return entry


def headers(info: FileInfo, url: str) -> dict[str, str]:
    return {
        "Content-Type": info.content_type,
        "Last-Modified": wire.format_rfc1123(info.modified),
        "ocp-batch-file-isdirectory": "True" if info.is_directory else "False",
        "ocp-batch-file-url": quote(url, safe=""),
        "ocp-batch-file-mode": info.file_mode,
    }


def byte_range(spec: str | None, size: int) -> tuple[int, int]:
    """``bytes=a-b`` (also ``a-`` and ``-n``) as a half-open [start, end) within size."""
    if not spec:
        return 0, size
    unit, _, ranges = spec.partition("=")
    first, _, last = ranges.split(",")[0].strip().partition("-")
    try:
        if unit.strip() != "bytes":
            raise ValueError(unit)
        if first == "":
            return max(0, size - int(last)), size
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    except ValueError as exc:
        raise BatchError(400, "InvalidHeaderValue",
                         "The value for one of the HTTP headers is not in the correct format.",
                         [("HeaderName", "ocp-range"), ("HeaderValue", spec)]) from exc
    if start > end or start > size:
        raise BatchError(416, "InvalidRange", "The range specified is invalid for the file.",
                         [("HeaderName", "ocp-range"), ("HeaderValue", spec)])
    return start, end


def read_range(info: FileInfo, start: int, end: int) -> bytes:
    with open(info.path, "rb") as handle:
        handle.seek(start)
        return handle.read(end - start)


def _info(name: str, path: Path) -> FileInfo:
    status = path.stat()
    return FileInfo(name=name, path=path, is_directory=stat.S_ISDIR(status.st_mode),
                    size=status.st_size, mode=status.st_mode,
                    modified=datetime.fromtimestamp(status.st_mtime, UTC))
