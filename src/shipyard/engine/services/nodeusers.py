"""Node users and remote login settings, as the Batch API exposes them.

An account exists on one node only (see nodes/users.py): created, replaced and deleted
in that node's own account files while the node is up, and reached through that node's
own sshd (nodes/sshd.py) at the address ``remoteloginsettings`` gives. Passwords and keys
go straight into those files (a password only as a SHA-512 crypt hash) and are never
logged or stored in the engine's database.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from pathlib import Path
from typing import Any

from azure.batch import models

from shipyard.engine.allocation.allocator import Allocator
from shipyard.engine.model import requests
from shipyard.engine.model.states import NODE_UP, NodeState
from shipyard.engine.nodes import sshd, users
from shipyard.engine.services.nodeops import node_conflict
from shipyard.engine.services.pools import PoolService
from shipyard.engine.store import Json
from shipyard.errors import BatchError

#: Node states with a running node to hold accounts (a failed start task is what one
#: logs in to look at).
USER_STATES = NODE_UP | {NodeState.START_TASK_FAILED}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
             "sk-ecdsa-sha2-nistp256@openssh.com")


def user_not_found() -> BatchError:
    return BatchError(404, "NodeUserNotFound", "The specified node user does not exist.")


class NodeUserService:
    """Accounts on nodes, and where to log in to them."""

    def __init__(self, pools: PoolService, allocator: Allocator) -> None:
        self.pools = pools
        self.allocator = allocator
        # One change at a time: "does it exist" and "add it" must not interleave.
        self._lock = threading.Lock()

    def create(self, pool_id: str, node_id: str, body: dict[str, Any]) -> None:
        options = requests.parse(models.BatchNodeUserCreateOptions, body)
        name = _check_name(body.get("name"))
        account = _account(name, bool(options.is_admin), body, options.expiry_time)
        home = self._home(pool_id, node_id)
        with self._lock:
            if users.exists(home, name):
                raise BatchError(409, "NodeUserExists", "The specified node user already exists.")
            users.add(home, account)

    def replace(self, pool_id: str, node_id: str, name: str, body: dict[str, Any]) -> None:
        """Every updatable property is replaced: one left out goes back to its default."""
        options = requests.parse(models.BatchNodeUserReplaceOptions, body)
        account = _account(name, False, body, options.expiry_time)
        home = self._home(pool_id, node_id)
        with self._lock:
            if not _is_node_user(home, name):
                raise user_not_found()
            users.replace(home, account)

    def delete(self, pool_id: str, node_id: str, name: str) -> None:
        record = self.pools.node(pool_id, node_id)
        home = self._home(pool_id, node_id)
        with self._lock:
            uid = users.uid_of(home, name) if _is_node_user(home, name) else None
            if uid is None:
                raise user_not_found()
            users.delete(home, name)
        # Its open sessions end with it, as userdel's users would be logged out.
        users.end_processes(self.allocator.node_spec(record).netns, uid)

    def remote_login(self, pool_id: str, node_id: str) -> Json:
        record = self.pools.node(pool_id, node_id)
        if record.doc["state"] not in USER_STATES:
            raise node_conflict(record.doc["state"])
        return {"remoteLoginIPAddress": record.doc["ipAddress"],
                "remoteLoginPort": sshd.SSH_PORT}

    def _home(self, pool_id: str, node_id: str) -> Path:
        record = self.pools.node(pool_id, node_id)
        if record.doc["state"] not in USER_STATES:
            raise node_conflict(record.doc["state"])
        return self.allocator.node_spec(record).home


def _is_node_user(home: Path, name: str) -> bool:
    """A user made through the API (the node's system accounts are not node users)."""
    uid = users.uid_of(home, name)
    return uid is not None and users.FIRST_UID <= uid < users.NOBODY


def _account(name: str, is_admin: bool, body: dict[str, Any], expiry: Any) -> users.Account:
    password = body.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise requests.bad_value("password", "(hidden)", "must be a non-empty string")
    key = body.get("sshPublicKey")
    if key is not None:
        _check_key(key)
    return users.Account(name=name, is_admin=is_admin, password=password,
                         ssh_public_key=key or None,
                         expiry=expiry if expiry is not None else users.default_expiry())


def _check_name(value: object) -> str:
    if value is None or value == "":
        raise requests.missing("name")
    if not isinstance(value, str) or not NAME.match(value):
        raise requests.bad_value("name", value, "a user name is 1-32 letters, digits, "
                                 "underscores, dots or hyphens, not starting with a digit")
    return value


def _check_key(key: object) -> None:
    """An OpenSSH public key line: known type, base64 blob that names the same type."""
    reason = "must be an OpenSSH public key ('<type> <base64> [comment]')"
    parts = key.split() if isinstance(key, str) else []
    if len(parts) < 2 or parts[0] not in KEY_TYPES or "\n" in str(key).strip():
        raise requests.bad_value("sshPublicKey", key, reason)
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise requests.bad_value("sshPublicKey", key, reason) from exc
    size = int.from_bytes(blob[:4], "big")
    if blob[4:4 + size] != parts[0].encode():
        raise requests.bad_value("sshPublicKey", key, reason)
