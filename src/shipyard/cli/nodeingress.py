"""``data ingress`` to the pool's nodes over SSH (what goes where: ``factory/ingress.py``).

The same path on Azure and on the local engine: the pool's SSH user (``pool user add``)
logs in at each node's ``get_node_remote_login_settings`` address with the key of
``data_transfer.ssh_private_key``, else of ``pool_specification.ssh`` (the generated
``id_rsa_shipyard`` when none is given), as Batch Shipyard does.

Everything is checked before the first byte moves: each entry's destination and local
files are known and the key exists and is private (:func:`check_all`, which needs no pool:
``pool add`` runs it before it creates one); every node of the pool is idle or running;
every receiving node gets its directories made over ssh, which proves the user can log in
there. The logins listed then are the ones used to send; a node that has left the pool
since is named in an error, or, for a shared volume, its files go through the nodes left.
Then the copies run, up to ``max_parallel_transfers_per_node`` per node,
under one progress bar of bytes and files; each copy's timeout grows with its size. The
first failure stops the other lanes after their current file and is reported with its
node and file, and with how much of the entry was sent: never as done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.cli import remote
from shipyard.cli.remote import Login
from shipyard.cli.sshkeys import SshUser, ssh_user
from shipyard.errors import CommandError, ConfigError, ShipyardError
from shipyard.factory import ingress as plans
from shipyard.factory.shell import quote

if TYPE_CHECKING:
    from shipyard.cli.context import App
    from shipyard.cli.storage import TransferProgress
    from shipyard.config.data import IngressFile

READY = ("idle", "running")
#: A copy may take BASE_TIMEOUT plus its size at MIN_RATE before it is given up.
BASE_TIMEOUT = 60.0
MIN_RATE = 1 << 20


@dataclass(frozen=True)
class Checked:
    """One node entry, checked without the pool: where it goes, what is sent, whose key."""

    where: str
    entry: IngressFile
    target: plans.Destination
    files: tuple[plans.LocalFile, ...]
    key: Path | None  # data_transfer.ssh_private_key, when the entry names its own


@dataclass(frozen=True)
class Planned:
    """One entry, checked and planned: who logs in, and what goes where."""

    checked: Checked
    user: SshUser
    plan: plans.NodePlan

    @property
    def where(self) -> str:
        return self.checked.where

    @property
    def entry(self) -> IngressFile:
        return self.checked.entry


@dataclass(frozen=True)
class NodeIngress:
    """Every node entry planned, and the node logins they were planned with."""

    items: tuple[Planned, ...] = ()
    logins: Mapping[str, Login] = field(default_factory=dict)


#: No node entries: nothing to send.
NONE = NodeIngress()


def transfer_timeout(size: int) -> float:
    return BASE_TIMEOUT + size / MIN_RATE


def check_all(app: App, entries: Sequence[tuple[int, IngressFile]]) -> list[Checked]:
    """What can be checked of the node entries before the pool or its nodes exist: each
    destination, its local files and the keys to log in with (``pool add`` runs this
    before it creates anything)."""
    return [check(app, index, entry) for index, entry in entries]


def check(app: App, index: int, entry: IngressFile) -> Checked:
    """One node entry's destination, non-empty local files and SSH key, checked."""
    from shipyard.cli.storage import source_files
    from shipyard.factory.volumes import volume_context

    where = f"global_resources.files[{index}]"
    root = plans.node_root(app.config.pool, app.config.is_local)
    target = plans.destination(entry.destination,
                               volume_context(app.config).volumes.shared_data_volumes,
                               root, f"{where}.destination")
    files = tuple(plans.LocalFile(path, relative, path.stat().st_size)
                  for path, relative in source_files(entry, where))
    if not files:
        raise ConfigError(f"config.yaml: {where}.source: no files to send from "
                          f"{entry.source.path}", hint="check its path, include and exclude")
    return Checked(where, entry, target, files, _keys(app, entry, where))


