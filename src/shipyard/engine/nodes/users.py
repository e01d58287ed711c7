"""Node user accounts that exist on one node only: its own passwd, group and shadow.

Each node has ``<home>/etc/{passwd,group,shadow}`` and ``<home>/home``; the node's mount
namespace binds them over ``/etc/passwd``, ``/etc/group``, ``/etc/shadow`` and ``/home``
(see daemon.py), so the node's sshd, ``id`` and ``ls -l`` see its users and the host's own
accounts, files and homes are never touched. The files start with the host's system
accounts (uid/gid below 1000, and nobody; sshd's privilege separation needs its user),
without any password: no host secret is copied to a node.

A file bind mount pins the inode it was made with: a file replaced by rename (what
``useradd`` and ``sed -i`` do) would leave the node looking at the old copy. So every
change here rewrites the file IN PLACE, under one lock per node.

Admin users join the node's ``docker`` group (the group of the node daemon's socket) and
``sudo`` if the host has one: that is what lets ``docker ps`` work in an ssh session.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.engine.nodes import host, procs

FIRST_UID = 1000
NOBODY = 65534
SHELL = "/bin/bash"
#: The group of admin users that may write where Azure lets an admin write (agent/boot.py).
ADMIN_GROUP = "sudo"
ADMIN_GROUPS = ("docker", ADMIN_GROUP)
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Account:
    """What the Batch API says about one node user; secrets only as given, never logged."""

    name: str
    is_admin: bool
    password: str | None
    ssh_public_key: str | None
    expiry: datetime


def etc_dir(home: Path) -> Path:
    return home / "etc"


def homes_dir(home: Path) -> Path:
    return home / "home"


def binds(home: Path) -> list[tuple[Path, str]]:
    """Host paths under the node's home and where the node sees them."""
    etc = etc_dir(home)
    return [(etc / "passwd", "/etc/passwd"), (etc / "group", "/etc/group"),
            (etc / "shadow", "/etc/shadow"), (homes_dir(home), "/home")]


def prepare(home: Path) -> None:
    """Create the node's account files from the host's system accounts, unless present.

    They survive a reboot (users stay, as on a VM) and go with the home (reimage, removal).
    """
    etc = etc_dir(home)
    etc.mkdir(parents=True, exist_ok=True)
    homes_dir(home).mkdir(exist_ok=True)
    if (etc / "shadow").exists():
        return
    users = _system(_read(Path("/etc/passwd")))
    groups = _system(_read(Path("/etc/group")))
    if not any(g[0] == "docker" for g in groups):
        groups.append(["docker", "x", str(_free_id(groups, 900)), ""])
    # No host password hash is copied: the node's system accounts have none ("*").
    shadow = [[u[0], "*", "0", "0", "99999", "7", "", "", ""] for u in users]
    _create(etc / "passwd", users, 0o644)
    _create(etc / "group", groups, 0o644)
    _create(etc / "shadow", shadow, 0o600)


def exists(home: Path, name: str) -> bool:
    return any(u[0] == name for u in _read(etc_dir(home) / "passwd"))


def uid_of(home: Path, name: str) -> int | None:
    for user in _read(etc_dir(home) / "passwd"):
        if user[0] == name:
            return int(user[2])
    return None


def add(home: Path, account: Account) -> None:
    """Create the user, its group, home and keys; the caller checked it does not exist."""
    with _lock(home):
        etc = etc_dir(home)
        users, groups = _read(etc / "passwd"), _read(etc / "group")
        uid = _free_id(users + groups, FIRST_UID)
        users.append([account.name, "x", str(uid), str(uid), "", f"/home/{account.name}",
                      SHELL])
        groups.append([account.name, "x", str(uid), ""])
        if account.is_admin:
            for group in groups:
                if group[0] in ADMIN_GROUPS:
                    group[3] = ",".join([m for m in group[3].split(",") if m] + [account.name])
        _rewrite(etc / "passwd", users)
        _rewrite(etc / "group", groups)
        _set_secrets(home, account, uid)


