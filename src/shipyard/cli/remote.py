"""A shell on the nodes: ``pool user add|del``, ``pool ssh``, and commands over SSH.

The same path on Azure and on the local engine: the pool's SSH user (``sshkeys``) is
created on every node with ``create_node_user``, and ``ssh`` connects to the address and
port ``get_node_remote_login_settings`` gives for the node. :func:`ssh_argv`,
:func:`scp_argv` and :func:`rsync_argv` build the command lines (the key by its path only,
never its content) and :func:`run_remote` is the room's one place that starts ssh, scp or
rsync: it logs the argv at debug level and raises ``CommandError`` (argv, exit code, tail).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipyard.cli.app import reported
from shipyard.cli.context import App, pass_app
from shipyard.cli.sshkeys import SshUser, ssh_user
from shipyard.errors import CommandError, ConfigError
from shipyard.factory.shell import quote

if TYPE_CHECKING:
    from azure.batch import models

log = logging.getLogger(__name__)

#: How ``$S docker`` reaches the daemon: directly for root or a member of the docker group,
#: else through sudo (Batch Shipyard's ``sudo docker``; an Azure admin user has sudo).
AS_ROOT = ('S=""; if [ "$(id -u)" -ne 0 ] && ! docker version >/dev/null 2>&1 '
           '&& command -v sudo >/dev/null; then S="sudo -n"; fi; ')
SSH_TIMEOUT = 600.0
#: Seconds to wait for a node's sshd to answer: an unreachable node fails fast.
CONNECT_TIMEOUT = 15


@dataclass(frozen=True)
class Login:
    """Where to reach one node over SSH."""

    node_id: str
    address: str
    port: int


@click.group("user")
def user() -> None:
    """Remote user actions."""


@user.command("add")
@pass_app
@reported
def user_add(app: App) -> None:
    """Add the SSH user of pool.yaml to all nodes in the pool."""
    add_users(app, app.config.pool.id)


@user.command("del")
@pass_app
@reported
def user_del(app: App) -> None:
    """Delete the SSH user of pool.yaml from all nodes in the pool."""
    spec = app.config.pool
    if spec.ssh is None:
        raise ConfigError("pool.yaml: pool_specification.ssh: no SSH user to delete")
    for node in app.client.list_nodes(spec.id):
        app.client.delete_node_user(spec.id, node.id, spec.ssh.username)
        app.say(f"user {spec.ssh.username} deleted from node {node.id}")


def add_users(app: App, pool_id: str) -> SshUser:
    """Create the pool's SSH user (an admin) on every node of ``pool_id``."""
    from azure.batch import models

    login = ssh_user(app.config.pool.ssh)
    options = models.BatchNodeUserCreateOptions(
        name=login.username, is_admin=True, expiry_time=login.expiry,
        ssh_public_key=login.public_key)
    count = 0
    for node in app.client.list_nodes(pool_id):
        app.client.create_node_user(pool_id, node.id, options)
        count += 1
    where = f" (key {login.private_key_path})" if login.private_key_path else ""
    app.say(f"SSH user {login.username} added to {count} node(s) of {pool_id}{where}, "
            f"expires {login.expiry:%Y-%m-%d}")
    return login


def logins(app: App, pool_id: str, nodes: Iterable[models.BatchNode] | None = None
           ) -> list[Login]:
    """Every node's remote login address, in the order ``grls`` lists them (of ``nodes``
    when the caller has listed them already)."""
    found = []
    for node in app.client.list_nodes(pool_id) if nodes is None else nodes:
        settings = app.client.get_node_remote_login_settings(pool_id, node.id)
        found.append(Login(node.id, settings.remote_login_ip_address,
                           settings.remote_login_port))
    return found


def _options(user: SshUser) -> list[str]:
    """Options ssh, scp and rsync's ssh share; host keys change with every new node."""
    if user.private_key_path is None:
        raise ConfigError("pool.yaml: pool_specification.ssh.ssh_private_key: required to "
                          "connect with the public key given")
    return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", "-i", str(user.private_key_path)]


def ssh_argv(login: Login, user: SshUser, command: str | None, tty: bool = False) -> list[str]:
    """The ssh command line for one node."""
    argv = ["ssh", *_options(user), "-p", str(login.port), f"{user.username}@{login.address}"]
    if tty:
        argv.insert(1, "-t")
    return [*argv, command] if command else argv


