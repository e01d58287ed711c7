"""Data movement as Batch create-options: pure, given what storage answered.

Batch Shipyard moves ``input_data``/``output_data`` with blobxfer in the job preparation
task and the task's prologue/epilogue, or, on native pools, with Batch output files. Here
both directions always use the service's own features, so the same options work on Azure
and on the local engine and no node needs storage credentials:

- task ``input_data`` -> ``resourceFiles`` below the working directory (the primary only,
  for a multi-instance task, as Batch Shipyard does): one ``storageContainerUrl`` +
  ``blobPrefix`` per entry (what the container holds when the node downloads it), or one
  signed blob URL per listed blob when ``include``/``exclude`` filter the names in a way
  no prefix can say (:func:`blob_prefix`);
- job ``input_data`` -> the job preparation task's ``resourceFiles``, staged in its working
  directory and copied to ``local_path`` once per node before the user's preparation;
- pool ``input_data`` -> the same in the pool's start task, on every node as it starts
  (Batch Shipyard downloads it in its node preparation);
- ``output_data`` -> ``outputFiles``: ``<local_path>/<include>`` (default
  ``$AZ_BATCH_TASK_DIR/**/*``) into the container with ``condition`` as upload condition;
- ``task_factory.file`` -> one task per blob, the blob a resource file at ``task_filepath``.

Blob names are kept whole below the local path (``dir/a.txt`` of ``container/dir`` lands
in ``<local_path>/dir/a.txt``), as blobxfer and the service both keep them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from azure.batch import models

from shipyard.config import JobSpec, ResourceFile, TaskSpec
from shipyard.config.data import RemotePath, StorageInput, StorageOutput
from shipyard.errors import ConfigError
from shipyard.factory.shell import bash_c, quote, sequence, var

STAGING = ".shipyard-input"
TASK_WD = "$AZ_BATCH_TASK_WORKING_DIR"
CONDITIONS: dict[str, Literal["taskcompletion", "taskfailure", "tasksuccess"]] = {
    "taskcompletion": "taskcompletion", "taskfailure": "taskfailure",
    "tasksuccess": "tasksuccess"}


@dataclass(frozen=True)
class Listing:
    """What storage holds for one ``RemotePath``: a container SAS URL and the kept names."""

    container_url: str
    names: tuple[str, ...]
    #: A read SAS URL per kept blob name (for per-blob resource files).
    blob_url: Callable[[str], str]


Lookup = Callable[[RemotePath], Listing]


def blob_prefix(entry: RemotePath) -> str | None:
    """The one blob prefix that keeps exactly the names the entry keeps, else ``None``.

    Unfiltered, it is the entry's directory; one ``include`` ``<literal>*`` (fnmatch's
    ``*`` spans ``/``) narrows it, or is already implied by it. Any other filter needs
    the names listed.
    """
    if entry.exclude or len(entry.include) > 1:
        return None
    if not entry.include:
        return entry.prefix
    literal = entry.include[0][:-1]
    if not entry.include[0].endswith("*") or any(c in literal for c in "*?["):
        return None
    if literal.startswith(entry.prefix):
        return literal
    return entry.prefix if entry.prefix.startswith(literal) else None


def input_files(entry: StorageInput, listing: Listing, into: str) -> list[models.ResourceFile]:
    """Resource files bringing one input entry into ``into`` (relative to the wd)."""
    into = into.strip("/")
    prefix = blob_prefix(entry)
    if prefix is not None:
        return [models.ResourceFile(storage_container_url=listing.container_url,
                                    blob_prefix=prefix or None, file_path=into or None)]
    return [models.ResourceFile(http_url=listing.blob_url(name),
                                file_path=posixpath.join(into, name) if into else name)
            for name in listing.names]


def task_input_dir(entry: StorageInput, where: str) -> str:
    """A task input's ``local_path`` relative to the working directory (the default)."""
    path = (entry.local_path or "").strip()
    for prefix in (TASK_WD, "${AZ_BATCH_TASK_WORKING_DIR}"):
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix):].lstrip("/")
    if path.startswith(("/", "$")) or ".." in path.split("/"):
        raise ConfigError(f"jobs.yaml: {where}.local_path: must be inside {TASK_WD} for a "
                          f"task (got {path!r})", hint="or move the input to the job level")
    return path.strip("/")


def job_preparation(job: JobSpec, lookup: Lookup,
                    current: models.BatchJobPreparationTask | None
                    ) -> models.BatchJobPreparationTask | None:
    """The preparation task with the job's ``input_data`` staged and copied to local paths."""
    entries = job.input_data.azure_storage if job.input_data else ()
    if not entries:
        return current
    files: list[models.ResourceFile] = []
    copies = []
    for index, entry in enumerate(entries):
        if not entry.local_path:
            raise ConfigError(f"jobs.yaml: job '{job.id}' input_data.azure_storage[{index}]"
                              ".local_path: required for job-level input_data")
        staged = f"{STAGING}/{index}"
        files += input_files(entry, lookup(entry), staged)
        copies.append(copy_staged(staged, entry.local_path))
    user = job.job_preparation.command.strip() if job.job_preparation else ""
    script = sequence("set -e", *copies, f"( {user}\n)" if user else "")
    return models.BatchJobPreparationTask(
        command_line=bash_c(script), resource_files=files, wait_for_success=True,
        user_identity=current.user_identity if current else None)


