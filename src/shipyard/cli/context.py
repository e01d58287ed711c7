"""The state one CLI invocation shares: flags, the parsed config and the Batch client.

Config and client are made on first use, so ``shipyard local status`` never reads YAML,
a dry run never builds a client, and a config error surfaces only in the commands that
need the config. This is also where the local engine is started: the client side
(``batch/``) only ever gets an address and a key, whoever serves them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard.batch.client import Endpoint, azure_endpoint, make_client
from shipyard.errors import NotRootError

if TYPE_CHECKING:
    from azure.batch import BatchClient

    from shipyard.config import ShipyardConfig
    from shipyard.engine.control import EngineState
    from shipyard.engine.settings import EngineSettings

#: Environment variables Batch Shipyard documents in lieu of the file options.
FILE_ENV = {"credentials": "SHIPYARD_CREDENTIALS_CONF", "config": "SHIPYARD_CONFIG_CONF",
            "pool": "SHIPYARD_POOL_CONF", "jobs": "SHIPYARD_JOBS_CONF"}

#: Batch Shipyard's ``--aad-*`` options: the ``aad`` key each fills, and its help.
AAD_OPTIONS = {
    "--aad-endpoint": ("endpoint", "Entra ID resource endpoint of Batch."),
    "--aad-directory-id": ("directory_id", "Entra ID directory (tenant) id."),
    "--aad-application-id": ("application_id", "Entra ID application (client) id."),
    "--aad-auth-key": ("auth_key", "Entra ID application secret."),
    "--aad-authority-url": ("authority_url", "Entra ID authority URL."),
    "--aad-user": ("user", "Entra ID user."),
    "--aad-password": ("password", "Entra ID user's password."),
    "--aad-cert-private-key": ("rsa_private_key_pem", "Entra ID certificate PEM (path)."),
    "--aad-cert-thumbprint": ("x509_cert_sha1_thumbprint",
                              "Entra ID certificate SHA1 thumbprint."),
}


@dataclass
class App:
    """Options of one command line (wherever typed) and lazily built collaborators."""

    configdir: Path | None = None
    files: dict[str, Path | None] = field(default_factory=dict)
    aad: dict[str, str] = field(default_factory=dict)
    raw: bool = False
    yes: bool = False
    verbose: bool = False
    debug: bool = False
    show_config: bool = False

    def config_files(self) -> dict[str, Path | None]:
        """The four file options, each falling back to its environment variable."""
        found: dict[str, Path | None] = {}
        for role, env in FILE_ENV.items():
            value = self.files.get(role) or os.environ.get(env) or None
            found[role] = Path(value) if value else None
        return found

    def aad_options(self) -> dict[str, str]:
        """The ``--aad-*`` values, each falling back to its ``SHIPYARD_AAD_*`` variable."""
        found = {}
        for option, (key, _) in AAD_OPTIONS.items():
            env = "SHIPYARD_" + option[2:].upper().replace("-", "_")
            value = self.aad.get(key) or os.environ.get(env)
            if value:
                found[key] = value
        return found

    @cached_property
    def config(self) -> ShipyardConfig:
        from shipyard.config import load_config

        loaded = load_config(self.configdir, **self.config_files(),
                             batch_aad=self.aad_options() or None)
        if self.show_config:
            click.echo(json.dumps(shown_config(loaded), indent=2, default=str), err=True)
        return loaded

    @cached_property
    def endpoint(self) -> Endpoint:
        if self._no_config_given():
            return local_endpoint()  # the embedded default: this machine's engine
        # load_config checks every file it finds: a bad config fails before anything starts.
        credentials = self.config.credentials
        batch = credentials.batch
        if batch.is_local:
            return local_endpoint()
        key = batch.account_key.get_secret_value() if batch.account_key else None
        aad = credentials.batch_aad
        if aad is None:
            return azure_endpoint(batch.account_service_url, key, batch.account)
        from shipyard.batch.client import BATCH_RESOURCE
        from shipyard.batch.identity import entra_credential

        return azure_endpoint(batch.account_service_url, None, batch.account,
                              token=entra_credential(aad),
                              resource=aad.endpoint or BATCH_RESOURCE)

    @cached_property
    def client(self) -> BatchClient:
        return make_client(self.endpoint)

    def where(self) -> str:
        """The service URL if it is known already (for error messages; starts nothing)."""
        known = self.__dict__.get("endpoint")
        return known.url if isinstance(known, Endpoint) else ""

    def _no_config_given(self) -> bool:
        if self.configdir is not None or any(self.config_files().values()):
            return False
        if os.environ.get("SHIPYARD_CONFIGDIR"):
            return False
        return not Path("credentials.yaml").exists()

    def configure_logging(self) -> None:
        """``--debug``: everything; ``-v``: each request and answer; else warnings only."""
        level = logging.DEBUG if self.debug else logging.WARNING
        logging.basicConfig(level=level, force=True,
                            format="%(levelname)s %(name)s: %(message)s")
        # The SDK logs tracebacks of errors it then raises; we report those ourselves.
        logging.getLogger("azure").setLevel(logging.DEBUG if self.debug else logging.CRITICAL)
        requests = logging.INFO if self.verbose and not self.debug else logging.NOTSET
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(requests)
        logging.getLogger("shipyard").setLevel(requests)

    def warn_local_hardware(self) -> None:
        """One line on stderr when the local engine runs a GPU or RDMA size without them."""
        from shipyard.factory.accel import local_warning

        line = local_warning(self.config.pool.vm_size) if self.config.is_local else None
        if line:
            click.echo(line, err=True)

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
            from shipyard.cli.app import console

            console.print(text)


def local_endpoint() -> Endpoint:
    """This machine's engine, started if it is not running (the embedded default)."""
    from shipyard.engine.settings import EngineSettings, default_data_dir

    state, _ = start_local_engine(EngineSettings(data_dir=default_data_dir()))
    return Endpoint(state.url, state.account, state.key, local=True)


def start_local_engine(settings: EngineSettings) -> tuple[EngineState, bool]:
    """The engine of ``settings.data_dir``, started if none answers (True if started here).

    A user who is not root cannot start one (its nodes are network namespaces with their
    own dockerds): that is said in one line before anything is made, where ``control.start``
    gave an ordinary user a traceback from the data dir. An engine already answering is
    used by anyone who can read its state.
    """
    from shipyard.engine import control

    if os.geteuid() != 0 and not _engine_answers(settings.data_dir):
        raise NotRootError(
            "the local engine needs root on Linux: its nodes are network namespaces "
            "with their own Docker daemons",
            hint="run it as root (sudo), or set credentials.yaml to an Azure Batch account")
    return control.start(settings)


def _engine_answers(data_dir: Path) -> bool:
    from shipyard.engine import control

    current = control.read_state(data_dir)
    return current is not None and control.answers(current)


def shown_config(cfg: ShipyardConfig) -> dict[str, Any]:
    """The loaded config as plain data, secrets masked (``--show-config``)."""
    parts: dict[str, Any] = {"credentials": cfg.credentials.model_dump(mode="json")}
    if cfg.global_file is not None:
        parts["config"] = cfg.global_file.model_dump(mode="json")
    if cfg.pool_file is not None:
        parts["pool_specification"] = cfg.pool_file.model_dump(mode="json")
    if cfg.jobs_file is not None:
        parts["job_specifications"] = [job.model_dump(mode="json") for job in cfg.jobs_file]
    return parts


pass_app = click.make_pass_decorator(App, ensure=True)
