"""The shipyard command in an isolated environment (temp dirs, NO_COLOR, fixed width).

``run`` invokes the real command tree in-process; its fixture fails the test if an
engine was started, since nothing in ``tests/cli`` may reach a service.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from shipyard.cli.main import cli
from shipyard.engine import control

Run = Callable[..., Result]
CLEARED = ("SHIPYARD_CONFIGDIR", "SHIPYARD_CREDENTIALS_CONF", "SHIPYARD_CONFIG_CONF",
           "SHIPYARD_POOL_CONF", "SHIPYARD_JOBS_CONF")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(tmp_path / "engine"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("SHIPYARD_AAD_")]:
        monkeypatch.delenv(name)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)

    yield invoke
    # None of these tests should start an engine; if one did, stop it and fail.
    assert control.stop(tmp_path / "engine") is None, "a test started the local engine"
