"""jobs.yaml ``auto_pool`` and ``recurrence``: their config checks and the requests built.

Pure: configs are loaded from temporary files, the factory is called, nothing is sent.
The golden file of a whole job schedule request is regenerated like the others:

    SHIPYARD_REGOLD=1 .venv/bin/pytest tests/unit/test_schedule_factory.py
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.batch import models

from shipyard.config import JobSpec, ShipyardConfig, load_config
from shipyard.errors import ConfigError
from shipyard.factory import PoolContext, job_options, pool_options, task_options
from shipyard.factory.schedule import (
    auto_pool_info,
    carried,
    job_schedule_options,
    never_ends,
)
from tests.unit.test_config import MINIMAL, write_dir
from tests.unit.test_config_errors import load_with
from tests.unit.test_factory_golden import check_golden

TASK = "  tasks:\n  - docker_image: img\n    command: run\n"
EVERY_MINUTE = "  recurrence:\n    schedule:\n      recurrence_interval: 00:01:00\n"


def load(tmp_path: Path, job: str, tasks: str = TASK) -> ShipyardConfig:
    text = f"job_specifications:\n- id: j\n{job}{tasks}"
    return load_config(write_dir(tmp_path / "cfg", {
        **MINIMAL, "jobs.yaml": text,
        "credentials.yaml": "credentials:\n  batch:\n    account_service_url: local\n"}))


def schedule_of(cfg: ShipyardConfig, job: JobSpec | None = None
                ) -> models.BatchJobScheduleCreateOptions:
    job = job or cfg.jobs[0]
    created = job_options(job, cfg.pool.id)
    if job.auto_pool is not None:
        created.pool_info = auto_pool_info(job, pool_options(cfg))
    tasks = task_options(job, PoolContext(2, 0, cfg.pool), None,
                         id_format=cfg.task_id_format(job))
    return job_schedule_options(job, created, tasks)


# -- config --------------------------------------------------------------------------------

def test_recurrence_and_auto_pool_parse(tmp_path: Path) -> None:
    job = (EVERY_MINUTE + "      do_not_run_until: 2030-01-02T03:04:05\n"
           "      start_window: 00:02:00\n    job_manager:\n      run_exclusive: true\n"
           "  auto_pool:\n    pool_lifetime: job_schedule\n    keep_alive: true\n")
    spec = load(tmp_path, job).jobs[0]
    assert spec.recurrence is not None and spec.auto_pool is not None
    assert spec.recurrence.schedule.recurrence_interval == timedelta(minutes=1)
    assert spec.recurrence.schedule.do_not_run_until == datetime(2030, 1, 2, 3, 4, 5,
                                                                 tzinfo=UTC)
    assert spec.recurrence.job_manager.run_exclusive
    assert spec.recurrence.job_manager.allow_low_priority_node  # Batch Shipyard's default
    assert spec.auto_pool.pool_lifetime == "job_schedule" and spec.auto_pool.keep_alive


def test_empty_sections_are_off(tmp_path: Path) -> None:
    spec = load(tmp_path, "  auto_pool: {}\n  recurrence: {}\n").jobs[0]
    assert spec.auto_pool is None and spec.recurrence is None


@pytest.mark.parametrize(("job", "tasks", "message"), [
    ("  recurrence:\n    schedule:\n      recurrence_interval: 00:00:30\n", TASK,
     "job_specifications[0].recurrence.schedule.recurrence_interval: must be at least "
     "00:01:00"),
    ("  recurrence:\n    schedule: {}\n", TASK,
     "job_specifications[0].recurrence.schedule.recurrence_interval: required key"),
    (EVERY_MINUTE + "      do_not_run_until: tomorrow\n", TASK,
     "recurrence.schedule.do_not_run_until: must be an ISO 8601 date and time"),
    (EVERY_MINUTE + "      do_not_run_until: 2030-01-02T00:00:00Z\n"
     "      do_not_run_after: 2030-01-01T00:00:00Z\n", TASK,
     "recurrence.schedule.do_not_run_after: must be later than do_not_run_until"),
    ("  auto_pool:\n    pool_lifetime: job_schedule\n", TASK,
     "job_specifications[0].auto_pool.pool_lifetime: job_schedule applies only to a job "
     "with recurrence"),
    ("  auto_pool:\n    pool_lifetime: pool\n", TASK,
     "job_specifications[0].auto_pool.pool_lifetime"),
    (EVERY_MINUTE, TASK + "  - docker_image: img\n",
     "job_specifications[0].tasks: a recurring job has exactly one task"),
    (EVERY_MINUTE, TASK + "    depends_on: [a]\n",
     "job_specifications[0].tasks[0].depends_on: not allowed in the task of a recurring job"),
    (EVERY_MINUTE + "  auto_scratch: true\n", TASK,
     "job_specifications[0].auto_scratch: not allowed with recurrence"),
])
def test_bad_settings_name_their_path(tmp_path: Path, job: str, tasks: str,
                                      message: str) -> None:
    error = load_with(tmp_path, "jobs.yaml", f"job_specifications:\n- id: j\n{job}{tasks}")
    assert message in str(error)
    assert str(error).startswith("jobs.yaml: ")


# -- auto pools ----------------------------------------------------------------------------

def test_auto_pool_is_pool_yaml_s_pool(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  auto_pool:\n    keep_alive: true\n")
    info = auto_pool_info(cfg.jobs[0], pool_options(cfg))
    auto = info.auto_pool_specification
    assert info.pool_id is None and auto is not None
    assert (auto.auto_pool_id_prefix, auto.pool_lifetime_option, auto.keep_alive) == (
        "p", "job", True)
    wanted = dict(pool_options(cfg))
    del wanted["id"]
    assert dict(auto.pool) == wanted  # every create option of the pool, nothing lost


def test_a_pool_setting_an_auto_pool_cannot_hold_is_an_error(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  auto_pool:\n    keep_alive: true\n")
    pool = pool_options(cfg)
    # SDK 15.1's create options hold nothing a pool specification lacks but the id; a
    # later one may (the service's resourceTags, for one): it must not vanish silently.
    pool["resourceTags"] = {"team": "hpc"}
    with pytest.raises(ConfigError, match="resourceTags cannot be carried"):
        auto_pool_info(cfg.jobs[0], pool)


def test_a_long_pool_id_cannot_prefix_an_auto_pool(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  auto_pool:\n    keep_alive: true\n")
    pool = pool_options(cfg)
    pool.id = "p" * 21
    with pytest.raises(ConfigError, match=r"pool_specification.id: at most 20 characters"):
        auto_pool_info(cfg.jobs[0], pool)


# -- job schedules -------------------------------------------------------------------------

def test_recurring_job_is_a_schedule_whose_manager_is_its_task(tmp_path: Path) -> None:
    cfg = load(tmp_path, EVERY_MINUTE + "  auto_complete: true\n")
    job = cfg.jobs[0]
    made = schedule_of(cfg)
    task = task_options(job, PoolContext(2, 0, cfg.pool), None,
                        id_format=cfg.task_id_format(job))[0]
    spec = made.job_specification
    manager = spec.job_manager_task
    assert made.id == "j" and made.schedule.recurrence_interval == timedelta(minutes=1)
    assert spec.pool_info.pool_id == "p"
    assert spec.all_tasks_complete_mode == "terminatejob"
    assert manager.command_line == task.command_line and manager.id == task.id
    assert (manager.kill_job_on_completion, manager.run_exclusive,
            manager.allow_low_priority_node) == (False, False, True)
    assert spec.job_release_task is not None  # the containers of each job are cleaned
    assert "authenticationTokenSettings" not in json.dumps(made.as_dict())


@pytest.mark.parametrize(("auto_complete", "monitor", "kill", "on_all", "open_forever"), [
    (True, False, False, "terminatejob", False),
    (True, True, False, "terminatejob", False),  # auto_complete wins, as in Batch Shipyard
    (False, True, True, "noaction", False),
    (False, False, False, "noaction", True),
])
def test_how_each_job_of_a_schedule_ends(tmp_path: Path, auto_complete: bool, monitor: bool,
                                         kill: bool, on_all: str, open_forever: bool) -> None:
    job = (EVERY_MINUTE + f"    job_manager:\n      monitor_task_completion: {monitor}\n"
           f"  auto_complete: {auto_complete}\n")
    cfg = load(tmp_path, job)
    spec = schedule_of(cfg).job_specification
    assert spec.job_manager_task.kill_job_on_completion is kill
    assert spec.all_tasks_complete_mode == on_all
    assert never_ends(cfg.jobs[0]) is open_forever


def test_a_task_factory_of_many_tasks_cannot_recur(tmp_path: Path) -> None:
    tasks = "  tasks:\n  - docker_image: img\n    command: run\n    task_factory:\n" \
            "      repeat: 2\n"
    cfg = load(tmp_path, EVERY_MINUTE, tasks)
    with pytest.raises(ConfigError, match="its tasks expand to 2"):
        schedule_of(cfg)


def test_exit_conditions_cannot_go_to_a_job_manager(tmp_path: Path) -> None:
    job = EVERY_MINUTE + ("  exit_conditions:\n    default:\n      exit_options:\n"
                          "        job_action: terminate\n")
    cfg = load(tmp_path, job)
    with pytest.raises(ConfigError, match="exitConditions cannot be carried into a "
                                          "BatchJobManagerTask"):
        schedule_of(cfg)


def test_carried_keeps_what_both_models_have() -> None:
    task = models.BatchTaskCreateOptions(id="t", command_line="run",
                                         required_slots=2)
    manager = carried(task, models.BatchJobManagerTask, ("id", "command_line",
                                                          "required_slots"), "here")
    assert dict(manager) == {"id": "t", "commandLine": "run", "requiredSlots": 2}
    with pytest.raises(ConfigError, match="here: requiredSlots cannot be carried"):
        carried(task, models.BatchJobManagerTask, ("id", "command_line"), "here")


def test_job_schedule_golden(tmp_path: Path) -> None:
    job = (EVERY_MINUTE + "      do_not_run_until: 2030-01-02T03:04:05Z\n"
           "      do_not_run_after: 2030-02-01T00:00:00Z\n      start_window: 00:05:00\n"
           "    job_manager:\n      run_exclusive: true\n      allow_low_priority_node: false\n"
           "      monitor_task_completion: true\n"
           "  auto_pool:\n    pool_lifetime: job_schedule\n"
           "  environment_variables:\n    MODE: nightly\n  max_wall_time: 01:00:00\n")
    made = schedule_of(load(tmp_path, job))
    check_golden("job_schedule_options.json", json.dumps(made.as_dict(), indent=2) + "\n")
