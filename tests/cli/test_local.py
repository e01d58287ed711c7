"""``shipyard local start`` refuses a data dir its own nodes could not see, and changes nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shipyard.cli.main import cli
from shipyard.engine import control
from shipyard.engine.nodes.daemon import hidden_root


@pytest.mark.parametrize("data_dir", ["/tmp/shipyard-x", "/dev/shm/a/b", "/run/shipyard",
                                      "/mnt/batch/x", "/var/lib/docker/shipyard"])
def test_local_start_refuses_a_data_dir_nodes_cannot_see(data_dir: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:  # scripts/test runs this tier unprivileged; root is refused first
        monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(cli, ["local", "start", "--data-dir", data_dir, "--port", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 1
    assert f"data dir {data_dir} lies under" in result.output
    assert "choose a data dir elsewhere" in result.output
    assert "Traceback" not in result.output
    # os.path.exists, not Path.exists: run unprivileged (scripts/test's not-root tier), the
    # user cannot stat below /var/lib/docker (0700), and a mkdir there would have failed
    # with a traceback the asserts above rule out.
    assert not os.path.exists(data_dir), "a refused data dir must not be created"


def test_hidden_root_follows_symlinks(tmp_path: Path) -> None:
    link = Path("/var/tmp") / f"shipyard-link-{tmp_path.name}"
    link.symlink_to(tmp_path)
    try:
        assert hidden_root(link / "engine") == "/tmp"
    finally:
        link.unlink()
    assert hidden_root(Path("/var/lib/shipyard/local")) is None
    assert hidden_root(Path("/var/tmp/shyc-1")) is None


@pytest.fixture
def ordinary_user(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data dir nodes could see, for a user who is not root (played, when run as root)."""
    if os.geteuid() == 0:  # scripts/test runs this tier unprivileged: there it is real
        monkeypatch.setattr(os, "geteuid", lambda: 65534)
    home = Path(tempfile.mkdtemp(prefix="shipyard-user-", dir="/var/tmp"))
    monkeypatch.setenv("SHIPYARD_DATA_DIR", str(home / "engine"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(home)  # no credentials.yaml: the local engine is the default
    yield home / "engine"
    started = control.stop(home / "engine")  # only if the refusal broke: never leave one
    shutil.rmtree(home)
    assert started is None, "an engine was started for an ordinary user"


@pytest.mark.parametrize("argv", [["local", "start"], ["pool", "list"], ["jobs", "list"]])
def test_an_ordinary_user_is_told_the_local_engine_needs_root(ordinary_user: Path,
                                                              argv: list[str]) -> None:
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "the local engine needs root" in result.output
    assert "Traceback" not in result.output
    assert not ordinary_user.exists(), "nothing may be created for an engine that cannot start"


@pytest.mark.parametrize("argv", [["local", "status"], ["local", "stop"]])
def test_a_state_this_user_cannot_read_is_not_reported_as_no_engine(
        ordinary_user: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    """A root engine keeps its state 0600 in a 0700 dir: an ordinary user cannot tell."""
    ordinary_user.mkdir()
    state = ordinary_user / "engine.json"
    state.write_text('{"pid": 1}')
    state.chmod(0)
    if os.geteuid() == 0 or os.access(state, os.R_OK):  # root reads anything: played
        real = Path.open

        def refused(path: Path, *args: Any, **kwargs: Any) -> Any:
            if path == state:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refused)
    try:
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    finally:
        monkeypatch.undo()
        state.unlink()
        ordinary_user.rmdir()
    assert result.exit_code == 1, result.output
    assert f"cannot read the local engine's state {state}" in result.output
    assert "not running" not in result.output and "Traceback" not in result.output
