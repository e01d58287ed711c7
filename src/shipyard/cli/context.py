"""The state one CLI invocation shares: flags, the parsed config and the Batch client.

Config and client are made on first use, so ``shipyard local status`` never reads YAML
and a config error surfaces only in the commands that need the config.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from azure.batch import BatchClient

from shipyard.batch.client import Endpoint, make_client, resolve
from shipyard.cli.app import console
from shipyard.config import ShipyardConfig, load_config
from shipyard.factory.accel import local_warning


@dataclass
class App:
    """Root options and lazily built collaborators of one command line."""

    configdir: Path | None = None
    files: dict[str, Path | None] = field(default_factory=dict)
    raw: bool = False
    yes: bool = False

    @cached_property
    def config(self) -> ShipyardConfig:
        return load_config(self.configdir, **self.files)

    @cached_property
    def endpoint(self) -> Endpoint:
        if self._no_config_given():
            return resolve(None, None)  # the embedded default: this machine's engine
        # load_config checks every file it finds: a bad config fails before anything starts.
        batch = self.config.credentials.batch
        if batch is None or batch.is_local:
            return resolve(None, None)
        key = batch.account_key.get_secret_value() if batch.account_key else None
        return resolve(batch.account_service_url, key, batch.account)

    @cached_property
    def client(self) -> BatchClient:
        return make_client(self.endpoint)

    def _no_config_given(self) -> bool:
        if self.configdir is not None or any(self.files.values()):
            return False
        return not Path("credentials.yaml").exists()

    def confirm(self, question: str) -> None:
        """Ask before a destructive step unless ``-y``; without a terminal, refuse."""
        if self.yes:
            return
        if not sys.stdin.isatty():
            raise click.UsageError(f"{question} Pass -y to confirm without a terminal.")
        if not click.confirm(question, default=False):
            raise SystemExit(1)

    def emit_raw(self, payload: Any) -> None:
        click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))

    def say(self, text: str) -> None:
        if not self.raw:
            console.print(text)

    def warn_local_hardware(self) -> None:
        """One line on stderr when the local engine runs a GPU or RDMA size without them."""
        line = local_warning(self.config.pool.vm_size) if self.config.is_local else None
        if line:
            click.echo(line, err=True)


pass_app = click.make_pass_decorator(App)