def replace(home: Path, account: Account) -> None:
    """Replace password, key and expiry (all of them: an absent one is removed)."""
    uid = uid_of(home, account.name)
    if uid is None:
        raise KeyError(account.name)
    with _lock(home):
        _set_secrets(home, account, uid)


def delete(home: Path, name: str) -> None:
    """Remove the user from the node's files and delete its home."""
    with _lock(home):
        etc = etc_dir(home)
        _rewrite(etc / "passwd", [u for u in _read(etc / "passwd") if u[0] != name])
        _rewrite(etc / "shadow", [s for s in _read(etc / "shadow") if s[0] != name])
        groups = [g for g in _read(etc / "group") if g[0] != name]
        for group in groups:
            group[3] = ",".join(m for m in group[3].split(",") if m and m != name)
        _rewrite(etc / "group", groups)
    shutil.rmtree(homes_dir(home) / name, ignore_errors=True)


def _set_secrets(home: Path, account: Account, uid: int) -> None:
    """The shadow line (hash, expiry day) and ``~/.ssh/authorized_keys``."""
    etc = etc_dir(home)
    hashed = _hash(account.password) if account.password else "*"  # "*": no password, key ok
    today = int(datetime.now(UTC).timestamp() // 86400)
    # Shadow expiry is a day: the account works through the day expiryTime falls on.
    expires = int(account.expiry.timestamp() // 86400) + 1
    line = [account.name, hashed, str(today), "0", "99999", "7", "", str(expires), ""]
    shadow = [s for s in _read(etc / "shadow") if s[0] != account.name] + [line]
    _rewrite(etc / "shadow", shadow)
    _write_keys(homes_dir(home) / account.name, uid, account.ssh_public_key)


def _write_keys(user_home: Path, uid: int, key: str | None) -> None:
    ssh = user_home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    keys = ssh / "authorized_keys"
    keys.write_text(f"{key.strip()}\n" if key else "")
    # sshd's StrictModes: the home, ~/.ssh and the key file belong to the user, closed.
    for path, mode in ((user_home, 0o750), (ssh, 0o700), (keys, 0o600)):
        os.chown(path, uid, uid)
        path.chmod(mode)


def default_expiry() -> datetime:
    """The service's default: one day from now."""
    return datetime.now(UTC) + timedelta(days=1)


def _hash(password: str) -> str:
    """SHA-512 crypt; the password travels on stdin, never in argv or a log."""
    return host.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n").strip()


def _system(entries: list[list[str]]) -> list[list[str]]:
    return [e for e in entries if len(e) > 2 and e[2].isdigit()
            and (int(e[2]) < FIRST_UID or int(e[2]) == NOBODY)]


def _free_id(entries: list[list[str]], start: int) -> int:
    taken = {int(e[2]) for e in entries if len(e) > 2 and e[2].isdigit()}
    return next(i for i in range(start, NOBODY) if i not in taken)


def _read(path: Path) -> list[list[str]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _text(entries: list[list[str]]) -> str:
    return "".join(":".join(e) + "\n" for e in entries)


def _create(path: Path, entries: list[list[str]], mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(_text(entries))


def _rewrite(path: Path, entries: list[list[str]]) -> None:
    """Rewrite ``path`` in place (same inode): see the module docstring."""
    with open(path, "r+") as handle:
        handle.truncate(0)
        handle.write(_text(entries))


def _lock(home: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(home, threading.Lock())


def end_processes(netns: str, uid: int) -> None:
    """End what a deleted user still runs on the node (its ssh sessions)."""
    try:
        inode = os.stat(host.netns_path(netns)).st_ino
    except OSError:
        return
    owned = {pid for pid in procs.node_pids(inode) if _real_uid(pid) == uid}
    procs.terminate(owned, grace=2)


def _real_uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
