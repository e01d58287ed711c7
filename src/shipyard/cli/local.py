"""``shipyard local``: start, stop and inspect the embedded Azure Batch engine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from shipyard.cli.app import console, reported
from shipyard.cli.context import start_local_engine
from shipyard.engine.settings import (
    DEFAULT_PORT,
    DEV_ACCOUNT,
    DEV_KEY,
    EngineSettings,
    default_data_dir,
)

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where the engine keeps its state [default: $SHIPYARD_DATA_DIR or "
         "/var/lib/shipyard/local].")


@click.group()
def local() -> None:
    """The local Azure Batch engine with real compute nodes."""


@local.command()
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the account.")
@click.option("--account", default=DEV_ACCOUNT, show_default=True, envvar="SHIPYARD_ACCOUNT")
@click.option("--key", default=DEV_KEY, envvar="SHIPYARD_KEY", show_default=False,
              help="Base64 account key [default: the documented development key].")
@data_dir_option
@reported
def start(port: int, host: str, account: str, key: str, data_dir: Path | None) -> None:
    """Start the engine in the background (does nothing if it already runs)."""
    settings = EngineSettings(data_dir=data_dir or default_data_dir(), host=host, port=port,
                              account=account, key=key)
    state, started = start_local_engine(settings)
    verb = "started" if started else "already running"
    console.print(f"engine {verb}: {state.url} account {state.account} (pid {state.pid}, "
                  f"data {state.data_dir})")


@local.command()
@data_dir_option
@reported
def stop(data_dir: Path | None) -> None:
    """Stop the engine; pools and nodes stay and come back with the next start."""
    from shipyard.engine import control  # the engine loads for these commands only

    pid = control.stop(data_dir or default_data_dir())
    console.print("engine was not running" if pid is None else f"engine stopped (pid {pid})")


@local.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print url, account, key, pid, data_dir, storage.")
@data_dir_option
@reported
def status(as_json: bool, data_dir: Path | None) -> None:
    """Say whether the engine runs, and where."""
    from shipyard.engine import control  # the engine loads for these commands only

    control.check_readable(data_dir or default_data_dir())
    state = control.read_state(data_dir or default_data_dir())
    running = state is not None and control.answers(state)
    if as_json:
        payload: dict[str, object] = {"running": running}
        if state is not None:
            payload.update(state.public())
        click.echo(json.dumps(payload))
    elif state is None:
        console.print("engine is not running")
    else:
        health = "answering" if running else "NOT answering"
        console.print(f"engine {health}: {state.url} account {state.account} "
                      f"(pid {state.pid}, data {state.data_dir})")
        if state.storage:
            console.print(f"storage (Azurite): {state.storage['blob_endpoint']} "
                          f"account {state.storage['account']}")
    if not running:
        raise SystemExit(3)
