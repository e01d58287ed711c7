"""Batch Shipyard 3.9.1's own multi-instance recipes, as they are, with local credentials.

Every config dir of tests/data/batch_shipyard_3.9.1/recipes is loaded with
``credentials.batch.account_service_url: local`` and its pool and tasks are generated for
the local engine (what ``pool add`` and ``jobs add`` send). The recipes shipyard refuses,
and why, are listed exactly: the Singularity ones (no Apptainer/Singularity for Debian 12),
the only ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.errors import ShipyardError
from shipyard.factory import PoolContext, new_ssh_material, pool_options, task_options
from shipyard.factory.volumes import volume_context

RECIPES = Path(__file__).resolve().parents[1] / "data" / "batch_shipyard_3.9.1" / "recipes"
CONFIG_DIRS = sorted(str(p.parent.relative_to(RECIPES)) for p in RECIPES.rglob("jobs.yaml"))

SINGULARITY = "Singularity containers; no Apptainer or Singularity package exists"
#: Config dir -> a part of the one-line refusal.
REFUSED = {
    "HPCG-Infiniband-IntelMPI/config/singularity": SINGULARITY,
    "HPLinpack-Infiniband-IntelMPI/config/singularity": SINGULARITY,
    "OSUMicroBenchmarks-Infiniband-MVAPICH/config": SINGULARITY,
    "mpiBench-IntelMPI/config/singularity": SINGULARITY,
    "mpiBench-MPICH/config/singularity": SINGULARITY,
    "mpiBench-OpenMPI/config/singularity": SINGULARITY,
}


@pytest.fixture(scope="module")
def local_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("creds") / "credentials.yaml"
    path.write_text("credentials:\n  batch:\n    account_service_url: local\n")
    return path


#: HPMLA-CPU-OpenMPI is a template: its ids are placeholders a user fills in first.
PLACEHOLDERS = {"<pool id>": "hpmla", "<job id>": "hpmla", "<blob container name>": "data"}


def filled(configdir: Path, into: Path) -> Path:
    """``configdir`` with its template placeholders filled in, as a user would."""
    into.mkdir()
    for source in configdir.glob("*.yaml"):
        text = source.read_text()
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        (into / source.name).write_text(text)
    return into


def submit(configdir: Path, credentials: Path) -> int:
    """What pool add and jobs add generate for the local engine; the number of tasks."""
    cfg = load_config(configdir, credentials=credentials)
    assert cfg.is_local
    pool_options(cfg)
    count = 0
    for job in cfg.jobs:
        context = PoolContext(cfg.pool.vm_count.dedicated, 0, cfg.pool, local=True,
                              volumes=volume_context(cfg))
        count += len(task_options(job, context, new_ssh_material(),
                                 id_format=cfg.task_id_format(job)))
    return count


def test_there_are_27_multi_instance_recipes() -> None:
    assert len(CONFIG_DIRS) == 27


@pytest.mark.parametrize("recipe", CONFIG_DIRS)
def test_recipe_is_accepted_unless_listed(recipe: str, local_credentials: Path,
                                          tmp_path: Path) -> None:
    configdir = filled(RECIPES / recipe, tmp_path / "config")
    if recipe in REFUSED:
        with pytest.raises(ShipyardError) as caught:
            submit(configdir, local_credentials)
        assert REFUSED[recipe] in caught.value.message
        return
    assert submit(configdir, local_credentials) >= 1


def test_counts() -> None:
    refused = len(REFUSED)
    assert (len(CONFIG_DIRS) - refused, refused) == (21, 6)