def copy_staged(staged: str, local_path: str) -> str:
    """The line copying a staged input (relative to the working directory) to its path."""
    target = path_word(local_path)
    return f"mkdir -p -- {target} && cp -a -- {quote(staged)}/. {target}/"


def pool_input_steps(entries: Sequence[StorageInput]) -> list[str]:
    """Start-task lines placing each staged pool ``input_data`` entry at its ``local_path``.

    The start task's resource files (:func:`pool_input_files`) stage entry ``i`` in
    ``.shipyard-input/i`` of its working directory; the copies run on every node, after
    each (re)start, before ``additional_node_prep`` ``post`` commands, as Batch Shipyard's
    blobxfer step does.
    """
    return [copy_staged(f"{STAGING}/{index}", entry.local_path or "")
            for index, entry in enumerate(entries)]


def pool_input_files(entries: Sequence[StorageInput], lookup: Lookup
                     ) -> list[models.ResourceFile]:
    """The start task's resource files staging every pool ``input_data`` entry."""
    files: list[models.ResourceFile] = []
    for index, entry in enumerate(entries):
        files += input_files(entry, lookup(entry), f"{STAGING}/{index}")
    return files


def output_files(entries: Sequence[StorageOutput], container_url: Callable[[StorageOutput], str]
                 ) -> list[models.OutputFile]:
    """``outputFiles`` for a task's ``output_data`` entries."""
    out = []
    for entry in entries:
        local = (entry.local_path or "$AZ_BATCH_TASK_DIR").rstrip("/")
        for include in entry.include or ("**/*",):
            pattern = f"{local}/{include}"
            out.append(models.OutputFile(
                file_pattern=pattern,
                destination=models.OutputFileDestination(
                    container=models.OutputFileBlobContainerDestination(
                        container_url=container_url(entry),
                        path=_blob_path(entry, pattern))),
                upload_options=models.OutputFileUploadConfiguration(
                    upload_condition=CONDITIONS[entry.condition])))
    return out


def _blob_path(entry: StorageOutput, pattern: str) -> str | None:
    directory = entry.prefix.rstrip("/")
    if re.search(r"[*?\[]", pattern):
        return directory or None
    # One file: the whole blob name, its task-dir part kept as Batch Shipyard keeps it.
    name = pattern.replace("$AZ_BATCH_TASK_DIR/", "").replace(f"{TASK_WD}/", "wd/")
    return posixpath.join(directory, name.lstrip("/")) if directory else None


def file_factory_tasks(task: TaskSpec, listing: Listing, where: str) -> list[TaskSpec]:
    """One concrete task per listed blob, the blob a resource file (``task_factory.file``)."""
    if task.task_factory is None or task.task_factory.file is None:
        return [task]
    factory = task.task_factory.file
    container = factory.azure_storage.container
    # Each blob's task stays one task of the factory, as in Batch Shipyard: it keeps the
    # factory's autogenerated_task_id (its ids) and gets a container name of its own.
    one = task.task_factory.model_copy(update={"file": None, "repeat": 1})
    out = []
    for name in listing.names:
        leaf = name.rsplit("/", 1)[-1]
        values = {"url": listing.blob_url(name).split("?", 1)[0], "file_path": name,
                  "file_path_with_container": f"{container}/{name}", "file_name": leaf,
                  "file_name_no_extension": leaf.split(".", 1)[0]}
        placed = values[factory.task_filepath]
        resource = ResourceFile(http_url=listing.blob_url(name), file_path=placed)
        out.append(task.model_copy(update={
            "task_factory": one, "command": _format(task.command, values, where),
            "resource_files": (*task.resource_files, resource)}))
    return out


def _format(command: str | None, values: dict[str, str], where: str) -> str | None:
    if command is None:
        return None
    try:
        return command.format(**values)
    except (IndexError, KeyError, ValueError) as exc:
        raise ConfigError(f"jobs.yaml: {where}.command: cannot format with the file task "
                          f"factory's keys ({type(exc).__name__}: {exc})",
                          hint="use {url}, {file_path}, {file_path_with_container}, "
                               "{file_name} or {file_name_no_extension}") from None


def path_word(path: str) -> str:
    """A node path as one shell word, a leading ``$VAR``/``${VAR}`` still expanded."""
    match = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?(/.*)?", path)
    if match is None:
        return quote(path)
    rest = match.group(2) or ""
    return var(match.group(1)) + (quote(rest) if rest else "")
