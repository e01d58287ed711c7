"""``shipyard data files``: list, stream and fetch task files, any instance included.

``--filespec JOB,TASK,FILE`` names a file of a task; ``--instance N`` picks subtask N of a
multi-instance task, read through the node file API on that subtask's node.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from azure.batch import BatchClient

from shipyard.batch import waiting
from shipyard.batch.errors import translated
from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.storage import ingress
from shipyard.errors import ConfigError

STREAM_TIMEOUT = 7 * 24 * 3600.0


@click.group()
def data() -> None:
    """Files of tasks and nodes."""


data.add_command(ingress)


@data.group("files")
def files() -> None:
    """Task files."""


def _split(filespec: str) -> tuple[str, str, str]:
    parts = filespec.split(",", 2)
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"--filespec {filespec!r} must be JOB,TASK,FILE "
                          "(e.g. myjob,task-00000,stdout.txt)")
    return parts[0], parts[1], parts[2]


instance_option = click.option("--instance", type=click.IntRange(0), default=0,
                               help="Subtask instance of a multi-instance task [default: 0, "
                                    "the primary].")


@files.command("list")
@click.option("--jobid", required=True)
@click.option("--taskid", required=True)
@instance_option
@pass_app
def list_files(app: App, jobid: str, taskid: str, instance: int) -> None:
    """List a task's files (recursively)."""
    with reported(), translated(app.endpoint.url):
        entries = _list(app.client, jobid, taskid, instance)
    if app.raw:
        app.emit_raw(entries)
        return
    console.print(render.table(f"files of {jobid}/{taskid}", ("file", "bytes"), entries))


@files.command("stream")
@click.option("--filespec", required=True, help="JOB,TASK,FILE")
@pass_app
def stream(app: App, filespec: str) -> None:
    """Stream a task file as it grows until the task completes."""
    with reported():
        job_id, task_id, name = _split(filespec)
    with reported(), translated(app.endpoint.url):
        out = sys.stdout.buffer

        def write(data: bytes) -> None:
            out.write(data)
            out.flush()

        waiting.tail_task_file(app.client, job_id, task_id, name, write, STREAM_TIMEOUT)


@files.command("get")
@click.option("--filespec", required=True, help="JOB,TASK,FILE")
@instance_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@pass_app
def get(app: App, filespec: str, instance: int, output: Path | None) -> None:
    """Fetch a task file (of any instance) once."""
    with reported():
        job_id, task_id, name = _split(filespec)
    with reported(), translated(app.endpoint.url):
        data_bytes = _read(app.client, job_id, task_id, name, instance)
    if output is None:
        sys.stdout.buffer.write(data_bytes)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data_bytes)
        app.say(f"{len(data_bytes)} bytes written to {output}")


def _subtask_place(client: BatchClient, job_id: str, task_id: str,
                   instance: int) -> tuple[str, str, str]:
    for sub in client.list_subtasks(job_id, task_id):
        if sub.id == instance and sub.node_info is not None:
            info = sub.node_info
            return info.pool_id or "", info.node_id or "", info.task_root_directory or ""
    raise ConfigError(f"task {job_id}/{task_id} has no subtask {instance}",
                      hint="subtasks are 1..N-1 of a multi-instance task that has started")


def _read(client: BatchClient, job_id: str, task_id: str, name: str, instance: int) -> bytes:
    if instance == 0:
        return b"".join(client.download_task_file(job_id, task_id, name))
    pool_id, node_id, root = _subtask_place(client, job_id, task_id, instance)
    return b"".join(client.download_node_file(pool_id, node_id, f"{root}/{name}"))


def _list(client: BatchClient, job_id: str, task_id: str,
          instance: int) -> list[tuple[str, str]]:
    if instance == 0:
        found = client.list_task_files(job_id, task_id, recursive=True)
        return [(f.name or "", _size(f)) for f in found if not f.is_directory]
    pool_id, node_id, root = _subtask_place(client, job_id, task_id, instance)
    found = client.list_node_files(pool_id, node_id, recursive=True)
    prefix = f"{root}/"
    return [((f.name or "")[len(prefix):], _size(f)) for f in found
            if (f.name or "").startswith(prefix) and not f.is_directory]


def _size(entry: object) -> str:
    props = getattr(entry, "properties", None)
    return str(getattr(props, "content_length", "-")) if props else "-"