def _keys(app: App, entry: IngressFile, where: str) -> Path | None:
    """The entry's own key, checked; else the pool user's given private key, checked."""
    ssh = app.config.pool.ssh
    if ssh is None:
        raise ConfigError(f"config.yaml: {where}.destination: sending to the nodes needs "
                          "pool.yaml's pool_specification.ssh", hint="add ssh: {username: "
                          "shipyard} to pool.yaml and run 'shipyard pool user add'")
    given = entry.destination.data_transfer.ssh_private_key
    if given is not None:
        return _private_key(Path(given).expanduser(),
                            f"config.yaml: {where}.destination.data_transfer.ssh_private_key")
    if not (ssh.ssh_public_key or ssh.ssh_public_key_data):
        return None  # the generated id_rsa_shipyard, made by 'pool user add'
    if not ssh.ssh_private_key:
        raise ConfigError("pool.yaml: pool_specification.ssh.ssh_private_key: required to "
                          f"send {where} to the nodes with the public key given",
                          hint=f"give it, or {where}.destination.data_transfer."
                               "ssh_private_key")
    _private_key(Path(ssh.ssh_private_key).expanduser(),
                 "pool.yaml: pool_specification.ssh.ssh_private_key")
    return None


def _private_key(key: Path, field: str) -> Path:
    if not key.is_file():
        raise ConfigError(f"{field}: no such file: {key}")
    if key.stat().st_mode & 0o077:
        raise ConfigError(f"{field}: {key} is readable by others; ssh refuses such a key",
                          hint=f"chmod 600 {key}")
    return key


def plan_all(app: App, entries: Sequence[tuple[int, IngressFile]]) -> NodeIngress:
    """Check and plan every node entry, and make their directories on the nodes."""
    checked = check_all(app, entries)
    if not checked:
        return NONE
    logins = {login.node_id: login for login in ready_logins(app, app.config.pool.id)}
    user = ssh_user(app.config.pool.ssh, generate=False)
    planned = tuple(_plan(item, user, list(logins)) for item in checked)
    for item in planned:
        _make_all_dirs(item, logins)
    return NodeIngress(planned, logins)


def ready_logins(app: App, pool_id: str) -> list[Login]:
    """Every node's login; refuses a pool without nodes or with a node not yet usable."""
    from shipyard.cli import render

    nodes = list(app.client.list_nodes(pool_id))
    if not nodes:
        raise ConfigError(f"pool {pool_id} has no nodes to ingress to",
                          hint="resize it with 'shipyard pool resize'")
    waiting = [f"{node.id} is {render.value(node.state)}" for node in nodes
               if render.value(node.state) not in READY]
    if waiting:
        raise ConfigError(f"ingress to nodes needs every node idle or running: "
                          f"{'; '.join(waiting)}", hint="check 'shipyard pool nodes list'")
    return remote.logins(app, pool_id, nodes)


def _plan(checked: Checked, user: SshUser, node_ids: Sequence[str]) -> Planned:
    transfer = checked.entry.destination.data_transfer
    method = transfer.method or "scp"  # the model requires it for node entries
    plan = plans.node_plan(checked.files, checked.target, method,
                           transfer.max_parallel_transfers_per_node, node_ids)
    if checked.key is not None:
        user = replace(user, private_key_path=checked.key)
    return Planned(checked, user, plan)


def without(item: Planned, gone: set[str], node_ids: Sequence[str]) -> Planned:
    """``item`` planned again without the nodes ``gone`` since it was planned: a shared
    volume's files go through the nodes left; any other destination cannot be covered."""
    left = [node_id for node_id in node_ids if node_id not in gone]
    if not item.plan.destination.shared or not left:
        raise ShipyardError(f"{item.where}: node(s) {', '.join(sorted(gone))} left the pool "
                            "after the ingress was planned; this entry was not sent",
                            hint="run 'shipyard data ingress' again")
    return _plan(item.checked, item.user, left)


def _make_all_dirs(item: Planned, logins: Mapping[str, Login]) -> None:
    for node_id, share in item.plan.nodes.items():
        _make_dirs(logins[node_id], item.user, share.directories)


def _make_dirs(login: Login, user: SshUser, directories: Sequence[str]) -> None:
    command = "mkdir -p -- " + " ".join(quote(d) for d in directories)
    try:
        remote.run_remote(remote.ssh_argv(login, user, command), timeout=BASE_TIMEOUT)
    except CommandError as exc:
        raise failure(login, user, exc, f"creating {directories[0]}") from exc


