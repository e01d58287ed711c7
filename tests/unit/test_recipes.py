"""The recipes under recipes/: their configs load, and their images follow the ssh contract.

Pure checks, no Docker: building and running the images is what recipes/build.sh and the
integration tests do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.config.loader import load_config

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
RECIPES = ("openmpi-ring", "mpich-ring", "mpi4py-pingpong", "lammps")


def test_build_script_knows_every_recipe() -> None:
    script = (RECIPES_DIR / "build.sh").read_text()
    listed = re.search(r"^all=\((.*)\)$", script, re.M)
    assert listed is not None, "build.sh lost its all=(...) list"
    on_disk = {p.parent.parent.name for p in RECIPES_DIR.glob("*/docker/Dockerfile")}
    assert set(listed[1].split()) == on_disk == set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_config_loads_for_the_local_engine(recipe: str) -> None:
    cfg = load_config(RECIPES_DIR / recipe / "config")
    assert cfg.is_local
    (job,) = cfg.jobs
    (task,) = job.tasks
    assert task.docker_image == f"shipyard/{recipe}:latest"
    assert task.docker_image in cfg.global_resources.docker_images
    assert task.multi_instance is not None
    assert cfg.pool.inter_node_communication_enabled


@pytest.mark.parametrize("recipe", RECIPES)
def test_image_runs_sshd_on_23_and_bakes_no_user_keys(recipe: str) -> None:
    dockerfile = (RECIPES_DIR / recipe / "docker" / "Dockerfile").read_text()
    assert 'CMD ["/usr/sbin/sshd", "-D", "-p", "23", "-e"]' in dockerfile
    assert "common/sshd_config /etc/ssh/sshd_config.d/" in dockerfile
    assert not re.search(r"id_(rsa|ed25519|ecdsa)|authorized_keys|ssh-keygen", dockerfile)


def test_sshd_config_takes_keys_from_the_mounted_dir_only() -> None:
    settings = dict(
        line.split(None, 1)
        for line in (RECIPES_DIR / "common" / "sshd_config").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings["Port"] == "23"
    assert settings["PermitRootLogin"] == "prohibit-password"
    assert settings["PasswordAuthentication"] == "no"
    assert settings["AuthorizedKeysFile"] == "/root/.ssh/authorized_keys"
