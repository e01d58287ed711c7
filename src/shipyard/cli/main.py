"""The ``shipyard`` command: Batch Shipyard's command groups over the Batch API."""

from __future__ import annotations

import logging
import os
import sys

import click

from shipyard import __version__
from shipyard.cli import options
from shipyard.cli.context import App
from shipyard.cli.lazy import Lazy, LazyGroup

#: The command groups, each imported only when it runs; a new group adds itself here.
COMMANDS = {
    "account": Lazy("shipyard.cli.account:account", "Batch account actions."),
    "dashboard": Lazy("shipyard.cli.dashboard:dashboard", "Serve a live web page of the "
                      "account's pools, nodes, jobs, tasks and files."),
    "data": Lazy("shipyard.cli.data:data", "Data actions."),
    "diag": Lazy("shipyard.cli.diag:diag", "Diagnostics actions."),
    "jobs": Lazy("shipyard.cli.jobs:jobs", "Jobs actions."),
    "local": Lazy("shipyard.cli.local:local",
                  "The local Azure Batch engine with real compute nodes."),
    "pool": Lazy("shipyard.cli.pool:pool", "Pool actions."),
    "storage": Lazy("shipyard.cli.storage:storage", "Blobs of the storage accounts of "
                    "credentials.yaml (or the local engine's)."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="shipyard")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Containerized multi-node MPI jobs on Azure Batch, or on the local engine.

    Batch Shipyard's commands and config files: shipyard <command> <subcommand>
    <options>; the shared options (--configdir, -y, --raw, ...) go after the
    subcommand, or before the command.
    """
    ctx.ensure_object(App).configure_logging()


options.install(cli)


def main() -> None:
    """Run the command, then leave without tearing the interpreter down.

    Finalizing the modules and objects a Batch command loads (SDK, pydantic, rich) took
    0.2 s after the work was done, measured with strace on ``jobs add``; a user waiting for
    a prompt pays that for nothing. Output is flushed and logging shut down first.
    """
    try:
        cli()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - click's standalone mode always exits
        code = 0
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: nothing more can be said
        code = code or 1
    os._exit(code or 0)
