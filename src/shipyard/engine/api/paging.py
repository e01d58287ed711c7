"""Paging of list responses: ``maxresults``, signed ``$skiptoken``s and ``odata.nextLink``.

A page's position travels in an opaque token signed with a per-process key, so a client
cannot hand back an edited one; a broken or forged token is a ``FilterError`` on
``$skiptoken``, like any bad list option (see ``odata``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote

from shipyard.engine.api.odata import FilterError

T = TypeVar("T")

MAX_RESULTS: Final = 1000
"""The service's cap on ``maxresults`` and its page size when none is asked for."""


# Tokens only need to survive this process: a restarted engine has lost its lists anyway.
_TOKEN_KEY: Final = secrets.token_bytes(32)
_MAC_BYTES: Final = 16


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_token(state: Mapping[str, Any], *, key: bytes | None = None) -> str:
    """An opaque, URL-safe ``$skiptoken`` carrying ``state`` (JSON-serializable).

    Signed with an HMAC so a client cannot hand back an edited token.
    """
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode("utf-8")
    mac = hmac.new(key or _TOKEN_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{_b64encode(payload)}.{_b64encode(mac)}"


def decode_token(token: str, *, key: bytes | None = None) -> dict[str, Any]:
    """The state inside a token from ``encode_token``; ``FilterError`` if forged or broken."""
    invalid = FilterError("invalid or expired $skiptoken", parameter="$skiptoken", value=token)
    payload_text, _, mac_text = token.partition(".")
    try:
        payload, mac = _b64decode(payload_text), _b64decode(mac_text)
    except (binascii.Error, ValueError):
        raise invalid from None
    expected = hmac.new(key or _TOKEN_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(expected, mac):
        raise invalid
    state = json.loads(payload)
    if not isinstance(state, dict):
        raise invalid
    return state


def parse_maxresults(text: str | None) -> int | None:
    """The ``maxresults`` query value as an int in 1..1000, or None when absent."""
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise FilterError(
            f"maxresults must be an integer, not {text!r}", parameter="maxresults", value=text
        ) from None
    _check_maxresults(value)
    return value


def _check_maxresults(value: int) -> None:
    if not 1 <= value <= MAX_RESULTS:
        raise FilterError(
            f"maxresults must be between 1 and {MAX_RESULTS}, not {value}",
            parameter="maxresults",
            value=str(value),
        )


def paginate(
    items: Sequence[T], skip: int, maxresults: int | None, default_max: int = MAX_RESULTS
) -> tuple[list[T], int | None]:
    """One page of ``items`` from ``skip``, and the next page's skip (None after the last)."""
    if maxresults is not None:
        _check_maxresults(maxresults)
    if skip < 0:
        raise FilterError(f"invalid page offset {skip}", parameter="$skiptoken", value=str(skip))
    end = skip + (maxresults or default_max)
    return list(items[skip:end]), (end if end < len(items) else None)


def next_link(base_url: str, path: str, params: Mapping[str, str]) -> str:
    """The absolute ``odata.nextLink``: ``<base><path>?<params in the given order>``.

    Names keep a literal ``$`` (``$skiptoken``) like the service's links; values are
    %-encoded. The service keeps ``api-version`` and ``maxresults`` and adds
    ``$skiptoken``; the SDK re-reads every parameter from the link, so whatever list state
    is not in the token must be here.
    """
    query = "&".join(
        f"{quote(name, safe='$')}={quote(value, safe='')}" for name, value in params.items()
    )
    return f"{base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
