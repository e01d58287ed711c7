"""``shipyard local start`` refuses a data dir its own nodes could not see, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shipyard.cli.main import cli
from shipyard.engine.nodes.daemon import hidden_root


@pytest.mark.parametrize("data_dir", ["/tmp/shipyard-x", "/dev/shm/a/b", "/run/shipyard",
                                      "/mnt/batch/x", "/var/lib/docker/shipyard"])
def test_local_start_refuses_a_data_dir_nodes_cannot_see(data_dir: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(cli, ["local", "start", "--data-dir", data_dir, "--port", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 1
    assert f"data dir {data_dir} lies under" in result.output
    assert "choose a data dir elsewhere" in result.output
    assert "Traceback" not in result.output
    assert not Path(data_dir).exists(), "a refused data dir must not be created"


def test_hidden_root_follows_symlinks(tmp_path: Path) -> None:
    link = Path("/var/tmp") / f"shipyard-link-{tmp_path.name}"
    link.symlink_to(tmp_path)
    try:
        assert hidden_root(link / "engine") == "/tmp"
    finally:
        link.unlink()
    assert hidden_root(Path("/var/lib/shipyard/local")) is None
    assert hidden_root(Path("/var/tmp/shyc-1")) is None
