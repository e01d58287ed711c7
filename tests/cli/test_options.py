"""Batch Shipyard's shared options: after the subcommand, before the command, or from the
environment, with the same meaning; refused options say why; help and version."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shipyard.cli import options
from shipyard.cli.context import App, pass_app
from shipyard.cli.options import REFUSED
from tests.cli.conftest import Run

ROOT = Path(__file__).parent.parent.parent
RING = ROOT / "recipes" / "openmpi-ring" / "config"
AZURE = Path(__file__).parent.parent / "unit" / "configs" / "azure-openmpi"


def toy() -> click.Group:
    """A command tree with one leaf that prints what the App received."""
    @click.group()
    def root() -> None:
        pass

    @root.group()
    def grp() -> None:
        pass

    @grp.command()
    @pass_app
    def leaf(app: App) -> None:
        click.echo(json.dumps({"yes": app.yes, "raw": app.raw, "verbose": app.verbose,
                               "show_config": app.show_config, "debug": app.debug,
                               "configdir": str(app.configdir),
                               "files": {k: str(v) for k, v in app.config_files().items()},
                               "aad": app.aad_options()}, sort_keys=True))

    options.install(root)
    return root


SHARED = [["-y"], ["--yes"], ["--raw"], ["--show-config"], ["-v"], ["--verbose"],
          ["--debug"], ["--configdir", "cfg"], ["--credentials", "c.yaml"],
          ["--config", "g.yaml"], ["--pool", "p.yaml"], ["--jobs", "j.yaml"],
          ["--aad-directory-id", "tenant"], ["--aad-auth-key", "secret"]]


@pytest.mark.parametrize("option", SHARED, ids=lambda o: o[0])
def test_each_shared_option_means_the_same_before_between_and_after(
        option: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg").mkdir()
    root = toy()
    runner = CliRunner()
    seen = {runner.invoke(root, argv, catch_exceptions=False).output
            for argv in ([*option, "grp", "leaf"], ["grp", *option, "leaf"],
                         ["grp", "leaf", *option])}
    assert len(seen) == 1, seen
    plain = runner.invoke(root, ["grp", "leaf"], catch_exceptions=False).output
    assert seen != {plain}, f"{option} changed nothing"


def test_the_later_position_wins_and_env_is_below_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_POOL_CONF", "env.yaml")
    root = toy()

    def files(*argv: str) -> dict[str, str]:
        out = CliRunner().invoke(root, list(argv), catch_exceptions=False).output
        return dict(json.loads(out)["files"])

    assert files("grp", "leaf")["pool"] == "env.yaml"
    assert files("--pool", "a.yaml", "grp", "leaf")["pool"] == "a.yaml"
    assert files("--pool", "a.yaml", "grp", "leaf", "--pool", "b.yaml")["pool"] == "b.yaml"


def dry_jobs(run: Run, *argv: str) -> str:
    result = run(*argv)
    assert result.exit_code == 0, result.output
    return result.output


def test_configdir_after_before_and_from_the_environment_give_the_same_requests(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    after = dry_jobs(run, "jobs", "add", "--dry-run", "--raw", "--configdir", str(RING))
    before = dry_jobs(run, "--configdir", str(RING), "--raw", "jobs", "add", "--dry-run")
    monkeypatch.setenv("SHIPYARD_CONFIGDIR", str(RING))
    from_env = dry_jobs(run, "jobs", "add", "--dry-run", "--raw")
    assert after == before == from_env
    assert json.loads(after)["jobs"][0]["job"]["id"] == "openmpi-ring"


def test_configdir_defaults_to_the_current_directory(run: Run,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(RING)
    here = dry_jobs(run, "pool", "add", "--dry-run", "--raw")
    assert here == dry_jobs(run, "pool", "add", "--dry-run", "--raw", "--configdir", ".")
    assert json.loads(here)["create_pool"]["id"] == "openmpi-ring"


def test_file_options_and_their_variables_replace_the_dir_s_files(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = tmp_path / "other-pool.yaml"
    pool.write_text((RING / "pool.yaml").read_text().replace("id: openmpi-ring",
                                                             "id: elsewhere"))
    by_option = dry_jobs(run, "pool", "add", "--dry-run", "--raw", "--configdir", str(RING),
                         "--pool", str(pool))
    monkeypatch.setenv("SHIPYARD_POOL_CONF", str(pool))
    by_env = dry_jobs(run, "pool", "add", "--dry-run", "--raw", "--configdir", str(RING))
    assert by_option == by_env
    assert json.loads(by_option)["create_pool"]["id"] == "elsewhere"
    for name, variable in (("credentials", "SHIPYARD_CREDENTIALS_CONF"),
                           ("config", "SHIPYARD_CONFIG_CONF"), ("jobs", "SHIPYARD_JOBS_CONF")):
        monkeypatch.setenv(variable, str(tmp_path / f"missing-{name}.yaml"))
        result = run("jobs", "add", "--dry-run", "--configdir", str(RING))
        assert result.exit_code == 1
        assert f"no such file: {tmp_path / f'missing-{name}.yaml'}" in result.output
        monkeypatch.delenv(variable)


def test_show_config_prints_the_config_with_secrets_masked(run: Run) -> None:
    result = run("pool", "add", "--dry-run", "--show-config", "--configdir", str(AZURE))
    assert result.exit_code == 0, result.output
    assert '"account_service_url": "https://hpcbatch.westeurope.batch.azure.com"' in \
        result.output
    assert "ZmFrZS1iYXRjaC1hY2NvdW50" not in result.output
    assert "not-a-real-password" not in result.output
    assert '"account_key": "**********"' in result.output


@pytest.mark.parametrize("flag", sorted(REFUSED))
def test_options_that_make_no_sense_here_are_refused_with_a_reason(run: Run,
                                                                   flag: str) -> None:
    for argv in (("pool", "add", flag, "x"), (flag, "x", "pool", "add")):
        result = run(*argv)
        assert result.exit_code == 1
        assert "No such option" not in result.output
        assert result.output.strip() == f"error: {flag}: {REFUSED[flag]}"


def test_unknown_options_are_still_unknown(run: Run) -> None:
    result = run("pool", "add", "--no-such-thing")
    assert result.exit_code == 2 and "No such option" in result.output


COMMANDS = {
    (): ["account", "dashboard", "data", "diag", "jobs", "local", "pool", "storage"],
    ("pool",): ["add", "autoscale", "del", "exists", "images", "list", "nodes", "resize", "ssh",
                "stats", "user"],
    ("pool", "autoscale"): ["disable", "enable", "evaluate", "lastexec"],
    ("pool", "nodes"): ["count", "del", "grls", "list", "prune", "ps", "reboot", "zap"],
    ("pool", "user"): ["add", "del"],
    ("pool", "images"): ["list", "update"],
    ("jobs",): ["add", "cmi", "del", "disable", "enable", "list", "migrate", "stats", "tasks",
                "term", "timeline"],
    ("jobs", "tasks"): ["count", "del", "list", "term"],
    ("data",): ["files", "ingress"],
    ("storage",): ["download", "list"],
    ("data", "files"): ["get", "list", "node", "stream", "task"],
    ("account",): ["images", "info", "list", "quota"],
    ("diag",): ["logs"],
    ("diag", "logs"): ["upload"],
}


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "shipyard")
def test_help_lists_every_command_with_a_one_line_description(run: Run,
                                                              path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = run(*path, flag)
        assert result.exit_code == 0
        listed = result.output.split("Commands:\n", 1)[1].splitlines()
        names = [line.split()[0] for line in listed if line.startswith("  ")]
        assert names == COMMANDS[path]
        assert all(len(line.split(None, 1)) == 2 for line in listed if line.startswith("  "))


def test_leaf_help_shows_the_shared_options_where_batch_shipyard_documents_them(
        run: Run) -> None:
    result = run("pool", "add", "-h")
    for option in ("-y, --yes", "--raw", "--show-config", "-v, --verbose", "--configdir",
                   "--credentials", "--config", "--pool", "--jobs", "--aad-auth-key",
                   "--no-wait", "--recreate", "--dry-run"):
        assert option in result.output, option


def test_version(run: Run) -> None:
    from shipyard import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"shipyard, version {__version__}"


def test_verbose_logs_every_request_and_debug_everything() -> None:
    import logging

    http = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    try:
        App(verbose=True).configure_logging()
        assert http.getEffectiveLevel() == logging.INFO
        assert logging.getLogger("azure").getEffectiveLevel() == logging.CRITICAL
        App(debug=True).configure_logging()
        assert logging.getLogger("azure").getEffectiveLevel() == logging.DEBUG
        App().configure_logging()
        assert http.getEffectiveLevel() == logging.CRITICAL
    finally:
        http.setLevel(logging.NOTSET)
        App().configure_logging()
