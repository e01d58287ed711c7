"""File listings and the live tail of a task's (any instance's) or a node's file.

A tail is a series of ranged reads: the page asks with the offset it has, gets the bytes
written since (at most ``CHUNK``) and the next offset. The first read of a large file starts
``FIRST`` bytes before its end, as ``tail`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from azure.batch import BatchClient, models

from shipyard.batch import observe
from shipyard.errors import ConfigError

FIRST = 64 * 1024
CHUNK = 256 * 1024
#: A node can hold many task directories; the page lists this many files at most.
NODE_FILES = 2000

Json = dict[str, Any]


def _entries(found: Iterable[models.BatchNodeFile], prefix: str = "") -> list[Json]:
    out = []
    for entry in found:
        name = entry.name or ""
        if entry.is_directory or not name.startswith(prefix):
            continue
        props = entry.properties
        out.append({"name": name[len(prefix):],
                    "size": props.content_length if props else None,
                    "modified": props.last_modified.isoformat()
                    if props and props.last_modified else None})
    return out


def _subtask(client: BatchClient, job_id: str, task_id: str,
             instance: int) -> models.BatchSubtask:
    for sub in client.list_subtasks(job_id, task_id):
        if sub.id == instance:
            return sub
    raise ConfigError(f"task {job_id}/{task_id} has no instance {instance}",
                         hint="instances are 0 (the primary) to N-1 of a started task")


def task_files(client: BatchClient, job_id: str, task_id: str, instance: int) -> list[Json]:
    """The files of one instance of a task (instance 0 through the task file API)."""
    if instance == 0:
        return _entries(client.list_task_files(job_id, task_id, recursive=True))
    place = observe.subtask_file_path(_subtask(client, job_id, task_id, instance), "")
    if place is None:
        return []
    pool_id, node_id, root = place
    found = client.list_node_files(pool_id, node_id, recursive=True)
    return _entries(found, root if root.endswith("/") else f"{root}/")


def node_files(client: BatchClient, pool_id: str, node_id: str) -> list[Json]:
    found = client.list_node_files(pool_id, node_id, recursive=True)
    return _entries(entry for _, entry in zip(range(NODE_FILES), found, strict=False))


def tail_chunk(size: int, offset: int | None, read: Callable[[int, int], bytes]) -> Json:
    """Bytes ``offset``.. of a file of ``size`` bytes (``None``: the last ``FIRST``)."""
    start = max(0, size - FIRST) if offset is None else offset
    if start > size:  # the file was replaced by a shorter one: start over
        start = 0
    end = min(size, start + CHUNK)
    data = read(start, end - 1) if end > start else b""
    return {"offset": start + len(data), "size": size, "skipped": start if offset is None else 0,
            "text": data.decode(errors="replace")}


def tail_task_file(client: BatchClient, job_id: str, task_id: str, name: str,
                   instance: int, offset: int | None) -> Json:
    if instance == 0:
        size = client.get_task_file_properties(job_id, task_id, name).content_length

        def read(first: int, last: int) -> bytes:
            return b"".join(client.download_task_file(job_id, task_id, name,
                                                      ocp_range=f"bytes={first}-{last}"))
        return tail_chunk(size, offset, read)
    place = observe.subtask_file_path(_subtask(client, job_id, task_id, instance), name)
    if place is None:
        raise ConfigError(f"instance {instance} of {job_id}/{task_id} has not started")
    return tail_node_file(client, *place, offset=offset)


def tail_node_file(client: BatchClient, pool_id: str, node_id: str, path: str,
                   offset: int | None) -> Json:
    size = client.get_node_file_properties(pool_id, node_id, path).content_length

    def read(first: int, last: int) -> bytes:
        return b"".join(client.download_node_file(pool_id, node_id, path,
                                                  ocp_range=f"bytes={first}-{last}"))
    return tail_chunk(size, offset, read)
