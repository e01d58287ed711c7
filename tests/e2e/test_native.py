"""A native container pool end to end: the OpenMPI ring across 3 nodes, Batch running the
containers (``platform_image.native: true``), through the real shipyard command.

The config is recipes/openmpi-ring's with ``native: true`` and a GPU + RDMA size
(Standard_NC24r): the local engine has neither, so ``pool add`` and ``jobs add`` each print
one warning line and the ring runs over TCP. The tasks are container tasks: no ``docker``
in any command line, one container of the image per instance, gone when the job ends.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from shipyard.engine.settings import EngineSettings
from tests.e2e.poolsgone import nodes_left
from tests.e2e.test_recipes import RECIPES, containers_left, key_dirs_left, node_homes, run
from tests.realengine import build_recipe, wait_for

WARNING = re.compile(r"(?m)^warning: the local engine has no GPUs and no InfiniBand: "
                     r"Standard_NC24r runs here without them \(CPU and TCP only\)$")


def native_config(tmp_path: Path) -> Path:
    configdir = tmp_path / "config"
    shutil.copytree(RECIPES / "openmpi-ring" / "config", configdir)
    pool = configdir / "pool.yaml"
    text = pool.read_text().replace("id: openmpi-ring", "id: openmpi-ring-native")
    text = text.replace("sku: 22_04-lts", "sku: 22_04-lts\n      native: true")
    pool.write_text(text.replace("vm_size: Standard_D2s_v3", "vm_size: Standard_NC24r"))
    jobs = configdir / "jobs.yaml"
    jobs.write_text(jobs.read_text().replace("- id: openmpi-ring", "- id: openmpi-ring-native"))
    return configdir


def test_native_mpi_ring_across_three_nodes(settings: EngineSettings, engine: object,
                                            tmp_path: Path) -> None:
    build_recipe("openmpi-ring")
    configdir = native_config(tmp_path)
    before = node_homes(settings)
    added = run(settings, configdir, "pool", "add")
    assert added.returncode == 0, added.stdout + added.stderr
    assert len(WARNING.findall(added.stderr)) == 1, added.stderr
    try:
        job = run(settings, configdir, "jobs", "add", "--tail", "stdout.txt")
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert len(WARNING.findall(job.stderr)) == 1, job.stderr
        hosts = set(re.findall(r"(?m)^hello: rank \d+ of 3 on (\S+)", job.stdout))
        assert len(hosts) == 3, job.stdout[-3000:]
        shown = run(settings, configdir, "--raw", "jobs", "tasks", "list")
        assert shown.returncode == 0, shown.stderr
        assert '"containerSettings"' in shown.stdout or "container_settings" in shown.stdout
        assert "docker " not in shown.stdout, "a native task ran docker itself"
        wait_for("the instance containers to be removed",
                 lambda: not containers_left(settings, "shipyard.job=openmpi-ring-native"), 60)
        assert not key_dirs_left(settings)
        assert run(settings, configdir, "jobs", "del", "--wait").returncode == 0
    finally:
        nodes = node_homes(settings) - before
        removed = run(settings, configdir, "pool", "del", "--wait")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    wait_for("the pool's nodes to be gone", lambda: not nodes_left(settings, nodes), 30)
