"""The engine's listening socket: it claims its port at once, and answers without delay."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shipyard.engine.server import _listen
from shipyard.engine.settings import EngineSettings
from shipyard.errors import EngineError
from tests.realengine import free_port


def test_the_listener_claims_its_port_and_sends_small_answers_at_once(tmp_path: Path) -> None:
    settings = EngineSettings(data_dir=tmp_path, port=free_port())
    first = _listen(settings)
    try:
        # Accepted connections inherit TCP_NODELAY; without it a small answer waited
        # ~40 ms (bench: get_task p50 44 ms against 1.8 ms).
        assert first.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        with socket.create_connection(("127.0.0.1", settings.port), timeout=5) as client:
            accepted, _ = first.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert client is not None
        with pytest.raises(EngineError, match=f"cannot listen on 127.0.0.1:{settings.port}"):
            _listen(settings)  # listening already: a second engine cannot take the port
    finally:
        first.close()
