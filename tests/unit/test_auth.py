"""SharedKey verification against the SDK's own signer (azure-batch 15.1.0).

Every positive case is signed by ``BatchSharedKeyAuthPolicy`` itself, so a drift between
the SDK and ``shipyard.engine.api.auth`` fails here rather than as a 403 in contract tests.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.batch import BatchClient, models
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from requests.utils import requote_uri

from shipyard.engine.api.auth import authorization, sign, split_query, string_to_sign, verify
from shipyard.errors import ConfigError

ACCOUNT = "shipyardacct"
KEY = base64.b64encode(bytes(range(64))).decode()
OTHER_KEY = base64.b64encode(b"x" * 64).decode()
ENDPOINT = "http://127.0.0.1:8123"
JSON_TYPE = "application/json; odata=minimalmetadata"


def sdk_signed(
    method: str, url: str, headers: Mapping[str, str] | None = None, content: str | None = None
) -> HttpRequest:
    """A request signed by the SDK's policy exactly as the client pipeline does it."""
    request = HttpRequest(method, url, headers=dict(headers or {}), content=content)
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(ACCOUNT, KEY))
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    return request


def server_verify(
    request: Any,
    *,
    key: str = KEY,
    account: str = ACCOUNT,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str | None:
    """What the engine sees: the raw path and query of the URL, the headers as sent."""
    parts = urlsplit(url or request.url)
    sent = dict(request.headers if headers is None else headers)
    auth = next((v for k, v in sent.items() if k.lower() == "authorization"), None)
    query = split_query(parts.query)
    return verify(auth, account, key, request.method, parts.path, query, sent)


SIGNED_CASES = {
    "get with odata query": (
        "GET",
        f"{ENDPOINT}/pools?api-version=2025-06-01&maxresults=10&timeOut=30"
        "&$filter=state%20eq%20%27active%27%20and%20startswith%28id%2C%27a%20b%27%29"
        "&$select=id,state",
        {"Accept": "application/json"},
        None,
    ),
    "post with json body": (
        "POST",
        f"{ENDPOINT}/pools?api-version=2025-06-01&timeOut=45",
        {"content-type": JSON_TYPE, "Accept": "*/*"},
        '{"id": "p1", "vmSize": "standard_d2_v2"}',
    ),
    "file path with %2F": (
        "GET",
        f"{ENDPOINT}/pools/p/nodes/n/files/startup%2Fstdout.txt?api-version=2025-06-01",
        {"Accept": "application/octet-stream", "ocp-range": "bytes=0-99"},
        None,
    ),
    "head": ("HEAD", f"{ENDPOINT}/pools/p1?api-version=2025-06-01", {}, None),
    "delete without body": ("DELETE", f"{ENDPOINT}/jobs/j1?api-version=2025-06-01", {}, None),
    "conditional patch": (
        "PATCH",
        f"{ENDPOINT}/jobs/j1?api-version=2025-06-01",
        {"content-type": JSON_TYPE, "If-Match": "0x8DE59FF41A08ECC", "If-None-Match": ""},
        '{"onAllTasksComplete": "terminatejob"}',
    ),
    "%24-encoded, plus, blank and repeated query names": (
        "GET",
        f"{ENDPOINT}/jobs/j1/tasks?api-version=2025-06-01&%24select=id%2Cstate"
        "&x=a+b&blank=&flag&dup=&dup=2&dup=3&alpha=1&Zeta=2",
        {},
        None,
    ),
}


@pytest.mark.parametrize("case", SIGNED_CASES.values(), ids=SIGNED_CASES.keys())
def test_sdk_signed_requests_verify(case: tuple[str, str, dict[str, str], str | None]) -> None:
    method, url, headers, content = case
    request = sdk_signed(method, url, headers, content)
    assert server_verify(request) is None


@pytest.mark.parametrize("case", SIGNED_CASES.values(), ids=SIGNED_CASES.keys())
def test_authorization_reproduces_sdk_header(
    case: tuple[str, str, dict[str, str], str | None],
) -> None:
    method, url, headers, content = case
    request = sdk_signed(method, url, headers, content)
    parts = urlsplit(request.url)
    query = split_query(parts.query)
    ours = authorization(ACCOUNT, KEY, method, parts.path, query, request.headers)
    assert ours == request.headers["Authorization"]


def test_string_to_sign_layout() -> None:
    headers = {"Content-Type": JSON_TYPE, "ocp-date": "Thu, 22 Jan 2026 22:58:03 GMT"}
    query = [("timeOut", "45"), ("api-version", "2025-06-01"), ("%24filter", "a+eq+%27b%27")]
    expected = "\n".join(
        [
            "POST",
            "",  # content-encoding
            "",  # content-language
            "0",  # content-length defaults to 0 for a POST without one
            "",  # content-md5
            JSON_TYPE,
            *[""] * 6,  # date, if-modified-since, if-match, if-none-match, ...since, range
            "ocp-date:Thu, 22 Jan 2026 22:58:03 GMT",
            f"/{ACCOUNT}/pools",
            "$filter:a eq 'b'",
            "api-version:2025-06-01",
            "timeOut:45",
        ]
    )
    assert string_to_sign("post", "/pools", query, headers, ACCOUNT) == expected


def test_get_without_length_signs_empty_content_length() -> None:
    text = string_to_sign("GET", "/pools", [], {}, ACCOUNT)
    assert text.split("\n")[3] == ""


def test_ocp_headers_sorted_by_lowercased_name() -> None:
    headers = {"ocp-range": "bytes=0-1", "OCP-Date": "d", "x-ocp-custom": "c", "ocp-empty": ""}
    lines = string_to_sign("GET", "/p", [], headers, ACCOUNT).split("\n")
    assert lines[12:15] == ["ocp-date:d", "ocp-range:bytes=0-1", "x-ocp-custom:c"]


def test_transport_added_zero_length_on_get_still_verifies() -> None:
    request = sdk_signed("GET", f"{ENDPOINT}/pools?api-version=2025-06-01")
    on_wire = {**request.headers, "Content-Length": "0"}
    assert server_verify(request, headers=on_wire) is None


def test_wrong_key_is_rejected_with_string_to_sign() -> None:
    request = sdk_signed("GET", f"{ENDPOINT}/pools?api-version=2025-06-01")
    detail = server_verify(request, key=OTHER_KEY)
    assert detail is not None
    assert detail.startswith("The MAC signature found in the HTTP request '")
    assert "is not the same as any computed signature" in detail
    assert f"/{ACCOUNT}/pools\napi-version:2025-06-01" in detail


def test_wrong_account_is_rejected_like_the_service() -> None:
    request = sdk_signed("GET", f"{ENDPOINT}/pools?api-version=2025-06-01")
    detail = server_verify(request, account="otheracct")
    assert detail == (
        f"Cannot find the claimed account when trying to GetProperties for the account {ACCOUNT}."
    )


TAMPERS: dict[str, Callable[[HttpRequest], dict[str, Any]]] = {
    "path": lambda r: {"url": r.url.replace("/pools/p1", "/pools/p2")},
    "encoded path segment": lambda r: {"url": r.url.replace("p1", "p%31")},
    "query value": lambda r: {"url": r.url.replace("maxresults=5", "maxresults=6")},
    "added query option": lambda r: {"url": r.url + "&$filter=state%20eq%20%27x%27"},
    "ocp-date": lambda r: {"headers": {**r.headers, "ocp-date": "Fri, 23 Jan 2026 00:00:00 GMT"}},
    "added ocp header": lambda r: {"headers": {**r.headers, "ocp-range": "bytes=0-1"}},
    "if-match": lambda r: {"headers": {**r.headers, "If-Match": "0x1"}},
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_tampered_request_is_rejected(tamper: Callable[[HttpRequest], dict[str, Any]]) -> None:
    request = sdk_signed("GET", f"{ENDPOINT}/pools/p1?api-version=2025-06-01&maxresults=5")
    assert server_verify(request) is None
    detail = server_verify(request, **tamper(request))
    assert detail is not None
    assert "is not the same as any computed signature" in detail


@pytest.mark.parametrize("header", [None, "", "SharedKey", "SharedKey acct", "Bearer a:b"])
def test_missing_or_malformed_header_is_rejected(header: str | None) -> None:
    detail = verify(header, ACCOUNT, KEY, "GET", "/pools", [], {"ocp-date": "x"})
    assert detail is not None
    assert "Authorization header" in detail


def test_request_without_any_date_is_rejected() -> None:
    headers: dict[str, str] = {}
    header = authorization(ACCOUNT, KEY, "GET", "/pools", [], headers)
    detail = verify(header, ACCOUNT, KEY, "GET", "/pools", [], headers)
    assert detail is not None
    assert "date" in detail


def test_non_ascii_signature_is_rejected_not_raised() -> None:
    detail = verify(f"SharedKey {ACCOUNT}:é", ACCOUNT, KEY, "GET", "/p", [], {"ocp-date": "x"})
    assert detail is not None


def test_invalid_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base64"):
        sign("not base64!", "text")


def test_split_query_keeps_raw_pairs() -> None:
    assert split_query("a=1&%24b=x%2Cy&&c&d=e=f") == [
        ("a", "1"),
        ("%24b", "x%2Cy"),
        ("c", ""),
        ("d", "e=f"),
    ]


class _Captured(Exception):
    """Stops the pipeline once the transport has seen the final request."""


class CapturingTransport(HttpTransport[Any, Any]):
    """A transport that records what the SDK would send and answers nothing."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        raise _Captured

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        pass


@pytest.fixture
def client_calls() -> Iterator[tuple[BatchClient, CapturingTransport]]:
    transport = CapturingTransport()
    client = BatchClient(ENDPOINT, AzureNamedKeyCredential(ACCOUNT, KEY), transport=transport)
    yield client, transport
    client.close()


CLIENT_CALLS: dict[str, Callable[[BatchClient], object]] = {
    "list_pools": lambda c: list(
        c.list_pools(filter="state eq 'active' and id ne 'o''b'", select=["id"], max_results=5)
    ),
    "create_pool": lambda c: c.create_pool(
        models.BatchPoolCreateOptions(id="p1", vm_size="standard_d2_v2"), service_timeout=45
    ),
    "download_node_file": lambda c: b"".join(
        c.download_node_file("p", "n", "startup/stdout.txt", ocp_range="bytes=0-9")
    ),
    "get_node_file_properties": lambda c: c.get_node_file_properties("p", "n", "wd/a b.txt"),
    "update_job": lambda c: c.update_job(
        "j1",
        models.BatchJobUpdateOptions(
            constraints=models.BatchJobConstraints(max_wall_clock_time=dt.timedelta(minutes=6)),
            all_tasks_complete_mode="terminatejob",
        ),
        if_unmodified_since=dt.datetime(2026, 1, 22, tzinfo=dt.UTC),
    ),
    "delete_task": lambda c: c.delete_task("j1", "t1"),
}


@pytest.mark.parametrize("call", CLIENT_CALLS.values(), ids=CLIENT_CALLS.keys())
def test_batch_client_requests_verify(
    client_calls: tuple[BatchClient, CapturingTransport], call: Callable[[BatchClient], object]
) -> None:
    client, transport = client_calls
    with pytest.raises(_Captured):
        call(client)
    (request,) = transport.sent
    # requests re-quotes the URL on its way out; the engine sees that form.
    assert server_verify(request, url=requote_uri(request.url)) is None
