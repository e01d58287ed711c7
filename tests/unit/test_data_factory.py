"""Data movement keys: config models, their create-options, output-file globbing (pure)."""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath

import pytest
from pydantic import ValidationError

from shipyard.config.data import RemotePath, StorageInput, StorageOutput
from shipyard.config.jobs import JobSpec, TaskSpec
from shipyard.engine.storage import transfers
from shipyard.errors import ConfigError
from shipyard.factory import data
from shipyard.factory.sweep import expand_tasks
from shipyard.factory.tasks import plain_command_line

URL = "http://127.0.0.1:1/devstoreaccount1/c?sig=x"


def listing(*names: str) -> data.Listing:
    return data.Listing(URL, names, lambda name: f"http://h/acct/c/{name}?sig=s")


def test_remote_path_splits_container_and_directory() -> None:
    where = RemotePath(storage_account_settings="s", remote_path="cont/a/b/")
    assert (where.container, where.prefix) == ("cont", "a/b/")
    assert RemotePath(storage_account_settings="s", remote_path="cont").prefix == ""
    with pytest.raises(ValidationError, match="must start with a container name"):
        RemotePath(storage_account_settings="s", remote_path="/")


def test_output_data_refuses_exclude() -> None:
    with pytest.raises(ValidationError, match="not supported for output_data"):
        StorageOutput(storage_account_settings="s", remote_path="c", exclude=("*.tmp",))


def test_unfiltered_input_is_one_container_resource_file() -> None:
    entry = StorageInput(storage_account_settings="s", remote_path="c/dir")
    (item,) = data.input_files(entry, listing("dir/a"), "in")
    assert (item.storage_container_url, item.blob_prefix, item.file_path) == (URL, "dir/", "in")


def test_filtered_input_is_one_signed_url_per_kept_blob() -> None:
    entry = StorageInput(storage_account_settings="s", remote_path="c", include=("*.txt",))
    files = data.input_files(entry, listing("a.txt", "d/b.txt"), "")
    assert [(f.http_url, f.file_path) for f in files] == [
        ("http://h/acct/c/a.txt?sig=s", "a.txt"), ("http://h/acct/c/d/b.txt?sig=s", "d/b.txt")]


@pytest.mark.parametrize(("remote", "include", "prefix"), [
    ("c", ("run1/*",), "run1/"),
    ("c/dir", ("dir/sub*",), "dir/sub"),
    ("c/dir/sub", ("dir/*",), "dir/sub/"),
    ("c/dir", ("*",), "dir/"),
])
def test_a_filter_a_prefix_can_say_is_one_container_resource_file(
        remote: str, include: tuple[str, ...], prefix: str) -> None:
    # The node then downloads what the container holds when it starts (a pool's nodes
    # added later by a resize see blobs uploaded since), not a list frozen at submission.
    entry = StorageInput(storage_account_settings="s", remote_path=remote, include=include)
    (item,) = data.input_files(entry, listing("whatever"), "in")
    assert (item.storage_container_url, item.blob_prefix, item.http_url) == (URL, prefix, None)


@pytest.mark.parametrize(("include", "exclude"), [
    (("*.bin",), ()), (("a*", "b*"), ()), (("run1/a.txt",), ()), (("run[12]/*",), ()),
    ((), ("*.tmp",)), (("run1/*",), ("*.tmp",)),
])
def test_a_filter_a_prefix_cannot_say_lists_the_blobs(include: tuple[str, ...],
                                                       exclude: tuple[str, ...]) -> None:
    entry = StorageInput(storage_account_settings="s", remote_path="c", include=include,
                         exclude=exclude)
    (item,) = data.input_files(entry, listing("kept"), "")
    assert (item.http_url, item.file_path) == ("http://h/acct/c/kept?sig=s", "kept")


@pytest.mark.parametrize(("local", "expected"), [
    (None, ""), ("$AZ_BATCH_TASK_WORKING_DIR", ""), ("$AZ_BATCH_TASK_WORKING_DIR/x", "x"),
    ("rel/dir", "rel/dir")])
def test_task_inputs_land_in_the_working_directory(local: str | None, expected: str) -> None:
    entry = StorageInput(storage_account_settings="s", remote_path="c", local_path=local)
    assert data.task_input_dir(entry, "t") == expected


@pytest.mark.parametrize("local", ["/abs", "$AZ_BATCH_NODE_SHARED_DIR/x", "a/../../b"])
def test_task_inputs_outside_the_working_directory_are_refused(local: str) -> None:
    entry = StorageInput(storage_account_settings="s", remote_path="c", local_path=local)
    with pytest.raises(ConfigError, match="must be inside"):
        data.task_input_dir(entry, "t")


def test_output_files_follow_batch_shipyard_naming() -> None:
    entries = [StorageOutput(storage_account_settings="s", remote_path="c/run",
                             include=("*.out", "result.txt"), condition="taskcompletion"),
               StorageOutput(storage_account_settings="s", remote_path="c")]
    files = data.output_files(entries, lambda e: f"url-{e.container}")
    got = [(f.file_pattern, f.destination.container.path, f.upload_options.upload_condition)
           for f in files]
    assert got == [("$AZ_BATCH_TASK_DIR/*.out", "run", "taskcompletion"),
                   ("$AZ_BATCH_TASK_DIR/result.txt", "run/result.txt", "taskcompletion"),
                   ("$AZ_BATCH_TASK_DIR/**/*", None, "tasksuccess")]


