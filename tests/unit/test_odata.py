"""OData options: $filter grammar, $select as the service trims, paging tokens and links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shipyard.engine.api.odata import FilterError, apply_select, parse_filter
from shipyard.engine.api.paging import (
    decode_token,
    encode_token,
    next_link,
    paginate,
    parse_maxresults,
)
from shipyard.errors import ConfigError

TASK: dict[str, Any] = {
    "id": "task-7",
    "url": "http://127.0.0.1:8123/jobs/j/tasks/task-7",
    "eTag": "0x8DE59F49F1C085A",
    "state": "completed",
    "creationTime": "2026-01-22T20:27:10.9495898Z",
    "commandLine": "echo it's done",
    "requiredSlots": 1,
    "executionInfo": {
        "startTime": "2026-01-22T20:27:12.736062Z",
        "exitCode": 3,
        "result": "failure",
    },
    "contentLength": "1024",
    "isDirectory": False,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'completed'", True),
        ("state eq 'active'", False),
        ("state ne 'active'", True),
        ("STATE EQ 'completed'", True),
        ("  state   eq   'completed'  ", True),
        ("state eq 'active' or state eq 'completed'", True),
        ("state eq 'completed' and id eq 'task-8'", False),
        ("state eq 'active' or state eq 'running' and id eq 'task-7'", False),
        ("(state eq 'active' or state eq 'completed') and id eq 'task-7'", True),
        ("not state eq 'active'", True),
        ("not (state eq 'completed')", False),
        ("startswith(id,'task-')", True),
        ("startswith( id , 'job-' )", False),
        ("StartsWith(id,'task-') eq false", False),
        ("startswith(id,'task-') ne false", True),
        ("endswith(id,'-7')", True),
        ("commandLine eq 'echo it''s done'", True),
        ("executionInfo/exitCode eq 3", True),
        ("executionInfo.exitCode gt 0", True),
        ("executionInfo/exitCode le 2", False),
        ("executionInfo/result eq 'failure'", True),
        ("ExecutionInfo/ExitCode ge -1", True),
        ("requiredSlots lt 1.5", True),
        ("contentLength ge 1000", True),  # a string on the wire, compared as a number
        ("isDirectory eq false", True),
        ("isDirectory eq true", False),
        ("creationTime lt datetime'2026-01-23T00:00:00Z'", True),
        ("creationTime gt DateTime'2026-01-22T20:27:10.949588Z'", True),
        ("executionInfo/startTime ge 2026-01-22T20:27:12Z", True),
        ("executionInfo/startTime lt 2026-01-22T21:27:12+01:00", False),
        ("id ge 'task-1' and id lt 'task-9'", True),
    ],
)
def test_filter_matches(text: str, expected: bool) -> None:
    assert parse_filter(text)(TASK) is expected


@pytest.mark.parametrize(
    "text",
    [
        "nodeInfo/poolId eq 'p'",  # absent property
        "nodeInfo/poolId ne 'p'",
        "executionInfo/exitCode/x eq 1",  # path through a scalar
        "state eq 3",  # type mismatch
        "requiredSlots eq '1'",
        "isDirectory eq 0",
        "requiredSlots eq true",
        "state gt datetime'2026-01-01T00:00:00Z'",
        "startswith(requiredSlots,'1')",
    ],
)
def test_unknown_property_or_type_mismatch_is_false(text: str) -> None:
    assert parse_filter(text)(TASK) is False


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_null_property_never_matches(op: str) -> None:
    assert (
        parse_filter(f"executionInfo/exitCode {op} 0")({"executionInfo": {"exitCode": None}})
        is False
    )


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("state", 5),
        ("state eq", 8),
        ("state eq 'open", 9),
        ("state is 'x'", 6),
        ("state eq 'x' and", 16),
        ("(state eq 'x'", 13),
        ("state eq 'x')", 12),
        ("state eq 'x' state eq 'y'", 13),
        ("startswith(id, 3)", 15),
        ("startswith(id 'x')", 14),
        ("startswith(id,'x') eq 'y'", 22),
        ("state eq datetime'tomorrow'", 9),
        ("state eq @", 9),
    ],
)
def test_filter_syntax_errors_name_the_position(text: str, position: int) -> None:
    with pytest.raises(FilterError, match=f"at position {position} in") as caught:
        parse_filter(text)
    assert caught.value.parameter == "$filter"
    assert caught.value.value == text
    assert isinstance(caught.value, ConfigError)


def test_select_keeps_exactly_the_selected_keys() -> None:
    # list_pools_filter_select: items trimmed to exactly id,state (no url/eTag).
    assert apply_select(TASK, "id,state") == {"id": "task-7", "state": "completed"}
    assert list(apply_select(TASK, " State , ID ,, nonexistent")) == ["id", "state"]


def test_select_keeps_odata_metadata_like_a_single_get() -> None:
    # get_pool_select: the body keeps odata.metadata beside the selected keys.
    item = {"odata.metadata": "m", **TASK}
    assert apply_select(item, "id") == {"odata.metadata": "m", "id": "task-7"}


@pytest.mark.parametrize("select", [None, "", " , "])
def test_no_select_returns_an_equal_copy(select: str | None) -> None:
    result = apply_select(TASK, select)
    assert result == TASK
    assert result is not TASK


def test_token_round_trip_is_url_safe() -> None:
    state = {"skip": 1000, "filter": "state eq 'a b'/+", "select": None}
    token = encode_token(state)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert decode_token(token) == state


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),
        lambda t: t.split(".")[0],
        lambda t: "x" + t,
        lambda t: "",
        lambda t: "!!!.???",
        lambda t: encode_token({"skip": 0}, key=b"another key"),
        lambda t: encode_token(["not", "a", "dict"]),  # type: ignore[arg-type]
    ],
)
def test_forged_tokens_are_rejected(forge: Any) -> None:
    token = encode_token({"skip": 5})
    with pytest.raises(FilterError, match=r"\$skiptoken") as caught:
        decode_token(forge(token))
    assert caught.value.parameter == "$skiptoken"


def test_paginate_walks_every_item_once() -> None:
    items = list(range(7))
    pages, skip = [], 0
    while True:
        page, next_skip = paginate(items, skip, 3)
        pages.append(page)
        if next_skip is None:
            break
        skip = next_skip
    assert pages == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize(
    ("count", "maxresults", "expected"),
    [(0, None, ([], None)), (3, 3, ([0, 1, 2], None)), (1500, None, (list(range(1000)), 1000))],
)
def test_paginate_edges(count: int, maxresults: int | None, expected: Any) -> None:
    assert paginate(list(range(count)), 0, maxresults) == expected


@pytest.mark.parametrize(("skip", "maxresults"), [(0, 0), (0, 1001), (0, -5), (-1, 10)])
def test_paginate_rejects_out_of_range(skip: int, maxresults: int) -> None:
    with pytest.raises(FilterError):
        paginate([1, 2, 3], skip, maxresults)


@pytest.mark.parametrize(("text", "expected"), [(None, None), ("", None), ("1", 1), ("1000", 1000)])
def test_parse_maxresults(text: str | None, expected: int | None) -> None:
    assert parse_maxresults(text) == expected


@pytest.mark.parametrize("text", ["0", "1001", "ten", "1.5"])
def test_parse_maxresults_rejects(text: str) -> None:
    with pytest.raises(FilterError, match="maxresults") as caught:
        parse_maxresults(text)
    assert caught.value.parameter == "maxresults"


def test_next_link_has_the_recorded_form() -> None:
    params = {"api-version": "2025-06-01", "maxresults": "1", "$skiptoken": "Sanitized"}
    link = next_link("https://batch.eastus2.batch.azure.com/", "/pools", params)
    # list_pools_paged, verbatim
    assert link == (
        "https://batch.eastus2.batch.azure.com/pools"
        "?api-version=2025-06-01&maxresults=1&$skiptoken=Sanitized"
    )


def test_next_link_values_survive_the_sdks_reparse() -> None:
    # The SDK follows a link by parse_qs-ing its query, so values must decode exactly.
    token = encode_token({"skip": 2})
    params = {"$filter": "state eq 'a&b' or id eq 'x+y'", "$skiptoken": token}
    query = parse_qs(urlsplit(next_link("http://h:1", "/jobs/j/tasks", params)).query)
    assert query == {"$filter": [params["$filter"]], "$skiptoken": [token]}
