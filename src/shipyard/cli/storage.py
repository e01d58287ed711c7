"""Storage for the CLI: the local account, rich progress, ``data ingress``, ``storage``.

``data ingress`` sends each ``global_resources.files`` source (a file or a directory, with
``include``/``exclude`` over paths relative to it) to the container and virtual directory of
its destination's ``data_transfer.remote_path``, creating the container if needed, with a
progress bar of bytes and files, or to the pool's nodes over SSH (``nodeingress``);
``pool add`` does the same when pool.yaml sets ``transfer_files_on_pool_creation``. Jobs
pick their data up with ``input_data`` or ``task_factory.file``; ``plan`` gives ``jobs add``
the storage lookups it needs.
``storage list|download LINK CONTAINER[/DIR]`` show and fetch what jobs left there (a
local config may name any link: it means the local engine's Azurite).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app, start_local_engine
from shipyard.errors import ConfigError, EngineError

if TYPE_CHECKING:  # storage, config models and rich's bars load when a command runs
    from shipyard.config.data import IngressFile, RemotePath
    from shipyard.storage.account import Account
    from shipyard.storage.blobs import Blobs
    from shipyard.storage.plan import StoragePlan


def local_account(link: str) -> Account:
    """The local engine's Azurite account under ``link`` (starting the engine if needed)."""
    from shipyard.engine.settings import EngineSettings, default_data_dir
    from shipyard.storage.account import Account

    state, _ = start_local_engine(EngineSettings(data_dir=default_data_dir()))
    if not state.storage:
        raise EngineError("the local engine reports no storage (Azurite)",
                          hint="restart it: shipyard local stop && shipyard local start")
    return Account(link, state.storage["account"], state.storage["key"],
                   state.storage["blob_endpoint"])


def plan(app: App) -> StoragePlan:
    """Storage lookups for one ``jobs add``."""
    from shipyard.storage.plan import StoragePlan

    return StoragePlan(app.config, local_account)


class TransferProgress:
    """A rich bar of bytes with a count of files; silent with ``--raw``."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichBar

        self.bar = RichBar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                           TransferSpeedColumn(), TextColumn("files"),
                           MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                           disable=quiet, transient=False)
        self.label = label
        self.bytes_task = self.bar.add_task(label, total=None, start=False)
        self.files = 0

    def __enter__(self) -> TransferProgress:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()

    def begin(self, total_bytes: int, total_files: int) -> None:
        self.bar.update(self.bytes_task, total=total_bytes)
        self.bar.start_task(self.bytes_task)
        self.total_files = total_files

    def advance(self, nbytes: int) -> None:
        self.bar.advance(self.bytes_task, nbytes)

    def file_done(self) -> None:
        self.files += 1
        self.bar.update(self.bytes_task, description=f"{self.label} "
                        f"({self.files}/{self.total_files} files)")


def source_files(entry: IngressFile, where: str) -> list[tuple[Path, str]]:
    """[(local file, path relative to the source)] of one entry, filters applied."""
    from shipyard.storage.blobs import keep

    source = Path(entry.source.path).expanduser()
    if not source.exists():
        raise ConfigError(f"config.yaml: {where}.source.path: {source} does not exist")
    paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    base = source.parent if source.is_file() else source
    found = [(path, path.relative_to(base).as_posix()) for path in paths]
    return [(path, relative) for path, relative in found
            if keep(relative, entry.source.include, entry.source.exclude)]


def ingress_files(entry: IngressFile, where: str) -> tuple[str, list[tuple[Path, str]]]:
    """(container, [(local file, blob name)]) for one ``global_resources.files`` entry."""
    remote = entry.destination.data_transfer.remote_path or ""
    container, _, prefix = remote.strip("/").partition("/")
    return container, [(path, f"{prefix}/{relative}" if prefix else relative)
                       for path, relative in source_files(entry, where)]


def ingress_targets(app: App) -> set[tuple[str, str]]:
    """(link, container) of every ``global_resources.files`` entry sent to storage."""
    return {(link, (entry.destination.data_transfer.remote_path or "").strip("/")
             .partition("/")[0])
            for entry in app.config.global_resources.files
            if not entry.destination.to_nodes
            and (link := entry.destination.storage_account_settings)}


@click.command("ingress")
@pass_app
@reported
def ingress(app: App) -> None:
    """Ingress data: send config.yaml's global_resources.files to storage or the nodes."""
    if not app.config.global_resources.files:
        raise ConfigError("config.yaml: global_resources.files: nothing to ingress",
                          hint="add a source and a destination: storage_account_settings, or "
                               "shared_data_volume / relative_destination_path for the nodes")
    ingress_all(app, plan(app))


