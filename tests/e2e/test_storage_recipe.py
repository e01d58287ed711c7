"""The LAMMPS recipe with its data in Azure Storage (recipes/lammps/storage-config), end to end.

Run as its README tells a user: build the image, ``data ingress`` the input, add the pool
and the job, then list and download what the job left in the results container.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shipyard.engine.settings import EngineSettings
from tests.contract.storagehelpers import blobs, shipyard
from tests.realengine import build_recipe

__all__ = ["blobs"]  # fixture


def test_lammps_recipe_reads_blob_input_and_leaves_log_and_dump_in_a_container(
        settings: EngineSettings, engine: object, blobs: BlobServiceClient,
        tmp_path: Path) -> None:
    """recipes/lammps/storage-config end to end, as its README tells a user to run it."""
    root = Path(__file__).resolve().parents[2]
    build_recipe("lammps")
    config = tmp_path / "config"
    shutil.copytree(root / "recipes" / "lammps" / "storage-config", config)
    try:
        assert "ingressed 1 file(s)" in shipyard(settings, config, "data", "ingress",
                                                 cwd=root).stdout
        shipyard(settings, config, "pool", "add")
        run = shipyard(settings, config, "jobs", "add", "--tail", "stdout.txt").stdout
        assert "Loop time of" in run
        listed = shipyard(settings, config, "--raw", "storage", "list", "mystorage",
                          "lammps-results/melt").stdout
        assert sorted(b["name"] for b in json.loads(listed)) == [
            "melt/dump.melt", "melt/log.lammps"]
        shipyard(settings, config, "storage", "download", "mystorage", "lammps-results/melt",
                 str(tmp_path / "results"))
        log = (tmp_path / "results" / "melt" / "log.lammps").read_text()
        dump = (tmp_path / "results" / "melt" / "dump.melt").read_text()
        assert "Loop time of" in log and "Created 4000 atoms" in log
        assert dump.count("ITEM: TIMESTEP") == 3  # steps 0, 50 and 100
        shipyard(settings, config, "jobs", "del", "--wait")
    finally:
        shipyard(settings, config, "pool", "del", "--wait", check=False)
        for name in ("lammps-input", "lammps-results"):
            with contextlib.suppress(ResourceNotFoundError):
                blobs.delete_container(name)
