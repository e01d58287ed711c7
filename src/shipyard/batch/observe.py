"""Reading from the Batch API what the timeline and the figures are made of.

Only SDK calls, so it works against an Azure account and the local engine alike. The
head of each instance's stdout.txt is read with a ranged GET (the ready line is among the
coordination command's first lines, however much the application prints after it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError

from shipyard.batch import timeline

#: Bytes of an instance's stdout.txt read for its ready line.
HEAD_BYTES = 16384


def instance_places(client: BatchClient, job_id: str, task_id: str
                    ) -> tuple[models.BatchTask, list[models.BatchSubtask]]:
    """The task and its subtasks (empty for a task that is not multi-instance)."""
    task = client.get_task(job_id, task_id)
    if task.multi_instance_settings is None:
        return task, []
    return task, list(client.list_subtasks(job_id, task_id))


def subtask_file_path(sub: models.BatchSubtask, name: str) -> tuple[str, str, str] | None:
    """(pool, node, path of ``name``) of a subtask's file, read with the node file API."""
    info = sub.node_info
    if info is None or not info.pool_id or not info.node_id:
        return None
    root = (info.task_root_directory or "").strip("/")
    return info.pool_id, info.node_id, f"{root}/{name}" if root else name


def head_of(client: BatchClient, job_id: str, task_id: str,
            sub: models.BatchSubtask | None, name: str = "stdout.txt",
            size: int = HEAD_BYTES) -> str:
    """The first ``size`` bytes of an instance's file ('' when it has none yet)."""
    ranged = f"bytes=0-{size - 1}"
    try:
        if sub is None:
            chunks = client.download_task_file(job_id, task_id, name, ocp_range=ranged)
        else:
            place = subtask_file_path(sub, name)
            if place is None:
                return ""
            chunks = client.download_node_file(*place, ocp_range=ranged)
        return b"".join(chunks).decode(errors="replace")
    except HttpResponseError:
        return ""  # not written yet, empty (416), or the node is gone


def release_status(client: BatchClient, job_id: str
                   ) -> list[models.BatchJobPreparationAndReleaseTaskStatus]:
    """The job's preparation/release status per node; none when the job has no such task."""
    try:
        return list(client.list_job_preparation_and_release_task_status(job_id))
    except HttpResponseError:
        return []  # JobPreparationTaskOrReleaseTaskNotSpecified, and the like


def task_timeline(client: BatchClient, job_id: str, task_id: str,
                  now: datetime | None = None) -> timeline.Timeline:
    """The timeline of one task, read now."""
    task, subtasks = instance_places(client, job_id, task_id)
    outputs = {0: head_of(client, job_id, task_id, None)}
    for sub in subtasks:
        outputs[int(sub.id or 0)] = head_of(client, job_id, task_id, sub)
    instances = timeline.instances_from_sdk(task, subtasks, outputs,
                                            release_status(client, job_id))
    created = task.creation_time or datetime.now(UTC)
    return timeline.build(job_id, task_id, created, instances, now or datetime.now(UTC),
                          multi=task.multi_instance_settings is not None)
