"""Routing on the raw path: %-encoded file paths stay one segment."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.errors import BatchError


def _handler(name: str):  # type: ignore[no-untyped-def]
    def handle(call: Call) -> Response:
        return Response(name)
    return handle


@pytest.fixture
def router() -> Router:
    router = Router()
    router.add("GET", "pools/*", _handler("pool"))
    router.add("GET", "pools/*/nodes/*/files/*", _handler("file"))
    return router


def test_encoded_file_path_is_one_parameter(router: Router) -> None:
    _, params = router.match("GET", "/pools/p1/nodes/n%5F1/files/startup%2Fstdout.txt")
    assert params == ["p1", "n_1", "startup/stdout.txt"]


def test_unknown_path_and_wrong_verb(router: Router) -> None:
    with pytest.raises(BatchError) as caught:
        router.match("GET", "/pools/p1/nodes/n/files/a/b")
    assert (caught.value.status, caught.value.code) == (400, "InvalidUri")
    with pytest.raises(BatchError) as caught:
        router.match("DELETE", "/pools/p1")
    assert (caught.value.status, caught.value.code) == (405, "UnsupportedHttpVerb")
    with pytest.raises(BatchError):
        router.match("GET", "/pools/")
