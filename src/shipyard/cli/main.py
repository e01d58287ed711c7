"""The ``shipyard`` command: one group per room of work (``local`` for now)."""

from __future__ import annotations

import logging

import click

from shipyard import __version__
from shipyard.cli.local import local


@click.group()
@click.version_option(__version__, prog_name="shipyard")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """Containerized multi-node MPI jobs on Azure Batch, or on the local engine."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)


cli.add_command(local)


def main() -> None:
    cli()
