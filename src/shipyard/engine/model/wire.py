"""Wire formats of the Batch data plane: datetimes, durations, ETags and error bodies.

Pure functions shared by the HTTP layer and the stores. The formats mirror what the real
service sends (see ``_conventions`` in the reference recordings) and what the
``azure-batch`` SDK sends and parses:

- body datetimes: ISO 8601 UTC, ``Z``, up to 7 fractional digits, trailing zeros dropped;
- headers (``Last-Modified``, ``ocp-creation-time``): RFC 1123;
- durations: ISO 8601 (``PT15M``, ``P7D``), with .NET ``TimeSpan.MaxValue`` as "infinite";
- ETags: ``0x`` + the uppercase hex of the modification time in .NET ticks.

Example::

    >>> format_duration(parse_duration("PT06M00S"))
    'PT6M'
"""

from __future__ import annotations

import email.utils
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from shipyard.errors import ConfigError

INFINITE_WIRE: Final = "P10675199DT2H48M5.4775807S"
"""How the service spells an unlimited duration: .NET ``TimeSpan.MaxValue``."""

INFINITE_DURATION: Final = timedelta(days=10675199, seconds=10085, microseconds=477581)
"""The sentinel ``parse_duration`` returns for "infinite".

It is the value the SDK itself hands its users for ``INFINITE_WIRE`` (isodate rounds the
7th digit), so ``task.constraints.max_wall_clock_time == INFINITE_DURATION`` holds on both
sides. Adding it to a datetime overflows: test with ``is_infinite`` first.
"""

# The SDK serializes timedeltas through a float of total seconds, which loses ~0.1 ms at
# this magnitude (it sends ...05.477539S); anything this close to the maximum means infinite.
_INFINITE_TOLERANCE: Final = timedelta(seconds=1)

_DOTNET_EPOCH: Final = datetime(1, 1, 1, tzinfo=UTC)
_TICKS_PER_MICROSECOND: Final = 10

_DATETIME_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_DURATION_RE: Final = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)

