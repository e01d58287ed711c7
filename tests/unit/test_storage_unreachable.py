"""A storage endpoint that does not answer is one clear line, and soon: no Azurite needed."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from shipyard.config.data import RemotePath
from shipyard.errors import StorageError
from shipyard.storage.account import Account
from shipyard.storage.blobs import RETRY_BACKOFF, Blobs


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_endpoint_is_one_clear_line_after_two_short_retries() -> None:
    key = base64.b64encode(b"x" * 64).decode()
    dead = Account("gone", "devstoreaccount1", key,
                   f"http://127.0.0.1:{closed_port()}/devstoreaccount1")
    started = time.monotonic()
    with pytest.raises(StorageError) as unreachable:
        Blobs(dead).names(RemotePath(storage_account_settings="gone", remote_path="any"))
    took = time.monotonic() - started
    assert unreachable.value.code == "EndpointUnreachable"
    assert "cannot reach storage account devstoreaccount1 (link 'gone')" in \
        unreachable.value.message
    assert "shipyard local status" in (unreachable.value.hint or "")
    # Two retries of about RETRY_BACKOFF s each (jitter 1 s); the SDK's default took 42 s.
    assert took < 2 * (RETRY_BACKOFF + 1) + 5, f"took {took:.1f} s"
