"""Golden files of every generated line and of the pool and job create-options.

A change in generated output fails here with a diff; when the change is intended,
regenerate the files and review them in the diff of the commit:

    SHIPYARD_REGOLD=1 .venv/bin/pytest tests/unit/test_factory_golden.py
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
from azure.batch import models

from shipyard.config import ShipyardConfig, load_config
from shipyard.config.jobs import JobCommand
from shipyard.config.mpi import MpiSettings
from shipyard.factory import PoolContext, job_options, pool_options, task_options
from tests.unit.test_factory_fakes import fixed_ssh

GOLDEN = Path(__file__).parent / "golden"
AZURE = Path(__file__).parent / "configs" / "azure-openmpi"
REGOLD = "SHIPYARD_REGOLD"
HOW = f"{REGOLD}=1 .venv/bin/pytest tests/unit/test_factory_golden.py"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get(REGOLD) == "1":
        path.write_text(text)
        return
    assert path.exists(), f"golden file {path} is missing; create it with: {HOW}"
    expected = path.read_text()
    assert text == expected, (
        f"generated output differs from golden file {path}. If the change is intended, "
        f"regenerate with: {HOW} (and review the diff)")


def script_of(command_line: str) -> str:
    """The script of a ``/bin/bash -c <script>`` line: the same text, one quoting level less."""
    argv = shlex.split(command_line)
    assert argv[:2] == ["/bin/bash", "-c"]
    return argv[2] + "\n"


@pytest.fixture(scope="module")
def cfg() -> ShipyardConfig:
    return load_config(AZURE)


def tasks(cfg: ShipyardConfig, mpi: MpiSettings | None = None
          ) -> list[models.BatchTaskCreateOptions]:
    job = cfg.jobs[0]
    if mpi is not None:
        first = job.tasks[0]
        assert first.multi_instance is not None
        multi = first.multi_instance.model_copy(update={"mpi": mpi})
        job = job.model_copy(update={"tasks": (first.model_copy(
            update={"multi_instance": multi}),)})
    return task_options(job, PoolContext(2, 0, cfg.pool), fixed_ssh(),
                        id_format=cfg.task_id_format(job))


def test_pool_options(cfg: ShipyardConfig) -> None:
    check_golden("pool_options.json", json.dumps(pool_options(cfg).as_dict(), indent=2) + "\n")


def test_job_options(cfg: ShipyardConfig) -> None:
    job = cfg.jobs[0].model_copy(update={
        "job_preparation": JobCommand(command="docker pull busybox"),
        "job_release": JobCommand(command="echo \"released $AZ_BATCH_JOB_ID\" # it's done")})
    created = job_options(job, cfg.pool.id)
    check_golden("job_options.json", json.dumps(created.as_dict(), indent=2) + "\n")
    assert created.job_release_task is not None
    check_golden("job_release.txt", created.job_release_task.command_line + "\n")
    check_golden("job_release.sh", script_of(created.job_release_task.command_line))


def test_plain_task(cfg: ShipyardConfig) -> None:
    plain = tasks(cfg)[1]
    check_golden("plain_task.txt", plain.command_line + "\n")


def test_multi_instance_coordination(cfg: ShipyardConfig) -> None:
    settings = tasks(cfg)[0].multi_instance_settings
    assert settings is not None
    check_golden("mi_coordination.txt", settings.coordination_command_line + "\n")
    check_golden("mi_coordination.sh", script_of(settings.coordination_command_line))


def test_multi_instance_application_from_the_config(cfg: ShipyardConfig) -> None:
    check_golden("mi_application_openmpi_nproc.txt", tasks(cfg)[0].command_line + "\n")


@pytest.mark.parametrize("runtime", ["openmpi", "mpich", "mvapich", "intelmpi", "intelmpi-ofa"])
def test_multi_instance_application(cfg: ShipyardConfig, runtime: str) -> None:
    mpi = MpiSettings.model_validate({"runtime": runtime, "processes_per_node": 2,
                                      "options": ["-v"]})
    check_golden(f"mi_application_{runtime}.txt", tasks(cfg, mpi)[0].command_line + "\n")
