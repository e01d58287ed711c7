"""``shipyard data files``: list, stream and retrieve task and node files.

``--filespec JOB,TASK,FILE`` names a file of a task (``TASK`` may be ``@FIRSTRUNNING``:
the job's first running task); ``NODE,FILE`` a file of a node of pool.yaml's pool.
``--all`` makes the last part an include pattern and retrieves every match, into
``JOB/TASK/...`` (or ``NODE/...``) under the current directory; a single file lands in the
current directory under its own name. ``--instance N`` picks subtask N of a
multi-instance task, read through the node file API on that subtask's node.
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipyard.batch import waiting
from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.storage import ingress
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from azure.batch import BatchClient

STREAM_TIMEOUT = 7 * 24 * 3600.0
FIRST_RUNNING = "@FIRSTRUNNING"


@click.group()
def data() -> None:
    """Data actions."""


data.add_command(ingress)


@data.group("files")
def files() -> None:
    """Compute node file actions."""


def split_spec(filespec: str, parts: int, form: str) -> list[str]:
    """``filespec`` cut into ``parts`` non-empty fields (the last may hold commas)."""
    found = filespec.split(",", parts - 1)
    if len(found) != parts or not all(found):
        raise ConfigError(f"--filespec {filespec!r} must be {form}")
    return found


def _task_spec(app: App, filespec: str) -> tuple[str, str, str]:
    job_id, task_id, name = split_spec(filespec, 3, "JOB,TASK,FILE (e.g. myjob,task-00000,"
                                                    "stdout.txt)")
    if task_id == FIRST_RUNNING:
        running = [t.id for t in app.client.list_tasks(job_id)
                   if render.value(t.state) == "running"]
        if not running:
            raise ConfigError(f"job {job_id} has no running task")
        task_id = running[0]
    return job_id, task_id, name


instance_option = click.option("--instance", type=click.IntRange(0), default=0,
                               help="Subtask instance of a multi-instance task [default: 0, "
                                    "the primary].")


@files.command("list")
@click.option("--jobid", help="Only this job [default: every job of jobs.yaml].")
@click.option("--taskid", help="Only this task [default: every task].")
@instance_option
@pass_app
@reported
def list_files(app: App, jobid: str | None, taskid: str | None, instance: int) -> None:
    """List files for tasks in jobs (recursively)."""
    from shipyard.cli.jobs import job_ids

    found: dict[str, list[tuple[str, str]]] = {}
    for job_id in job_ids(app, jobid):
        ids = [taskid] if taskid else [t.id for t in app.client.list_tasks(job_id)]
        for task_id in ids:
            found[f"{job_id}/{task_id}"] = _list(app.client, job_id, task_id, instance)
    if app.raw:
        app.emit_raw(found)
        return
    for where, entries in found.items():
        console.print(render.table(f"files of {where}", ("file", "bytes"), entries))


@files.command("stream")
@click.option("--filespec", required=True, help="JOB,TASK,FILE")
@click.option("--disk", is_flag=True, help="Write the stream to a file named after it.")
@pass_app
@reported
def stream(app: App, filespec: str, disk: bool) -> None:
    """Stream a file as text to the local console or to disk until the task completes."""
    job_id, task_id, name = _task_spec(app, filespec)
    target = open(Path(name).name, "wb") if disk else sys.stdout.buffer  # noqa: SIM115
    try:
        def write(data_bytes: bytes) -> None:
            target.write(data_bytes)
            target.flush()

        waiting.tail_task_file(app.client, job_id, task_id, name, write, STREAM_TIMEOUT)
    finally:
        if disk:
            target.close()
            app.say(f"streamed to {Path(name).name}")


@files.command("task")
@click.option("--filespec", required=True, help="JOB,TASK,FILE (with --all: JOB,TASK,PATTERN)")
@click.option("--all", "every", is_flag=True, help="Every file of the task matching PATTERN.")
@instance_option
@pass_app
@reported
def task_files(app: App, filespec: str, every: bool, instance: int) -> None:
    """Retrieve file(s) from a job/task."""
    job_id, task_id, name = _task_spec(app, filespec)
    if not every:
        _save(app, Path(Path(name).name), _read(app.client, job_id, task_id, name, instance))
        return
    names = [entry for entry, _ in _list(app.client, job_id, task_id, instance)
             if fnmatch.fnmatch(entry, name)]
    for entry in names:
        _save(app, Path(job_id, task_id, entry),
              _read(app.client, job_id, task_id, entry, instance))
    app.say(f"{len(names)} file(s) of {job_id}/{task_id} matching {name!r}")


@files.command("node")
@click.option("--filespec", required=True, help="NODE,FILE (with --all: NODE,PATTERN)")
@click.option("--all", "every", is_flag=True, help="Every file of the node matching PATTERN.")
@click.option("--poolid", help="Pool [default: pool.yaml's].")
@pass_app
@reported
def node_files(app: App, filespec: str, every: bool, poolid: str | None) -> None:
    """Retrieve file(s) from a compute node."""
    node_id, name = split_spec(filespec, 2, "NODE,FILE (e.g. tvmps_0001,startup/stdout.txt)")
    pool_id = poolid or app.config.pool.id
    client = app.client
    if not every:
        data_bytes = b"".join(client.download_node_file(pool_id, node_id, name))
        _save(app, Path(Path(name).name), data_bytes)
        return
    names = [f.name or "" for f in client.list_node_files(pool_id, node_id, recursive=True)
             if not f.is_directory and fnmatch.fnmatch(f.name or "", name)]
    for entry in names:
        _save(app, Path(node_id, entry),
              b"".join(client.download_node_file(pool_id, node_id, entry)))
    app.say(f"{len(names)} file(s) of node {node_id} matching {name!r}")


@files.command("get")
@click.option("--filespec", required=True, help="JOB,TASK,FILE")
@instance_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@pass_app
@reported
def get(app: App, filespec: str, instance: int, output: Path | None) -> None:
    """Print a task file (of any instance) once, or write it to --output."""
    job_id, task_id, name = _task_spec(app, filespec)
    data_bytes = _read(app.client, job_id, task_id, name, instance)
    if output is None:
        sys.stdout.buffer.write(data_bytes)
        sys.stdout.buffer.flush()
    else:
        _save(app, output, data_bytes)


def _save(app: App, path: Path, data_bytes: bytes) -> None:
    if path.exists():
        app.confirm(f"Overwrite {path}?")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data_bytes)
    app.say(f"{len(data_bytes)} bytes written to {path}")


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
