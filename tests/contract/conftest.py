"""Contract tests: a real engine driven through the azure-batch SDK.

The session fixtures (``settings``, ``engine``, ``client``, ``shared_pool``) come from
tests/engine_fixtures.py, the helpers from tests/realengine.py. The names imported from
there are re-exported for test modules that still import them from here. ``one_node`` and
``nodeless`` are small pools of a test module's own (module scope: made once per module
that asks, deleted after it).
"""

from collections.abc import Iterator

import pytest
from azure.batch import BatchClient

from tests.contract.jobhelpers import small_pool
from tests.realengine import (  # noqa: F401
    GREETING,
    IDENTITY_COMMAND,
    IMAGE,
    assert_nothing_left,
    delete_pool,
    free_port,
    leftovers,
    make_client,
    pool_exists,
    pool_options,
    wait_for,
    wait_nodes,
)


@pytest.fixture(scope="module")
def one_node(client: BatchClient) -> Iterator[str]:
    """A pool of one idle node: where a task runs (again) is then known."""
    with small_pool(client, 1) as pool_id:
        yield pool_id


@pytest.fixture(scope="module")
def nodeless(client: BatchClient) -> Iterator[str]:
    """A pool without nodes: its tasks stay active, which is what API tests want."""
    with small_pool(client, 0) as pool_id:
        yield pool_id
