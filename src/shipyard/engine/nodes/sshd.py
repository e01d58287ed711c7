"""Each node's own sshd: remote login to the node, as ``get_node_remote_login_settings`` says.

The sshd is Debian's ``/usr/sbin/sshd``, entered into the node's network, mount and UTS
namespaces through its dockerd (like every command on the node), listening on the node's
own address only, with a host key generated for that node and kept in its home (a reboot
keeps it, as a VM keeps its disk; a reimage makes a new one). Its config is ours alone
(``-f``, no ``Include``), so the host's sshd and ``/etc/ssh/sshd_config`` play no part.
Inside the node it sees the node's accounts (users.py) and the node's docker socket.

Being in the node's network namespace, it ends with the node (``stop_node`` ends every
process there); after an engine restart ``ensure`` adopts it again by its command line,
or starts a new one.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

from shipyard.engine.nodes import host, procs
from shipyard.engine.nodes.model import NodeSpec
from shipyard.errors import NodeError

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
START_TIMEOUT = 15.0


def ssh_dir(spec: NodeSpec) -> Path:
    return spec.home / "ssh"


def config_file(spec: NodeSpec) -> Path:
    return ssh_dir(spec) / "sshd_config"


def log_file(spec: NodeSpec) -> Path:
    return ssh_dir(spec) / "sshd.log"


def sshd_argv(spec: NodeSpec) -> list[str]:
    """The node's sshd command line; the config path under its home identifies it."""
    return [SSHD, "-D", "-f", str(config_file(spec)), "-E", str(log_file(spec))]


def prepare(spec: NodeSpec) -> None:
    """The node's host key (made once per disk) and its sshd config."""
    directory = ssh_dir(spec)
    directory.mkdir(mode=0o700, exist_ok=True)
    key = directory / "ssh_host_ed25519_key"
    if not key.exists():
        host.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                  f"root@{spec.hostname}", "-f", str(key)])
    config_file(spec).write_text("\n".join([
        f"# The sshd of node {spec.node_id}; written by the shipyard engine.",
        f"ListenAddress {spec.ip}:{SSH_PORT}",
        f"HostKey {key}",
        f"PidFile {directory / 'sshd.pid'}",
        # No PAM: the node's shadow file (users.py) holds passwords and expiry days.
        "UsePAM no",
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "X11Forwarding no",
        "PrintMotd no",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp internal-sftp",
        "",
    ]))


def start(spec: NodeSpec, daemon_pid: int, timeout: float = START_TIMEOUT) -> int:
    """Start the node's sshd inside the node; its pid once it greets on the node's address."""
    prepare(spec)
    argv = ["nsenter", f"--target={daemon_pid}", "--net", "--mount", "--uts", "--",
            *sshd_argv(spec)]
    with open(log_file(spec), "ab") as logf:
        # nsenter execs sshd (-D keeps it in the foreground): this pid is the sshd.
        pid = host.spawn_detached(argv, stdout=logf, stderr=logf).pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.gone(pid):
            raise NodeError(f"node {spec.node_id}: sshd exited at start: {_tail(spec)}")
        if greets(spec):
            log.info("node %s: sshd pid %d on %s:%d", spec.node_id, pid, spec.ip, SSH_PORT)
            return pid
        time.sleep(0.05)
    procs.terminate([pid], grace=2)
    raise NodeError(f"node {spec.node_id}: sshd did not answer within {timeout:g}s: "
                    f"{_tail(spec)}")


def find(spec: NodeSpec) -> int | None:
    """The pid of this node's sshd listener, found by its command line.

    sshd rewrites its process title to one string (``sshd: /usr/sbin/sshd -D -f <config>
    ... [listener] ...``); the config path under the node's home is what tells it apart.
    """
    want = f"{SSHD} -D -f {config_file(spec)} "
    for proc in procs.all_procs():
        if proc.state not in "ZX" and want in " ".join(procs.cmdline(proc.pid)) + " ":
            return proc.pid
    return None


def ensure(spec: NodeSpec, daemon_pid: int) -> int:
    """Adopt the node's running sshd, or (re)start it: after an engine restart."""
    pid = find(spec)
    if pid is not None and greets(spec):
        return pid
    if pid is not None:
        procs.terminate([pid], grace=2)
    return start(spec, daemon_pid)


def greets(spec: NodeSpec, timeout: float = 2.0) -> bool:
    """Whether an SSH server answers with its banner on the node's address."""
    try:
        with socket.create_connection((str(spec.ip), SSH_PORT), timeout=timeout) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _tail(spec: NodeSpec) -> str:
    try:
        return " | ".join(log_file(spec).read_text(errors="replace").splitlines()[-5:])
    except OSError as exc:
        return f"(no sshd log: {exc})"

