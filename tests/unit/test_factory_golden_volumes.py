"""Golden files of data volumes, shared volumes and auto scratch, Docker and native pools.

tests/unit/configs/azure-volumes has every shared kind Azure gets from shipyard
(``azurefile``, ``azureblob``, ``custom_linux_mount``) and both data volume forms: the
pool's ``mountConfiguration`` and start task, and the tasks' ``-v`` binds. Auto scratch
is local-engine only, so its golden file is generated for a local pool. Regenerate as
tests/unit/test_factory_golden.py says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import ShipyardConfig, load_config
from shipyard.errors import ConfigError
from shipyard.factory import PoolContext, job_options, pool_options, task_options
from shipyard.factory.volumes import volume_context
from tests.unit.test_factory_fakes import fixed_ssh
from tests.unit.test_factory_golden import check_golden, script_of

CONFIG = Path(__file__).parent / "configs" / "azure-volumes"


@pytest.fixture(scope="module")
def cfg() -> ShipyardConfig:
    return load_config(CONFIG)


def generated(cfg: ShipyardConfig, native: bool = False, local: bool = False,
              auto_scratch: bool = False) -> list[dict[str, Any]]:
    pool = cfg.pool
    if native:
        image = pool.vm_configuration.platform_image  # type: ignore[union-attr]
        pool = pool.model_copy(update={"vm_configuration": pool.vm_configuration.model_copy(  # type: ignore[union-attr]
            update={"platform_image": image.model_copy(update={"native": True})})})
    job = cfg.jobs[0]
    if auto_scratch:
        job = job.model_validate({**job.model_dump(exclude_unset=True),
                                  "auto_scratch": {"setup": "dependency", "num_instances": 2}})
    tasks = task_options(job, PoolContext(2, 0, pool, local=local,
                                          volumes=volume_context(cfg)), fixed_ssh())
    out = [t.as_dict() for t in tasks]
    for task in out:
        task.pop("environmentSettings", None)  # the SSH key pair: random check number
    return out


def test_pool_mounts(cfg: ShipyardConfig) -> None:
    created = pool_options(cfg).as_dict()
    check_golden("volumes_pool.json", json.dumps(created, indent=2, sort_keys=True) + "\n")
    check_golden("volumes_start_task.sh", script_of(created["startTask"]["commandLine"]))


@pytest.mark.parametrize("native", [False, True])
def test_task_binds(cfg: ShipyardConfig, native: bool) -> None:
    name = "volumes_tasks_native.json" if native else "volumes_tasks.json"
    check_golden(name, json.dumps(generated(cfg, native), indent=2, sort_keys=True) + "\n")


def test_auto_scratch_on_the_local_engine(cfg: ShipyardConfig) -> None:
    tasks = generated(cfg, local=True, auto_scratch=True)
    check_golden("volumes_auto_scratch.json",
                 json.dumps(tasks, indent=2, sort_keys=True) + "\n")
    assert tasks[0]["id"] == "batch-shipyard-autoscratch"
    assert all(t["dependsOn"]["taskIds"][-1] == "batch-shipyard-autoscratch"
               for t in tasks[1:])
    job = cfg.jobs[0].model_validate({**cfg.jobs[0].model_dump(exclude_unset=True),
                                      "auto_scratch": {"setup": "block", "num_instances": 2}})
    release = job_options(job, "p").job_release_task
    assert release is not None and "mounts/auto_scratch" in release.command_line


def test_auto_scratch_is_refused_on_azure(cfg: ShipyardConfig) -> None:
    with pytest.raises(ConfigError, match="needs BeeOND"):
        generated(cfg, auto_scratch=True)


def test_every_bind_is_there(cfg: ShipyardConfig) -> None:
    solve, post = generated(cfg)
    coordination = solve["multiInstanceSettings"]["coordinationCommandLine"]
    for bind in ('/tmp:/hosttmp:rw', '-v "/anon"',
                 "/mounts/azfile-hpcstorage-cases:$AZ_BATCH_NODE_SHARED_DIR/azfile:rw",
                 "/mounts/azblob-hpcstorage-results:/results:ro", "/mounts/lustre:/lustre"):
        assert bind in coordination
    assert "azblob" not in post["commandLine"] and "azfile-hpcstorage" in post["commandLine"]
