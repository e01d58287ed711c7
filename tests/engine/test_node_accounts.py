"""A node's own account files (nodes/users.py) and the API's key check, on a temp home.

Root only: the files get the users' owners, as on a node.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.engine.nodes import users
from shipyard.engine.services.nodeusers import _check_key
from shipyard.errors import BatchError

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")]


def account(name: str, **extra: object) -> users.Account:
    fields: dict[str, object] = {"name": name, "is_admin": False, "password": None,
                                 "ssh_public_key": None,
                                 "expiry": datetime.now(UTC) + timedelta(days=1)}
    fields.update(extra)
    return users.Account(**fields)  # type: ignore[arg-type]


def entries(home: Path, name: str) -> dict[str, list[str]]:
    return {f: next((line.split(":") for line in (home / "etc" / f).read_text().splitlines()
                     if line.startswith(f"{name}:")), [])
            for f in ("passwd", "group", "shadow")}


def test_prepare_copies_only_system_accounts(tmp_path: Path) -> None:
    users.prepare(tmp_path)
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    assert any(line.startswith("root:") for line in passwd)
    assert any(line.startswith("sshd:") for line in passwd)
    assert all(int(line.split(":")[2]) < 1000 or line.split(":")[2] == "65534" for line in passwd)
    assert "docker:" in (tmp_path / "etc" / "group").read_text()
    shadow = (tmp_path / "etc" / "shadow")
    assert shadow.stat().st_mode & 0o777 == 0o600
    # No password hash of the host's reaches a node.
    assert {line.split(":")[1] for line in shadow.read_text().splitlines()} == {"*"}


def test_add_replace_delete_rewrite_in_place(tmp_path: Path) -> None:
    users.prepare(tmp_path)
    inodes = {f: (tmp_path / "etc" / f).stat().st_ino for f in ("passwd", "group", "shadow")}
    users.add(tmp_path, account("alice", is_admin=True, password="s3cret: with colon",
                                ssh_public_key="ssh-ed25519 AAAA alice@x"))
    got = entries(tmp_path, "alice")
    assert got["passwd"][2] == "1000" and got["passwd"][5] == "/home/alice"
    assert got["shadow"][1].startswith("$6$") and "s3cret" not in got["shadow"][1]
    docker = next(line for line in (tmp_path / "etc" / "group").read_text().splitlines()
                  if line.startswith("docker:"))
    assert "alice" in docker.split(":")[3].split(",")
    keys = tmp_path / "home" / "alice" / ".ssh" / "authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAA alice@x\n"
    assert (keys.stat().st_uid, keys.stat().st_mode & 0o777) == (1000, 0o600)
    users.replace(tmp_path, account("alice"))
    assert entries(tmp_path, "alice")["shadow"][1] == "*"
    assert keys.read_text() == ""
    users.delete(tmp_path, "alice")
    assert entries(tmp_path, "alice") == {"passwd": [], "group": [], "shadow": []}
    assert "alice" not in (tmp_path / "etc" / "group").read_text()
    assert not (tmp_path / "home" / "alice").exists()
    # A bind mount pins the inode: the files were never replaced.
    assert inodes == {f: (tmp_path / "etc" / f).stat().st_ino for f in inodes}


def test_expiry_is_the_day_after(tmp_path: Path) -> None:
    users.prepare(tmp_path)
    when = datetime(2030, 1, 2, 12, tzinfo=UTC)
    users.add(tmp_path, account("bob", expiry=when))
    assert int(entries(tmp_path, "bob")["shadow"][7]) == int(when.timestamp() // 86400) + 1


def test_key_check_takes_real_keys_only(tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    _check_key(key.with_suffix(".pub").read_text())
    for bad in ("ssh-ed25519", "ssh-ed25519 !!!", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAA",
                "rsa AAAA", "ssh-ed25519 AAAA\nssh-ed25519 AAAA"):
        with pytest.raises(BatchError) as caught:
            _check_key(bad)
        assert caught.value.values[0] == ("PropertyName", "sshPublicKey")
