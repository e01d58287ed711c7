"""The shipyard command in an isolated environment: messages, exit codes, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from shipyard.cli.main import cli

CONFIGS = Path(__file__).parent.parent / "unit" / "configs"


def test_help_lists_the_command_groups(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--help")
    assert result.exit_code == 0
    for group in ("pool", "jobs", "data", "local"):
        assert group in result.output


def test_status_of_a_stopped_engine(run) -> None:  # type: ignore[no-untyped-def]
    result = run("local", "status", "--json")
    assert result.exit_code == 3
    assert json.loads(result.output) == {"running": False}


def no_engine_started(data_dir: Path) -> bool:
    return not (data_dir / "engine.json").exists()


def test_config_error_is_one_line_with_the_path(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "jobs.yaml").write_text("job_specifications:\n  - id: x\n    taks: []\n")
    (tmp_path / "pool.yaml").write_text("pool_specification:\n  id: p\n")
    result = run("--configdir", str(tmp_path), "jobs", "tasks", "list")
    assert result.exit_code == 1
    assert "jobs.yaml: job_specifications[0].taks: unknown key; did you mean 'tasks'?" \
        in result.output
    assert "Traceback" not in result.output
    assert no_engine_started(tmp_path / "engine"), "a bad config must change nothing"


def test_bad_filespec_says_what_it_must_be(run) -> None:  # type: ignore[no-untyped-def]
    result = run("data", "files", "get", "--filespec", "onlyjob")
    assert result.exit_code == 1
    assert "must be JOB,TASK,FILE" in result.output


def test_destructive_commands_refuse_without_a_terminal(run) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--configdir", str(CONFIGS / "azure-openmpi"), "pool",
                                      "del"], input="")
    assert result.exit_code != 0
    assert "-y" in result.output


def test_unreachable_azure_account_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    credentials = tmp_path / "credentials.yaml"
    original = (CONFIGS / "azure-openmpi" / "credentials.yaml").read_text()
    credentials.write_text(original.replace(
        "https://hpcbatch.westeurope.batch.azure.com", "http://127.0.0.1:9"))
    result = run("--configdir", str(CONFIGS / "azure-openmpi"), "--credentials",
                 str(credentials), "pool", "list")
    assert result.exit_code == 1
    assert "cannot reach the Batch service at http://127.0.0.1:9" in result.output
    assert "ZmFrZS1iYXRjaC1hY2NvdW50" not in result.output
