"""``shipyard dashboard`` (the web page) and ``shipyard jobs timeline`` (one task's timeline).

Both use the CLI's credentials and client: the dashboard shows whatever account the config
points at, the local engine included. The server binds to loopback only.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import click

from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ConfigError

DEFAULT_PORT = 10980
HOST = "127.0.0.1"


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {HOST}:{port}: {exc.strerror}",
                          hint="pick another with --port (0: any free port)") from exc
    sock.listen(64)
    return sock


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@pass_app
@reported
def dashboard(app: App, port: int) -> None:
    """Serve a live web page of the account's pools, nodes, jobs, tasks and files."""
    import uvicorn  # the server only loads for this command

    from shipyard.dashboard.app import create_app

    endpoint = app.endpoint
    sock = _listen(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    site = create_app(app.client, endpoint.url)
    console.print(f"dashboard of account {endpoint.account} ({endpoint.url}) at "
                  f"[bold]{url}[/bold]  (Ctrl-C stops it)", soft_wrap=True)
    server = uvicorn.Server(uvicorn.Config(site, log_level="warning", access_log=False))
    server.run(sockets=[sock])


@click.command("timeline")
@click.option("--jobid", required=True)
@click.option("--taskid", required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the timeline as FILE.png, FILE.html or FILE.svg.")
@pass_app
@reported
def timeline(app: App, jobid: str, taskid: str, out: Path | None) -> None:
    """Where the time of a (multi-instance) task went, node by node."""
    from shipyard.batch import observe
    from shipyard.dashboard import render

    if out is not None:
        render.kind(out)  # a wrong suffix fails before anything is read
    data = observe.task_timeline(app.client, jobid, taskid).as_json()
    if out is not None:
        render.write(data, out)
    if app.raw:
        app.emit_raw(data)
        return
    app.say(f"timeline of {jobid}/{taskid}, seconds per phase:")
    for row in data["rows"]:
        spans = " · ".join(f"{phase} {_seconds(row, phase)}" for phase in data["phases"]
                           if _seconds(row, phase))
        app.say(f"  {render.row_label(row)} ({render.short_node(row['node'])}): {spans}")
    for note in data["notes"]:
        app.say(f"[dim]{note}[/dim]")
    if data["late"]:
        app.say(f"last node ready: {data['late']}")
    if out is not None:
        app.say(f"written to {out}")


def _seconds(row: dict[str, Any], phase: str) -> str:
    bars = [b for b in row["bars"] if b["phase"] == phase]
    return f"{sum(b['seconds'] for b in bars):.2f}" if bars else ""
