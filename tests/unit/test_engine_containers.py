"""The engine's container task options (engine/agent/containers.py), without Docker."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from shipyard.engine.agent import containers
from shipyard.errors import BatchError

TASK = PurePosixPath("/mnt/batch/tasks/workitems/j/job-1/t")
ENV = {"AZ_BATCH_TASK_WORKING_DIR": f"{TASK}/wd", "AZ_BATCH_TASK_DIR": str(TASK),
       "AZ_BATCH_NODE_SHARED_DIR": "/mnt/batch/tasks/shared", "PATH": "/bin", "X": "1"}


def test_batch_variables_in_run_options_are_expanded() -> None:
    settings = {"containerRunOptions": '-w $AZ_BATCH_TASK_WORKING_DIR -v "${AZ_BATCH_TASK_DIR}:/t" '
                                       "-e HOME=$HOME"}
    assert containers.run_options(settings, ENV) == [
        "-w", f"{TASK}/wd", "-v", f"{TASK}:/t", "-e", "HOME=$HOME"]


def test_whole_root_by_default_else_only_the_chosen_dirs() -> None:
    assert containers.batch_mounts({}, TASK) == ["-v", "/mnt/batch/tasks:/mnt/batch/tasks"]
    chosen = {"containerHostBatchBindMounts": [{"source": "Task"},
                                               {"source": "Shared", "isReadOnly": True}]}
    assert containers.batch_mounts(chosen, TASK) == [
        "-v", f"{TASK}:{TASK}", "-v", "/mnt/batch/tasks/shared:/mnt/batch/tasks/shared:ro"]
    assert containers.batch_mounts({"containerHostBatchBindMounts": []}, TASK) == []


def test_variables_of_dirs_left_out_are_not_passed() -> None:
    only_task = {"containerHostBatchBindMounts": [{"source": "Task"}]}
    assert containers.visible_env(only_task, ENV) == [
        "AZ_BATCH_TASK_DIR", "AZ_BATCH_TASK_WORKING_DIR", "X"]
    assert "AZ_BATCH_NODE_SHARED_DIR" in containers.visible_env({}, ENV)


def test_user_network_and_working_dir_win() -> None:
    options = containers.create_options({"containerRunOptions": "--net=none -w /x"}, ENV, TASK)
    assert "--network=host" not in options
    assert options[-2:] == ["-w", "/x"]
    image_wd = containers.create_options({"workingDirectory": "containerImageDefault"}, ENV,
                                         TASK)
    assert "-w" not in image_wd and "--network=host" in image_wd


def test_instance_containers_are_per_task_and_instance() -> None:
    names = {containers.instance_name(j, t, i) for j in ("a", "b") for t in ("x", "y")
             for i in range(3)}
    assert len(names) == 12


@pytest.mark.parametrize(("settings", "name"), [
    ({"imageName": "i", "containerHostBatchBindMounts": [{"source": "Home"}]},
     "containerSettings.containerHostBatchBindMounts.source"),
    ({"imageName": "i", "containerHostBatchBindMounts": [{"source": "Shared"}]},
     "containerSettings.workingDirectory"),
])
def test_refused_settings(settings: dict[str, object], name: str) -> None:
    with pytest.raises(BatchError) as caught:
        containers.check_settings(settings)
    assert caught.value.status == 400
    assert ("PropertyName", name) in caught.value.values
