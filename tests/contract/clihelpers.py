"""Running the shipyard command in-process against the session's real engine.

``sh`` writes a config dir (local credentials, config.yaml preloading the test image) and
runs commands with ``--configdir`` after them, as Batch Shipyard's documentation types
them; ``SHIPYARD_DATA_DIR`` points at the session engine, so ``account_service_url:
local`` finds it. The current directory is a fresh one per test (files land there).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from click.testing import CliRunner, Result

from shipyard.cli.main import cli
from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.realengine import IMAGE, delete_pool


@pytest.fixture
def sh(engine: control.EngineState, settings: EngineSettings, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield Shell(tmp_path / "config")


class Shell:
    """Writes a config dir and runs ``shipyard`` commands with ``--configdir`` after them."""

    def __init__(self, configdir: Path) -> None:
        self.configdir = configdir
        configdir.mkdir()
        self.write("credentials.yaml", "credentials:\n  batch:\n    account_service_url: local\n")
        self.write("config.yaml", f"global_resources:\n  docker_images:\n  - {IMAGE}\n")

    def write(self, name: str, text: str) -> None:
        (self.configdir / name).write_text(text)

    def __call__(self, *argv: str, ok: bool = True) -> Result:
        # Options go before a ``-- COMMAND`` (pool ssh), else last.
        cut = argv.index("--") if "--" in argv else len(argv)
        args = [*argv[:cut], "--configdir", str(self.configdir), *argv[cut:]]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"shipyard {' '.join(argv)}: {result.output}"
        return result

    def raw(self, *argv: str) -> object:
        return json.loads(self(*argv, "--raw").output)


def pool_yaml(pool_id: str, nodes: int) -> str:
    return (f"pool_specification:\n  id: {pool_id}\n  vm_count:\n    dedicated: {nodes}\n"
            "  inter_node_communication_enabled: true\n")


def ssh_pool_yaml(pool_id: str, nodes: int, keys: Path) -> str:
    """``pool_yaml`` with an SSH user whose generated key goes to ``keys``."""
    return pool_yaml(pool_id, nodes) + ("  ssh:\n    username: shipyard\n"
                                        f"    generated_file_export_path: {keys}\n")


@contextlib.contextmanager
def ssh_pool(sh: Shell, client: BatchClient, pool_id: str, nodes: int, keys: Path
             ) -> Iterator[Shell]:
    """A pool made by ``shipyard pool add`` with its SSH user (config.yaml as ``sh`` has it),
    deleted afterwards."""
    sh.write("pool.yaml", ssh_pool_yaml(pool_id, nodes, keys))
    try:
        added = sh("pool", "add")
        assert f"SSH user shipyard added to {nodes} node(s)" in added.output, added.output
        yield sh
    finally:
        delete_pool(client, pool_id)


def jobs_yaml(job_id: str, command: str) -> str:
    return (f"job_specifications:\n- id: {job_id}\n  tasks:\n  - docker_image: {IMAGE}\n"
            f"    command: {command}\n")