def _host(login: Login) -> str:
    return f"[{login.address}]" if ":" in login.address else login.address


#: scp's options that take a value (OpenSSH 9): their value may follow in the same word.
_SCP_VALUED = frozenset("cDFiJloPSX")


def legacy_scp(options: list[str]) -> bool:
    """Whether scp ``options`` ask for the legacy protocol (``-O``, alone or bundled)."""
    words = iter(options)
    for word in words:
        if not word.startswith("-") or word.startswith("--"):
            continue
        for at, flag in enumerate(word[1:], start=1):
            if flag == "O":
                return True
            if flag in _SCP_VALUED:
                if at == len(word) - 1:
                    next(words, None)  # its value is the next word
                break
    return False


def scp_argv(login: Login, user: SshUser, local: Path, remote: str, extra: str = "") -> list[str]:
    """scp of one file, times and mode kept (``-p``, as Batch Shipyard sends).

    With ``-O`` the node's shell reads the remote path (the legacy protocol runs
    ``scp -t PATH`` there), so the path is quoted as one shell word; SFTP takes it as is.
    """
    options = shlex.split(extra)
    target = quote(remote) if legacy_scp(options) else remote
    return ["scp", *_options(user), "-p", *options, "-P", str(login.port), "--",
            str(local), f"{user.username}@{_host(login)}:{target}"]


def rsync_argv(login: Login, user: SshUser, local: Path, remote: str, ssh_extra: str = "",
               rsync_extra: str = "") -> list[str]:
    """rsync of one file over ssh (``-e``), with the config's extra options of each."""
    shell = shlex.join(["ssh", "-T", "-x", *_options(user), *shlex.split(ssh_extra),
                        "-p", str(login.port)])
    return ["rsync", *shlex.split(rsync_extra), "-e", shell, "--", str(local),
            f"{user.username}@{_host(login)}:{remote}"]


def run_remote(argv: list[str], timeout: float = SSH_TIMEOUT,
               capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ssh, scp or rsync; with ``capture``, failure or timeout is a ``CommandError``."""
    log.debug("run: %s", shlex.join(argv))
    try:
        if not capture:
            return subprocess.run(argv, check=False, text=True)
        done = subprocess.run(argv, check=False, text=True, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, None, f"{_text(exc.stdout)}{_text(exc.stderr)}\n"
                           f"timed out after {timeout:g} s") from None
    except OSError as exc:
        raise CommandError(argv, None, f"{argv[0]} did not start: {exc}") from None
    if done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stdout + done.stderr)
    return done


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def on_every_node(app: App, pool_id: str, command: str) -> dict[str, str]:
    """Run a shell command on every node of the pool over SSH; each node's output."""
    user_ = ssh_user(app.config.pool.ssh, generate=False)
    return {login.node_id: run_remote(ssh_argv(login, user_, command)).stdout
            for login in logins(app, pool_id)}


def pick(found: list[Login], cardinal: int | None, node_id: str | None) -> Login:
    """The node ``--nodeid`` names, else number ``--cardinal`` (0 by default)."""
    if node_id is not None:
        for login in found:
            if login.node_id == node_id:
                return login
        raise ConfigError(f"no node {node_id} in the pool",
                          hint="list nodes with 'shipyard pool nodes grls'")
    index = cardinal or 0
    if index >= len(found):
        raise ConfigError(f"--cardinal {index}: the pool has {len(found)} node(s)")
    return found[index]


@click.command("ssh", context_settings={"ignore_unknown_options": True})
@click.option("--cardinal", type=click.IntRange(0), help="Zero-based node number as "
                                                         "'pool nodes grls' lists them.")
@click.option("--nodeid", help="Node id to connect to.")
@click.option("--tty", is_flag=True, help="Allocate a pseudo-terminal.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
@reported
def ssh(app: App, cardinal: int | None, nodeid: str | None, tty: bool,
        command: tuple[str, ...]) -> None:
    """Interactively login via SSH to a node in a pool (or run COMMAND)."""
    if cardinal is not None and nodeid is not None:
        raise ConfigError("give only one of --cardinal and --nodeid")
    spec = app.config.pool
    user_ = ssh_user(spec.ssh, generate=False)
    login = pick(logins(app, spec.id), cardinal, nodeid)
    argv = ssh_argv(login, user_, " ".join(command) or None, tty)
    raise SystemExit(run_remote(argv, capture=False).returncode)
