"""The pool's SSH user: its key pair as ``pool_specification.ssh`` defines it.

Batch Shipyard's rules: ``ssh_public_key`` (a path) or ``ssh_public_key_data`` (the key
itself) names an existing public key and ``ssh_private_key`` the matching private key;
with neither, an RSA key pair is generated as ``id_rsa_shipyard`` and
``id_rsa_shipyard.pub`` in ``generated_file_export_path`` (default: the current
directory) and reused while it is there. The private key file is 0600 and its content
is never printed. ``expiry_days`` (default 30) sets the user's expiry on the nodes.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from shipyard.config.pool import SshSettings

KEY_NAME = "id_rsa_shipyard"
DEFAULT_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class SshUser:
    """Who logs in to the nodes and with which key; the private key stays in its file."""

    username: str
    public_key: str
    private_key_path: Path | None
    expiry: datetime.datetime


def _export_dir(ssh: SshSettings) -> Path:
    return Path(ssh.generated_file_export_path or ".")


def _generate(private_path: Path) -> None:
    """An RSA key pair in OpenSSH format; the private file is created 0600."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    private_path.with_name(private_path.name + ".pub").write_bytes(public + b" shipyard\n")


def _given_public_key(ssh: SshSettings) -> str | None:
    if ssh.ssh_public_key and ssh.ssh_public_key_data:
        raise ConfigError("pool.yaml: pool_specification.ssh.ssh_public_key_data: set only one "
                          "of ssh_public_key and ssh_public_key_data")
    if ssh.ssh_public_key_data:
        return ssh.ssh_public_key_data.strip()
    if ssh.ssh_public_key:
        path = Path(ssh.ssh_public_key)
        if not path.is_file():
            raise ConfigError(f"pool.yaml: pool_specification.ssh.ssh_public_key: no such "
                              f"file: {path}")
        return path.read_text().strip()
    return None


def ssh_user(ssh: SshSettings | None, generate: bool = True) -> SshUser:
    """The SSH user of ``ssh``; generates the key pair when none is given and none exists."""
    if ssh is None:
        raise ConfigError("pool.yaml: pool_specification.ssh: required for SSH to the nodes",
                          hint="add ssh: {username: ...} to pool.yaml and run "
                               "'shipyard pool user add'")
    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        days=ssh.expiry_days or DEFAULT_EXPIRY_DAYS)
    public = _given_public_key(ssh)
    if public is not None:
        private = Path(ssh.ssh_private_key) if ssh.ssh_private_key else None
        return SshUser(ssh.username, public, private, expiry)
    private_path = _export_dir(ssh) / KEY_NAME
    if not private_path.exists():
        if not generate:
            raise ConfigError(f"no SSH key {private_path}",
                              hint="run 'shipyard pool user add' to make and install one")
        _generate(private_path)
    public_path = private_path.with_name(KEY_NAME + ".pub")
    return SshUser(ssh.username, public_path.read_text().strip(), private_path, expiry)
