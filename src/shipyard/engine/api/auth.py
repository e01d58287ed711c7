"""SharedKey request authentication, server side: the exact mirror of the SDK's signer.

The ``azure-batch`` SDK signs every request in ``azure.batch._patch.BatchSharedKeyAuthPolicy``.
This module rebuilds the same string from what arrived on the wire and compares MACs, so
the engine accepts exactly the requests the SDK signs with the account key. Rules copied
from that policy (they decide whether a signature matches, so keep them in step):

- headers with an empty value count as absent;
- ``content-length`` is ``"0"`` when absent on anything but GET/HEAD;
- every header whose lower-cased name contains ``ocp-`` is signed as ``name:value``,
  sorted by lower-cased name;
- the path is signed as sent, still %-encoded; host and port are not signed;
- query parameters are decoded like ``urllib.parse.parse_qs`` (``+`` is a space, names
  decoded too, so ``%24select`` is ``$select``), blank values dropped, the first value of
  each name kept, sorted by name with its case kept (``timeOut``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import unquote_plus

from shipyard.errors import ConfigError

SIGNED_HEADERS: Final = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)

_SCHEME: Final = "SharedKey "
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD"})


def split_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string into raw ``(name, value)`` pairs, nothing decoded.

    A field without ``=`` becomes ``(name, "")``, which signing then ignores.
    """
    pairs: list[tuple[str, str]] = []
    for field in raw_query.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


def _signed_query(query: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Decoded, de-duplicated, sorted query pairs, as the SDK's ``parse_qs`` sees them."""
    first: dict[str, str] = {}
    for raw_name, raw_value in query:
        # parse_qs drops blank values before grouping, so a blank first occurrence
        # does not hide a later non-blank one.
        if raw_value:
            first.setdefault(unquote_plus(raw_name), unquote_plus(raw_value))
    return sorted(first.items())


def string_to_sign(
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    account: str,
) -> str:
    """The exact string the SDK signs for this request.

    ``raw_path`` is the path as sent (%-encoded), ``query`` the raw pairs in URL order
    (see ``split_query``), ``headers`` any mapping; names are compared case-insensitively.
    """
    verb = method.upper()
    present = {name.lower(): value for name, value in headers.items() if value}
    if verb not in _BODYLESS_METHODS:
        present.setdefault("content-length", "0")
    lines = [verb, *(present.get(name, "") for name in SIGNED_HEADERS)]
    lines += [f"{name}:{value}" for name, value in sorted(present.items()) if "ocp-" in name]
    lines.append(f"/{account}{raw_path}")
    lines += [f"{name}:{value}" for name, value in _signed_query(query)]
    return "\n".join(lines)


def _key_bytes(key_b64: str) -> bytes:
    try:
        return base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("the account key is not valid base64", "check the engine's key") from exc


def sign(key_b64: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA256 of ``string_to_sign`` (UTF-8) under the base64 account key."""
    digest = hmac.new(_key_bytes(key_b64), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def authorization(
    account: str,
    key_b64: str,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """A complete ``Authorization`` header value, for callers that sign (tools, tests)."""
    signature = sign(key_b64, string_to_sign(method, raw_path, query, headers, account))
    return f"{_SCHEME}{account}:{signature}"


def _signed_headers(method: str, headers: Mapping[str, str]) -> list[Mapping[str, str]]:
    """The header sets a valid signature may cover: as received, plus one without a
    transport-added length.

    The SDK signs GET/HEAD with an empty content-length, but an HTTP client may still put
    ``Content-Length: 0`` on the wire, so that one case is also checked without it.
    """
    variants = [headers]
    lowered = {name.lower(): value for name, value in headers.items()}
    if method.upper() in _BODYLESS_METHODS and lowered.get("content-length") == "0":
        del lowered["content-length"]
        variants.append(lowered)
    return variants


def _parse_authorization(authorization: str | None) -> tuple[str, str] | str:
    """``(account, signature)`` from the header, or the error detail text."""
    if not authorization:
        return "The Authorization header is missing; sign the request with SharedKey."
    scheme, _, credential = authorization.strip().partition(" ")
    account, _, signature = credential.partition(":")
    if f"{scheme} " != _SCHEME or not account or not signature:
        return (
            f"The Authorization header '{authorization}' is malformed; "
            "expected 'SharedKey <account>:<signature>'."
        )
    return account, signature


def verify(
    authorization: str | None,
    expected_account: str,
    key_b64: str,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str | None:
    """Check a SharedKey ``Authorization`` header; None when valid.

    Otherwise returns the text for the 403 ``AuthenticationFailed`` body's
    ``AuthenticationErrorDetail`` value, worded like the real service's.
    """
    parsed = _parse_authorization(authorization)
    if isinstance(parsed, str):
        return parsed
    account, signature = parsed
    if account != expected_account:
        return (
            "Cannot find the claimed account when trying to GetProperties for the account "
            f"{account}."
        )
    lowered = {name.lower() for name, value in headers.items() if value}
    if not lowered & {"ocp-date", "date"}:
        return "Request date header not specified; send ocp-date (RFC 1123)."
    pairs = list(query)
    candidates = [string_to_sign(method, raw_path, pairs, signed, account)
                  for signed in _signed_headers(method, headers)]
    # Compare every candidate, valid or not, so timing says nothing about which one failed.
    claimed = signature.encode("utf-8")
    matches = [hmac.compare_digest(sign(key_b64, text).encode(), claimed) for text in candidates]
    if any(matches):
        return None
    return (
        f"The MAC signature found in the HTTP request '{signature}' is not the same as any "
        f"computed signature. Server used following string to sign: '{candidates[0]}'."
    )
