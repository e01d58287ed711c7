"""Shared volumes and auto scratch end to end: instances on 3 nodes write, the master reads.

The config is recipes/openmpi-ring's with a ``glusterfs_on_compute`` shared volume (as
Batch Shipyard's MXNet recipes use) and ``auto_scratch`` on the job (as its OpenFOAM
recipes do) with ``setup: block``: ``jobs add`` waits for the setup task before adding the
job's. One rank per node writes its hostname into the shared volume and into the job's
auto scratch dir; the master then counts the files: 3 in each means every node's
container sees the same storage. The auto scratch dir is gone after the job (its release
task), the shared volume after the pool.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from shipyard.engine.settings import EngineSettings
from tests.e2e.poolsgone import nodes_left
from tests.e2e.test_recipes import RECIPES, node_homes, run
from tests.realengine import build_recipe, wait_for

WRITE = ("mpirun --allow-run-as-root -host $AZ_BATCH_HOST_LIST -np 3 --map-by ppr:1:node "
         "-x AZ_BATCH_TASK_DIR bash -c 'hostname > /shared/w-$(hostname) && "
         "hostname > $AZ_BATCH_TASK_DIR/auto_scratch/w-$(hostname)' && "
         "echo shared=$(ls /shared | wc -l) scratch=$(ls $AZ_BATCH_TASK_DIR/auto_scratch | wc -l)")


def storage_config(tmp_path: Path) -> Path:
    configdir = tmp_path / "config"
    shutil.copytree(RECIPES / "openmpi-ring" / "config", configdir)
    config = configdir / "config.yaml"
    config.write_text(config.read_text() + (
        "  volumes:\n    shared_data_volumes:\n      glustervol:\n"
        "        volume_driver: glusterfs_on_compute\n        container_path: /shared\n"))
    pool = configdir / "pool.yaml"
    pool.write_text(pool.read_text().replace("id: openmpi-ring", "id: shared-storage")
                    + "  per_job_auto_scratch: true\n")
    jobs = configdir / "jobs.yaml"
    text = jobs.read_text().replace("- id: openmpi-ring", "- id: shared-storage")
    text = text.replace("  auto_complete: true\n", "  auto_complete: true\n  auto_scratch:\n"
                        "    setup: block\n    num_instances: pool_current_dedicated\n"
                        "  shared_data_volumes:\n  - glustervol\n")
    text = re.sub(r"      mpi:\n(        .*\n)+", "", text)
    text = text.replace("command: ring 1000 1000", f"command: {WRITE!r}")
    jobs.write_text(text)
    return configdir


def test_instances_share_the_volume_and_the_auto_scratch(
        settings: EngineSettings, engine: object, tmp_path: Path) -> None:
    build_recipe("openmpi-ring")
    configdir = storage_config(tmp_path)
    before = node_homes(settings)
    added = run(settings, configdir, "pool", "add")
    assert added.returncode == 0, added.stdout + added.stderr
    shared = settings.data_dir / "mounts" / "shared-storage"
    try:
        job = run(settings, configdir, "jobs", "add", "--tail", "stdout.txt")
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "shared=3 scratch=3" in job.stdout, job.stdout[-3000:]
        assert len(list((shared / "gluster_on_compute" / "gv0").iterdir())) == 3
        wait_for("the job's auto scratch dir to be removed by its release task",
                 lambda: not (shared / "auto_scratch" / "shared-storage").exists(), 120)
        assert run(settings, configdir, "jobs", "del", "--wait").returncode == 0
    finally:
        nodes = node_homes(settings) - before
        removed = run(settings, configdir, "pool", "del", "--wait")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not shared.exists(), "the pool's shared storage outlived the pool"
    wait_for("the pool's nodes to be gone", lambda: not nodes_left(settings, nodes), 30)
