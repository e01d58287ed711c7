"""``data ingress`` to a pool's ``glusterfs_on_compute`` volume, through the real CLI.

A 2-node pool with an SSH user; ``multinode_scp`` spreads the files over the nodes, each
scp writing into its node's ``mounts/gluster_on_compute/gv0``. Every node sees the same
volume, so every file is read on each node over ``pool ssh``, and a task's container
reads them all at the volume's ``container_path``. The pool's SSH user still cannot look
into the engine's data dir (it holds the account key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient

from shipyard.engine.settings import EngineSettings
from tests.contract.clihelpers import Shell, sh, ssh_pool
from tests.realengine import IMAGE

__all__ = ["sh"]  # the fixture, for pytest
POOL = "cli-shared-ingress"
JOB = "cli-shared-read"
VOLUME = "/mnt/batch/tasks/mounts/gluster_on_compute/gv0"
#: Four files of different sizes, so the size-balanced spread gives each node some.
FILES = {"a.dat": "alpha\n" * 400, "b.dat": "bravo\n" * 300, "sub/c.dat": "charlie\n" * 200,
         "sub/d.dat": "delta\n"}


def config_yaml(source: Path) -> str:
    return (f"global_resources:\n  docker_images:\n  - {IMAGE}\n"
            "  volumes:\n    shared_data_volumes:\n      glustervol:\n"
            "        volume_driver: glusterfs_on_compute\n        container_path: /shared\n"
            f"  files:\n  - source:\n      path: {source}\n"
            "    destination:\n      shared_data_volume: glustervol\n"
            "      relative_destination_path: in\n"
            "      data_transfer:\n        method: multinode_scp\n"
            "        max_parallel_transfers_per_node: 2\n")


@pytest.fixture
def pool2(sh: Shell, client: BatchClient, tmp_path: Path) -> Iterator[Shell]:
    """A 2-node pool with its SSH user and the volume's config."""
    source = tmp_path / "src"
    for name, text in FILES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    sh.write("config.yaml", config_yaml(source))
    with ssh_pool(sh, client, POOL, 2, tmp_path / "keys") as made:
        yield made


def test_ingress_to_the_shared_volume_is_seen_by_every_node(
        pool2: Shell, client: BatchClient, settings: EngineSettings,
        capfd: pytest.CaptureFixture[str]) -> None:
    sent = pool2("data", "ingress")
    assert f"to {VOLUME}/in" in sent.output and "shared by the nodes" in sent.output, sent.output
    spread = re.search(r"files sent through:\s+\S+ (\d+),\s+\S+ (\d+)\)", sent.output)
    assert spread and all(int(n) > 0 for n in spread.groups()), sent.output
    expected = "".join(FILES[name] for name in sorted(FILES))
    listing = " ".join(f"{VOLUME}/in/{name}" for name in sorted(FILES))
    for cardinal in ("0", "1"):
        capfd.readouterr()
        pool2("pool", "ssh", "--cardinal", cardinal, "--", f"cat {listing}")
        assert capfd.readouterr().out == expected, f"node {cardinal}"
        # The account key's home stays closed to the node's admin user.
        denied = pool2("pool", "ssh", "--cardinal", cardinal, "--",
                       f"ls {settings.data_dir}", ok=False)
        assert denied.exit_code != 0
        assert "Permission denied" in capfd.readouterr().err
    pool2.write("jobs.yaml", f"job_specifications:\n- id: {JOB}\n  shared_data_volumes:\n"
                             f"  - glustervol\n  tasks:\n  - docker_image: {IMAGE}\n"
                             f"    command: sh -c 'cd /shared/in && md5sum {' '.join(FILES)}'\n")
    try:
        ran = pool2("jobs", "add", "--tail", "stdout.txt")
        for name, text in FILES.items():  # half of them came through the other node
            assert f"{hashlib.md5(text.encode()).hexdigest()}  {name}" in ran.output, ran.output
    finally:
        pool2("jobs", "del", "--wait", "-y", ok=False)
