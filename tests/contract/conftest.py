"""Contract tests: a real engine driven through the azure-batch SDK.

The session fixtures (``settings``, ``engine``, ``client``, ``shared_pool``) come from
tests/engine_fixtures.py, the helpers from tests/realengine.py. The names below are
re-exported for test modules that still import them from here.
"""

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
