"""Session fixtures for every tier that needs a real engine (contract, e2e, real-node CLI).

One engine and one 3-node pool serve the whole session; tests that change pools make
their own small ones. Every fixture cleans up after itself and the session ends by
checking that nothing of the engine's is left on the machine. Loaded for all of tests/
by ``pytest_plugins`` in tests/conftest.py, so the tiers share one engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings
from tests.realengine import (
    assert_nothing_left,
    delete_pool,
    free_port,
    make_client,
    pool_options,
    wait_nodes,
)

LOG_TAIL = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """A failed test of the session engine shows the tail of the engine's log: CI keeps
    nothing else of an engine whose data dir goes with the session."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    settings = getattr(item, "funcargs", {}).get("settings")
    if report.failed and isinstance(settings, EngineSettings):
        try:
            lines = settings.log_file.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        except OSError as exc:
            lines = [f"(no engine log: {exc})"]
        report.sections.append((f"engine log, last {LOG_TAIL} lines", "\n".join(lines)))


@pytest.fixture(scope="session")
def settings() -> Iterator[EngineSettings]:
    if os.geteuid() != 0:
        pytest.skip("the engine needs root")
    # Not under /tmp: a node mounts its own /tmp, which would hide its home from its daemon.
    data_dir = Path(tempfile.mkdtemp(prefix="shyc-", dir="/var/tmp"))
    yield EngineSettings(data_dir=data_dir, port=free_port())
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(settings: EngineSettings) -> Iterator[control.EngineState]:
    state, _ = control.start(settings)
    yield state
    try:
        client = make_client(state)
        for pool in client.list_pools():
            delete_pool(client, pool.id)
    finally:
        control.stop(settings.data_dir)
    assert_nothing_left(settings.data_dir)


@pytest.fixture(scope="session")
def client(engine: control.EngineState) -> BatchClient:
    return make_client(engine)


@pytest.fixture(scope="session")
def shared_pool(client: BatchClient) -> Iterator[str]:
    """A 3-node pool, idle, used read-only by most tests."""
    pool_id = "shared-pool"
    client.create_pool(pool_options(pool_id, 3))
    wait_nodes(client, pool_id, 3)
    yield pool_id
    delete_pool(client, pool_id)
