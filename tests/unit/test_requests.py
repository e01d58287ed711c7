"""Request-body checks against the SDK's own models."""

from __future__ import annotations

import pytest
from azure.batch import models

from shipyard.engine.model import requests
from shipyard.errors import BatchError


def test_unknown_property_names_its_path() -> None:
    body = {"id": "p", "vmSize": "x", "userAccounts": [{"name": "a", "password": "b"},
                                                       {"name": "c", "password": "d", "z": 1}]}
    with pytest.raises(BatchError) as caught:
        requests.parse(models.BatchPoolCreateOptions, body)
    assert caught.value.code == "UnsupportedProperty"
    assert caught.value.values == [("PropertyName", "userAccounts[1].z")]


def test_known_properties_parse_into_the_model() -> None:
    body = {"id": "p", "vmSize": "x", "startTask": {"commandLine": "a b", "waitForSuccess": True}}
    parsed = requests.parse(models.BatchPoolCreateOptions, body)
    assert parsed.start_task.command_line == "a b"


@pytest.mark.parametrize("raw", [b"{", b"[1]", b"\xff", b"null"])
def test_malformed_bodies_are_invalid_request_body(raw: bytes) -> None:
    with pytest.raises(BatchError) as caught:
        requests.load_json(raw)
    assert (caught.value.status, caught.value.code) == (400, "InvalidRequestBody")


def test_oversize_body_is_413() -> None:
    with pytest.raises(BatchError) as caught:
        requests.load_json(b" " * (requests.MAX_BODY_BYTES + 1))
    assert caught.value.status == 413


@pytest.mark.parametrize("value", ["", None, "a b", "x" * 65, "a/b", "ü", 5])
def test_bad_ids(value: object) -> None:
    with pytest.raises(BatchError):
        requests.check_id(value)


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_counts(value: object) -> None:
    with pytest.raises(BatchError) as caught:
        requests.check_count(value, "targetDedicatedNodes")
    assert caught.value.code == "InvalidPropertyValue"


@pytest.mark.parametrize("if_match", ["0x8DE59FF41A08ECC", '"0x8DE59FF41A08ECC"', "*", None])
def test_if_match_takes_the_etag_bare_or_quoted(if_match: str | None) -> None:
    requests.check_etag({"eTag": "0x8DE59FF41A08ECC"}, if_match)


@pytest.mark.parametrize("if_match", ["0x1", '"0x1"'])
def test_if_match_of_another_etag_is_412(if_match: str) -> None:
    with pytest.raises(BatchError) as caught:
        requests.check_etag({"eTag": "0x8DE59FF41A08ECC"}, if_match)
    assert (caught.value.status, caught.value.code) == (412, "ConditionNotMet")
