"""Create-time checks of a task's storage fields, refused as the service refuses them.

The service rejects a resource file that names no source or more than one, an ``httpUrl``
without ``filePath``, a ``blobPrefix`` on an ``httpUrl``, and an output file missing its
pattern, container URL or upload condition, before anything is stored. Transfer failures
(a SAS refused, a container missing) are not create errors: they fail the task later.
"""

from __future__ import annotations

from typing import Any

from shipyard.engine.model import requests

SOURCES = ("autoStorageContainerName", "storageContainerUrl", "httpUrl")
CONDITIONS = {"tasksuccess", "taskfailure", "taskcompletion"}


def check_task_files(body: dict[str, Any]) -> None:
    """Raise the service's 400 for the first malformed resource or output file."""
    multi = body.get("multiInstanceSettings") or {}
    for field, files in (("resourceFiles", body.get("resourceFiles")),
                         ("multiInstanceSettings.commonResourceFiles",
                          multi.get("commonResourceFiles"))):
        for index, item in enumerate(files or []):
            check_resource_file(item, f"{field}[{index}]")
    for index, item in enumerate(body.get("outputFiles") or []):
        _check_output_file(item, f"outputFiles[{index}]")


def check_resource_file(item: dict[str, Any], where: str) -> None:
    chosen = [name for name in SOURCES if item.get(name)]
    if len(chosen) != 1:
        raise requests.bad_value(where, ", ".join(chosen) or "none", "exactly one of "
                                 f"{', '.join(SOURCES)} must be specified")
    if chosen == ["httpUrl"] and not item.get("filePath"):
        raise requests.missing(f"{where}.filePath")
    if chosen == ["httpUrl"] and item.get("blobPrefix"):
        raise requests.bad_value(f"{where}.blobPrefix", item["blobPrefix"],
                                 "blobPrefix applies to container sources only")


def _check_output_file(item: dict[str, Any], where: str) -> None:
    if not item.get("filePattern"):
        raise requests.missing(f"{where}.filePattern")
    container = (item.get("destination") or {}).get("container") or {}
    if not container.get("containerUrl"):
        raise requests.missing(f"{where}.destination.container.containerUrl")
    condition = (item.get("uploadOptions") or {}).get("uploadCondition")
    if not condition:
        raise requests.missing(f"{where}.uploadOptions.uploadCondition")
    if str(condition).lower() not in CONDITIONS:
        raise requests.bad_value(f"{where}.uploadOptions.uploadCondition", condition,
                                 "must be taskSuccess, taskFailure or taskCompletion")