def failure(login: Login, user: SshUser, exc: CommandError, doing: str) -> ShipyardError:
    """What a failed ssh, scp or rsync means, naming the node."""
    lines = exc.output.strip().splitlines()
    last = lines[-1] if lines else f"exit {exc.returncode}"
    if "Permission denied (publickey" in exc.output:
        return ConfigError(f"node {login.node_id}: SSH user {user.username} cannot log in "
                           f"({last})", hint="add it to the nodes with 'shipyard pool user add'")
    if exc.returncode in (None, 255):
        return ShipyardError(f"node {login.node_id} ({login.address}:{login.port}) is "
                             f"unreachable over SSH: {last}",
                             hint="check it with 'shipyard pool nodes grls' and 'pool ssh'")
    return ShipyardError(f"node {login.node_id}: {doing} failed (exit {exc.returncode}): "
                         f"{last}")


def send_all(app: App, ingress: NodeIngress) -> None:
    """Send every planned entry, one after another, with the logins of planning."""
    for item in ingress.items:
        _send(app, _still_there(app, item, ingress.logins), ingress.logins)


def _still_there(app: App, item: Planned, logins: Mapping[str, Login]) -> Planned:
    """``item``, planned again if a node it sends through has left the pool since."""
    present = {node.id for node in app.client.list_nodes(app.config.pool.id)}
    gone = {node_id for node_id in item.plan.nodes if node_id not in present}
    if not gone:
        return item
    again = without(item, gone, [node_id for node_id in logins if node_id in present])
    app.say(f"node(s) {', '.join(sorted(gone))} left the pool: {item.where} goes through "
            f"{', '.join(again.plan.nodes)} instead")
    _make_all_dirs(again, logins)
    return again


def _send(app: App, item: Planned, logins: Mapping[str, Login]) -> None:
    from shipyard.cli.storage import TransferProgress

    plan = item.plan
    started = time.monotonic()
    lanes = [(logins[node_id], share.copies[k::plan.parallel])
             for node_id, share in plan.nodes.items() for k in range(plan.parallel)]
    lanes = [(login, copies) for login, copies in lanes if copies]
    label = f"{item.entry.source.path} -> {plan.destination.directory}"
    with TransferProgress(label, quiet=app.raw) as progress:
        progress.begin(plan.size, plan.files)
        run = _Run(item, progress)
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            list(pool.map(lambda lane: run.lane(*lane), lanes))
    if run.failed is not None:
        login, copy, exc = run.failed
        error = failure(login, item.user, exc, f"sending {copy.local} to {copy.remote}")
        raise ShipyardError(f"{error.message}; {run.sent} of {plan.files} file(s) of "
                            f"{item.where} were sent before it stopped: ingress incomplete",
                            hint=error.hint)
    seconds = time.monotonic() - started
    where = plan.destination.directory
    if plan.destination.shared:
        counts = ", ".join(f"{node_id} {len(share.copies)}"
                           for node_id, share in plan.nodes.items())
        app.say(f"ingressed {plan.files} file(s), {plan.size} bytes in {seconds:.1f} s to "
                f"{where}, shared by the nodes (files sent through: {counts})")
        return
    share = next(iter(plan.nodes.values()))
    app.say(f"ingressed {len(share.copies)} file(s), {share.size} bytes to {where} on each "
            f"of {len(plan.nodes)} node(s) in {seconds:.1f} s")


class _Run:
    """The lanes of one entry: shared progress, the first failure stops the rest."""

    def __init__(self, item: Planned, progress: TransferProgress) -> None:
        self.item = item
        self.progress = progress
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = 0
        self.failed: tuple[Login, plans.Copy, CommandError] | None = None

    def lane(self, login: Login, copies: Sequence[plans.Copy]) -> None:
        for copy in copies:
            if self.stop.is_set():
                return
            try:
                remote.run_remote(self._argv(login, copy), timeout=transfer_timeout(copy.size))
            except CommandError as exc:
                with self.lock:
                    self.failed = self.failed or (login, copy, exc)
                self.stop.set()
                return
            with self.lock:
                self.sent += 1
                self.progress.advance(copy.size)
                self.progress.file_done()

    def _argv(self, login: Login, copy: plans.Copy) -> list[str]:
        transfer = self.item.entry.destination.data_transfer
        if self.item.plan.tool == "rsync":
            return remote.rsync_argv(login, self.item.user, copy.local, copy.remote,
                                     transfer.scp_ssh_extra_options,
                                     transfer.rsync_extra_options)
        return remote.scp_argv(login, self.item.user, copy.local, copy.remote,
                               transfer.scp_ssh_extra_options)