_etag_lock = threading.Lock()
_last_etag_ticks = 0


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _as_utc(dt: datetime) -> datetime:
    # Naive datetimes are taken as UTC, as the SDK does when it serializes them.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and up to 7 fractional digits, trailing zeros dropped."""
    utc = _as_utc(dt)
    fraction = f"{utc.microsecond * _TICKS_PER_MICROSECOND:07d}".rstrip("0")
    whole = utc.replace(tzinfo=None).isoformat(timespec="seconds")  # zero-pads year < 1000
    return whole + (f".{fraction}" if fraction else "") + "Z"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime as the SDK or the service writes it; aware UTC result.

    Accepts ``Z`` or a numeric offset (no zone means UTC) and any number of fractional
    digits; digits past the 6th are truncated, like the SDK does with the service's 7.
    """
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"invalid datetime {text!r}", "use ISO 8601, e.g. 2026-01-22T21:43:18Z")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        naive = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro
        )
    except ValueError as exc:
        raise ConfigError(f"invalid datetime {text!r}: {exc}") from exc
    return (naive - _zone_offset(zone) if zone else naive).replace(tzinfo=UTC)


def _zone_offset(zone: str) -> timedelta:
    """The offset of a ``Z``/``+hh:mm``/``-hhmm`` suffix; subtract it to get UTC."""
    if zone.upper() == "Z":
        return timedelta(0)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return -offset if zone[0] == "-" else offset


def format_rfc1123(dt: datetime) -> str:
    """RFC 1123 in GMT, second precision: ``Thu, 22 Jan 2026 22:58:03 GMT``."""
    return email.utils.format_datetime(_as_utc(dt).replace(microsecond=0), usegmt=True)


def parse_rfc1123(text: str) -> datetime:
    """Parse an RFC 1123 header date (``If-Modified-Since``, ``ocp-date``); aware UTC."""
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid RFC 1123 date {text!r}") from exc
    return _as_utc(parsed)


def is_infinite(duration: timedelta) -> bool:
    """Whether a duration means "no limit" (``INFINITE_DURATION`` or anything near it)."""
    return duration >= INFINITE_DURATION - _INFINITE_TOLERANCE


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration: ``PT15M00S``, ``P1D``, ``P7DT1H``, ``PT0.5S``, ``P2W``.

    Years and months are refused (their length is ambiguous and the SDK never sends them).
    The bare ``P`` the SDK writes for a zero timedelta is zero. "Infinite" (and anything
    at least that long) returns ``INFINITE_DURATION``; raises ``ConfigError`` otherwise.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"invalid duration {text!r}", "use ISO 8601 days/hours/minutes/seconds, e.g. PT15M"
        )
    weeks, days, hours, minutes, seconds = match.groups()
    whole_days = 7 * int(weeks or 0) + int(days or 0)
    if whole_days > INFINITE_DURATION.days:
        return INFINITE_DURATION
    duration = timedelta(
        days=whole_days,
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        microseconds=_microseconds(seconds or "0"),
    )
    return INFINITE_DURATION if is_infinite(duration) else duration


def _microseconds(seconds: str) -> int:
    try:
        exact = Decimal(seconds) * 1_000_000
    except InvalidOperation as exc:  # the regex makes this unreachable; keep it loud
        raise ConfigError(f"invalid seconds {seconds!r} in duration") from exc
    # Round half up to the microsecond: 5.4775807 s -> 5477581 us, as isodate does.
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_duration(duration: timedelta) -> str:
    """The service's normalised ISO 8601 form: ``PT15M``, ``P7D``, ``P1DT1H``, ``PT0S``."""
    if duration < timedelta(0):
        raise ConfigError(f"negative duration {duration}", "durations must be zero or more")
    if is_infinite(duration):
        return INFINITE_WIRE
    hours, rest = divmod(duration.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(
        f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M")) if value
    ) + _format_seconds(seconds, duration.microseconds)
    date = f"{duration.days}D" if duration.days else ""
    if not date and not clock:
        return "PT0S"
    return f"P{date}" + (f"T{clock}" if clock else "")


def _format_seconds(seconds: int, microseconds: int) -> str:
    if not seconds and not microseconds:
        return ""
    fraction = f"{microseconds:06d}".rstrip("0")
    return f"{seconds}.{fraction}S" if fraction else f"{seconds}S"


def _ticks(at: datetime) -> int:
    """.NET ``DateTime.Ticks``: 100 ns units since 0001-01-01 UTC."""
    return (_as_utc(at) - _DOTNET_EPOCH) // timedelta(microseconds=1) * _TICKS_PER_MICROSECOND


def etag_at(at: datetime) -> str:
    """The ETag the service gives a resource last modified at ``at``.

    The real service's ETag is ``lastModified`` in .NET ticks, in uppercase hex: the
    recorded ``0x8DE59F49F1C085A`` is ``2026-01-22T20:27:10.9495898Z``.
    """
    return f"0x{_ticks(at):X}"


def new_etag(at: datetime | None = None) -> str:
    """A fresh ETag for a change made at ``at`` (default now), e.g. ``0x8DE59FF41A08ECC``.

    Like ``etag_at`` but strictly increasing within the process, so two updates in the
    same clock tick still get different ETags and ``If-Match`` tells them apart.
    """
    global _last_etag_ticks
    ticks = _ticks(at or utcnow())
    with _etag_lock:
        _last_etag_ticks = max(ticks, _last_etag_ticks + 1)
        return f"0x{_last_etag_ticks:X}"


def metadata_url(base_url: str, fragment: str) -> str:
    """The ``odata.metadata`` value: ``<base>/$metadata#<fragment>`` (e.g. ``pools/@Element``)."""
    return f"{base_url.rstrip('/')}/$metadata#{fragment}"


ERROR_METADATA_FRAGMENT: Final = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


def error_body(
    code: str,
    message: str,
    request_id: str,
    base_url: str,
    values: list[tuple[str, str]] | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An error body exactly as the service sends it (no ``odata.error`` wrapper).

    ``values`` become ``[{"key", "value"}]`` and the key is left out when there are none,
    as in the recorded 404s. The message ends with the request id and time, like the
    service's, so users can match it with the ``request-id`` header.
    """
    body: dict[str, Any] = {
        "odata.metadata": metadata_url(base_url, ERROR_METADATA_FRAGMENT),
        "code": code,
        "message": {
            "lang": "en-US",
            "value": f"{message}\nRequestId:{request_id}\nTime:{format_datetime(now or utcnow())}",
        },
    }
    if values:
        body["values"] = [{"key": key, "value": value} for key, value in values]
    return body
