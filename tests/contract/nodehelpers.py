"""Helpers for the node operation and node user contract tests: a small pool of one's own,
where a node lives on this machine, state sequences, and a real ssh client.

Node operations change nodes, so these tests use their own 2-node pool (module scope)
instead of the session's shared one. Where a node's namespace, veth, daemons and home are
on the host is derived from its address as the engine lays nodes out (pool slot = third
octet, node index = last octet - 4), so the tests can look at the machine itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.batch import BatchClient, models

from tests.realengine import cmdlines, wait_for

SSH_TIMEOUT = 30


@dataclass(frozen=True)
class Place:
    """Where one node is on the host."""

    slot: int
    index: int
    home: Path
    ip: str

    @property
    def netns(self) -> str:
        return f"shy{self.slot}-{self.index}"

    @property
    def veth(self) -> str:
        return f"shyv{self.slot}-{self.index}"


def place(data_dir: Path, node: models.BatchNode) -> Place:
    octets = str(node.ip_address).split(".")
    slot, index = int(octets[2]), int(octets[3]) - 4
    return Place(slot, index, data_dir / "n" / f"{slot}-{index}", str(node.ip_address))


def pids_with(text: str) -> list[int]:
    """Live processes whose command line (words joined by spaces) contains ``text``."""
    found = []
    for pid, raw in cmdlines().items():
        if text.encode() not in raw.replace(b"\0", b" "):
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone since
        if state not in "ZX":
            found.append(pid)
    return found


def dockerd_pids(where: Place) -> list[int]:
    return pids_with(f"--data-root={where.home / 'docker'} ")


def sshd_pids(where: Place) -> list[int]:
    """The node's sshd listener (sshd shows its command line in its process title).

    A connection's sshd is forked from the listener and carries its title until it
    renames itself (a greeting just made can leave one): it is the listener's child.
    """
    found = pids_with(f"-f {where.home / 'ssh' / 'sshd_config'} ")
    return [pid for pid in found if _parent(pid) not in found]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def daemon_answers(where: Place) -> bool:
    sock = where.home / "docker.sock"
    done = subprocess.run(["docker", "-H", f"unix://{sock}", "version", "--format",
                           "{{.Server.Version}}"], capture_output=True, timeout=20, check=False)
    return done.returncode == 0


def sshd_greets(ip: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=3) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/var/run/netns/{name}")


def link_exists(name: str) -> bool:
    return os.path.lexists(f"/sys/class/net/{name}")


def watch_states(client: BatchClient, pool_id: str, node_id: str, until: str,
                 timeout: float = 180) -> list[str]:
    """The node's distinct states, polled every 0.2 s, until it reaches ``until``."""
    seen: list[str] = []

    def reached() -> bool:
        node = client.get_node(pool_id, node_id)
        state = str(getattr(node.state, "value", node.state))
        if not seen or seen[-1] != state:
            seen.append(state)
        assert state not in ("unusable", "starttaskfailed"), (seen, node.errors)
        return state == until

    wait_for(f"node {node_id} to be {until} (seen {seen})", reached, timeout, 0.2)
    return seen


@contextmanager
def key_pair() -> Iterator[tuple[Path, str]]:
    """A fresh ed25519 key: the private key's 0600 file and the public key line."""
    with tempfile.TemporaryDirectory(prefix="shy-ssh-") as tmp:
        key = Path(tmp) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        assert key.stat().st_mode & 0o777 == 0o600
        yield key, key.with_suffix(".pub").read_text().strip()


def ssh(user: str, ip: str, port: int, command: str, key: Path | None = None,
        password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` over a real ssh client; a password goes through SSH_ASKPASS."""
    argv = ["ssh", "-p", str(port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={SSH_TIMEOUT}", "-o", "NumberOfPasswordPrompts=1"]
    env = dict(os.environ)
    if key is not None:
        argv += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(key)]
    with tempfile.TemporaryDirectory(prefix="shy-askpass-") as tmp:
        if password is not None:
            # The password reaches ssh through its askpass hook, never through argv.
            askpass = Path(tmp) / "askpass"
            askpass.write_text("#!/bin/sh\nprintf '%s\\n' \"$SHY_PW\"\n")
            askpass.chmod(0o700)
            argv += ["-o", "PubkeyAuthentication=no",
                     "-o", "PreferredAuthentications=password"]
            env.update(SHY_PW=password, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force")
        argv += [f"{user}@{ip}", command]
        return subprocess.run(argv, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=SSH_TIMEOUT + 30, check=False)