def test_job_input_is_staged_by_the_preparation_task_before_the_users_command() -> None:
    job = JobSpec.model_validate({
        "id": "j", "job_preparation": {"command": "echo prep"},
        "input_data": {"azure_storage": [{"storage_account_settings": "s",
                                          "remote_path": "c/d",
                                          "local_path": "$AZ_BATCH_NODE_SHARED_DIR/in x"}]},
        "tasks": [{"docker_image": "i"}]})
    prep = data.job_preparation(job, lambda entry: listing(), None)
    assert prep is not None and prep.wait_for_success
    assert [f.file_path for f in prep.resource_files] == [".shipyard-input/0"]
    line = shlex.split(prep.command_line)[2]  # the script bash runs
    assert "mkdir -p -- \"$AZ_BATCH_NODE_SHARED_DIR\"'/in x'" in line
    assert line.index("cp -a -- .shipyard-input/0/.") < line.index("echo prep")


def test_job_input_needs_a_local_path() -> None:
    job = JobSpec.model_validate({
        "id": "j", "input_data": {"azure_storage": [{"storage_account_settings": "s",
                                                     "remote_path": "c"}]},
        "tasks": [{"docker_image": "i"}]})
    with pytest.raises(ConfigError, match="local_path: required"):
        data.job_preparation(job, lambda entry: listing(), None)


def test_file_factory_makes_one_task_per_blob_with_batch_shipyards_keys() -> None:
    task = TaskSpec.model_validate({
        "docker_image": "i", "command": "run {file_name_no_extension} {file_path} {url}",
        "task_factory": {"file": {"azure_storage": {"storage_account_settings": "s",
                                                    "remote_path": "c/in"},
                                  "task_filepath": "file_path_with_container"}}})
    tasks = data.file_factory_tasks(task, listing("in/a.tar.gz", "in/b.txt"), "t")
    assert [t.command for t in tasks] == ["run a in/a.tar.gz http://h/acct/c/in/a.tar.gz",
                                          "run b in/b.txt http://h/acct/c/in/b.txt"]
    assert [(r.file_path, r.url) for r in tasks[0].resource_files] == [
        ("c/in/a.tar.gz", "http://h/acct/c/in/a.tar.gz?sig=s")]
    assert all(t.task_factory is not None and t.task_factory.file is None for t in tasks)


def test_file_factory_tasks_are_named_by_the_factorys_own_id_format() -> None:
    factory = {"file": {"azure_storage": {"storage_account_settings": "s", "remote_path": "c"}},
               "autogenerated_task_id": {"prefix": "blob-", "zfill_width": 2}}
    task = TaskSpec.model_validate({"docker_image": "i", "command": "cat {file_name}",
                                    "name": "shared", "task_factory": factory})
    job = JobSpec.model_validate({"id": "j", "tasks": [
        {"docker_image": "i", "command": "true"}]}).model_copy(update={
            "tasks": (*data.file_factory_tasks(task, listing("a", "b"), "t"),
                      TaskSpec.model_validate({"docker_image": "i", "command": "true"}))})
    assert [(t.id, t.command) for t in expand_tasks(job)] == [
        ("blob-00", "cat a"), ("blob-01", "cat b"), ("task-00000", "true")]
    # Each blob's container gets a name of its own, not the task's one 'name'.
    lines = [plain_command_line(job, t.spec, t.id, t.command) for t in expand_tasks(job)[:2]]
    assert "--name shared" not in " ".join(lines)


def test_file_factory_names_its_keys_when_the_command_uses_another() -> None:
    task = TaskSpec.model_validate({
        "docker_image": "i", "command": "run {0}",
        "task_factory": {"file": {"azure_storage": {"storage_account_settings": "s",
                                                    "remote_path": "c"}}}})
    with pytest.raises(ConfigError, match="file_name_no_extension"):
        data.file_factory_tasks(task, listing("a"), "t")


def test_output_file_patterns_glob_like_the_service(tmp_path: Path) -> None:
    wd = tmp_path / "task" / "wd"
    for name in ("a.dat", "deep/er/b.dat", "c.txt", "deep/d.txt"):
        (wd / name).parent.mkdir(parents=True, exist_ok=True)
        (wd / name).write_text(name)
    (tmp_path / "task" / "stdout.txt").write_text("out")

    def host(path: PurePosixPath) -> Path:
        return tmp_path / path.relative_to("/n")

    def names(pattern: str, path: str | None = None) -> list[str]:
        found = transfers.matches(pattern, PurePosixPath("/n/task/wd"),
                                  {"AZ_BATCH_TASK_DIR": "/n/task"}, host, path)
        return [name for _, name in found]

    assert names("**/*.dat", "p") == ["p/a.dat", "p/deep/er/b.dat"]
    assert names("*.dat") == ["a.dat"]
    assert names("deep/**") == ["d.txt", "er/b.dat"]
    assert names("../std*.txt", "logs") == ["logs/stdout.txt"]
    assert names("$AZ_BATCH_TASK_DIR/wd/c.txt", "x/renamed.txt") == ["x/renamed.txt"]
    assert names("missing.txt") == []