def ingress_all(app: App, storage: StoragePlan, to_storage: bool = True,
                to_nodes: bool = True) -> None:
    """Send the ``global_resources.files`` entries to storage and/or the pool's nodes
    (``data ingress``; ``pool add`` with ``transfer_files_on_pool_creation`` sends to storage
    before the pool exists and to the nodes once they are ready). Every entry's destination
    and local files are checked before the first byte moves."""
    from shipyard.cli import nodeingress

    planned = []
    for index, entry in enumerate(app.config.global_resources.files):
        where = f"global_resources.files[{index}]"
        if entry.destination.to_nodes or not to_storage:
            continue
        link = entry.destination.storage_account_settings
        if not link:
            raise ConfigError(f"config.yaml: {where}.destination: needs storage_account_settings"
                              ", or shared_data_volume / relative_destination_path for nodes")
        planned.append((entry, storage.blobs(link), *ingress_files(entry, where)))
    nodes = nodeingress.plan_all(app, node_entries(app)) if to_nodes else nodeingress.NONE
    for entry, blobs, container, files in planned:
        _ingress_one(app, blobs, entry, container, files)
    nodeingress.send_all(app, nodes)


def node_entries(app: App) -> list[tuple[int, IngressFile]]:
    """(index, entry) of every ``global_resources.files`` entry sent to the pool's nodes."""
    return [(index, entry) for index, entry in enumerate(app.config.global_resources.files)
            if entry.destination.to_nodes]


def _ingress_one(app: App, blobs: Blobs, entry: IngressFile, container: str,
                 files: list[tuple[Path, str]]) -> None:
    blobs.ensure_container(container)
    started = time.monotonic()
    with TransferProgress(f"{entry.source.path} -> {container}", quiet=app.raw) as progress:
        sent = blobs.upload(container, files, progress)
    seconds = time.monotonic() - started
    app.say(f"ingressed {len(files)} file(s), {sent} bytes in {seconds:.1f} s to "
            f"{blobs.account.blob_endpoint}/{container}")


@click.group("storage")
def storage() -> None:
    """Blobs of the storage accounts of credentials.yaml (or the local engine's)."""


remote_path_argument = click.argument("remote_path", metavar="CONTAINER[/DIR]")
link_argument = click.argument("link", metavar="STORAGE_ACCOUNT_LINK")


def _where(link: str, remote_path: str, include: tuple[str, ...]) -> RemotePath:
    from shipyard.config.data import RemotePath

    return RemotePath(storage_account_settings=link, remote_path=remote_path, include=include)


@storage.command("list")
@link_argument
@remote_path_argument
@click.option("--include", multiple=True, help="fnmatch pattern over blob names (repeatable).")
@pass_app
@reported
def list_blobs(app: App, link: str, remote_path: str, include: tuple[str, ...]) -> None:
    """List the blobs under CONTAINER[/DIR] with their sizes."""
    found = plan(app).blobs(link).sizes(_where(link, remote_path, include))
    if app.raw:
        app.emit_raw([{"name": name, "size": size} for name, size in found])
        return
    console.print(render.table(f"blobs in {remote_path}", ("blob", "bytes"), found))


@storage.command("download")
@link_argument
@remote_path_argument
@click.argument("local_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include", multiple=True, help="fnmatch pattern over blob names (repeatable).")
@pass_app
@reported
def download(app: App, link: str, remote_path: str, local_dir: Path,
             include: tuple[str, ...]) -> None:
    """Download the blobs under CONTAINER[/DIR] into LOCAL_DIR, blob names kept as paths."""
    where = _where(link, remote_path, include)
    blobs = plan(app).blobs(link)
    found = blobs.sizes(where)
    if not found:
        raise ConfigError(f"no blobs under {remote_path} in link '{link}'"
                          + (f" matching {', '.join(include)}" if include else ""))
    with TransferProgress(f"{remote_path} -> {local_dir}", quiet=app.raw) as progress:
        received = blobs.download(where.container, found, local_dir, progress)
    app.say(f"downloaded {len(found)} file(s), {received} bytes into {local_dir}")
