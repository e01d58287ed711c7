"""``shipyard diag logs upload``: a node's Batch service logs into a storage container.

As Batch Shipyard does it: the node is ``--nodeid`` or number ``--cardinal`` of pool.yaml's
pool (0 when neither is given), the container is ``<storage_entity_prefix>-diaglogs`` of
config.yaml's ``batch_shipyard.storage_account_settings`` (locally: the engine's Azurite),
created if missing, and the range starts at the node's allocation. The Batch service
(``upload_node_logs``) does the upload, on Azure after it answered; ``--wait`` lists the
blobs until all it announced are there, and ``--generate-sas`` prints a read/list URL of
the container to hand to whoever reads the logs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from shipyard.cli.app import err_console, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ConfigError, ShipyardError

if TYPE_CHECKING:
    from azure.batch.models import BatchNode

    from shipyard.storage.blobs import Blobs

#: How long ``--wait`` waits for the announced files (Batch Shipyard: 150 polls 2 s apart).
WAIT_SECONDS = 300.0
#: How often a long ``--wait`` says how far the upload is.
PROGRESS_EVERY = 10.0
#: Batch Shipyard's lifetime of the read/list SAS ``--generate-sas`` prints.
SHARE_SAS = timedelta(days=60)


@click.group("diag")
def diag() -> None:
    """Diagnostics actions."""


@diag.group("logs")
def logs() -> None:
    """Diagnostic log actions."""


@logs.command("upload")
@click.option("--cardinal", type=click.IntRange(0), help="Zero-based number of the node "
                                                         "in the pool to upload from.")
@click.option("--generate-sas", is_flag=True,
              help="Print a read/list SAS URL of the container.")
@click.option("--nodeid", help="Node id to upload from.")
@click.option("--wait", is_flag=True, help="Wait for the log upload to complete.")
@pass_app
@reported
def upload(app: App, cardinal: int | None, generate_sas: bool, nodeid: str | None,
           wait: bool) -> None:
    """Upload Batch service logs from a compute node."""
    if cardinal is not None and nodeid is not None:
        raise ConfigError("give only one of --cardinal and --nodeid")
    pool_id = app.config.pool.id
    node = _node(app, pool_id, cardinal, nodeid)
    blobs, container = _container(app)
    directory, count = _request(app, pool_id, node, blobs, container)
    if wait:
        _wait(blobs, container, directory, count, app.raw)
    where = f"{blobs.account.blob_endpoint}/{container}/{directory}"
    shared = blobs.container_url(container, "rl", SHARE_SAS) if generate_sas else None
    if app.raw:
        app.emit_raw({"pool_id": pool_id, "node_id": node.id, "container": container,
                      "virtual_directory": directory, "files": count, "uploaded": wait,
                      "url": where, "sas_url": shared})
        return
    app.say(f"{'uploaded' if wait else 'uploading'} {count} log file(s) of node {node.id} "
            f"(pool {pool_id}) to {where}")
    if shared:
        app.say(f"read/list URL to share: {shared}")


def _node(app: App, pool_id: str, cardinal: int | None, nodeid: str | None) -> BatchNode:
    if nodeid is not None:
        return app.client.get_node(pool_id, nodeid)
    found = list(app.client.list_nodes(pool_id))
    index = cardinal or 0
    if index >= len(found):
        raise ConfigError(f"--cardinal {index}: pool {pool_id} has {len(found)} node(s)")
    return found[index]


def _container(app: App) -> tuple[Blobs, str]:
    """The blobs of the logs' storage account and the container, created if missing."""
    from shipyard.cli.storage import plan
    from shipyard.config.global_config import BatchShipyardSettings
    from shipyard.storage.plan import LOCAL_LINK

    cfg = app.config
    settings = cfg.global_file.batch_shipyard if cfg.global_file else BatchShipyardSettings()
    link = settings.storage_account_settings or (LOCAL_LINK if cfg.is_local else None)
    if link is None:
        raise ConfigError("config.yaml: batch_shipyard.storage_account_settings: required "
                          "to upload logs (a storage account link of credentials.yaml)")
    blobs = plan(app).blobs(link)
    container = f"{settings.storage_entity_prefix}-diaglogs"
    blobs.ensure_container(container)
    return blobs, container


def _request(app: App, pool_id: str, node: BatchNode, blobs: Blobs, container: str
             ) -> tuple[str, int]:
    """Ask the service to upload the node's logs since its allocation; (directory, files)."""
    from azure.batch import models

    from shipyard.storage.account import LONG_SAS

    # The upload SAS lasts generated_sas_expiry_days, else 30 years, as Batch Shipyard's.
    cfg = app.config
    days = cfg.global_file.batch_shipyard.generated_sas_expiry_days if cfg.global_file else None
    url = blobs.container_url(container, "rwdl", timedelta(days=days) if days else LONG_SAS)
    since = node.allocation_time or datetime.now(UTC) - timedelta(days=1)
    result = app.client.upload_node_logs(pool_id, node.id, models.UploadBatchServiceLogsOptions(
        container_url=url, start_time=since))
    if not result.number_of_files_uploaded:
        raise ShipyardError(f"node {node.id} has no service logs since {since:%Y-%m-%d %H:%M}")
    return result.virtual_directory_name, result.number_of_files_uploaded


def _wait(blobs: Blobs, container: str, directory: str, count: int, quiet: bool) -> None:
    """Until ``count`` blobs are under ``directory``; a line every so often on long waits."""
    from shipyard.batch.waiting import poll
    from shipyard.config.data import RemotePath

    where = RemotePath(storage_account_settings=blobs.account.link,
                       remote_path=f"{container}/{directory}")
    started = time.monotonic()
    said = [started]

    def arrived() -> int | None:
        found = len(blobs.names(where))
        now = time.monotonic()
        if not quiet and now - said[0] >= PROGRESS_EVERY:
            said[0] = now
            err_console.print(f"waiting: {found}/{count} log file(s) uploaded after "
                              f"{now - started:.0f} s")
        return found if found >= count else None

    try:
        poll(f"{count} log files in {container}/{directory}", arrived, WAIT_SECONDS)
    except ShipyardError as exc:
        raise ShipyardError(f"{exc.message}; the service may still be uploading: see "
                            f"'shipyard storage list {blobs.account.link} "
                            f"{container}/{directory}'") from exc
