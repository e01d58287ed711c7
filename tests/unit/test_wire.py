"""Wire formats: values from the real service's recordings, and the SDK reading ours back."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from azure.batch import models
from azure.batch._patch import BatchErrorFormat
from azure.batch._serialization import Deserializer
from azure.batch._utils.model_base import SdkJSONEncoder

from shipyard.engine.model.wire import (
    INFINITE_DURATION,
    INFINITE_WIRE,
    error_body,
    etag_at,
    format_datetime,
    format_duration,
    format_rfc1123,
    is_infinite,
    metadata_url,
    new_etag,
    parse_datetime,
    parse_duration,
    parse_rfc1123,
    utcnow,
)
from shipyard.errors import ConfigError

UTC = dt.UTC
BASE = "http://127.0.0.1:8123"

# Body datetimes as recorded (service side: 7 digits, trailing zeros dropped).
RECORDED_DATETIMES = [
    "2026-01-22T22:54:28.7452058Z",
    "2026-01-22T21:43:18.576302Z",
    "2026-01-22T20:27:13.470445Z",
    "2025-07-13T20:40:41.1097032Z",
]


@pytest.mark.parametrize("text", RECORDED_DATETIMES)
def test_recorded_datetimes_parse_to_the_microsecond(text: str) -> None:
    parsed = parse_datetime(text)
    assert parsed.tzinfo == UTC
    # Digits past the 6th are truncated, as the SDK does; the rest round-trips.
    assert format_datetime(parsed) == text[:26].rstrip("0").rstrip(".") + "Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-22T21:43:18Z", dt.datetime(2026, 1, 22, 21, 43, 18, tzinfo=UTC)),
        ("2026-01-22t21:43:18.5z", dt.datetime(2026, 1, 22, 21, 43, 18, 500000, tzinfo=UTC)),
        ("2026-01-22T23:43:18+02:00", dt.datetime(2026, 1, 22, 21, 43, 18, tzinfo=UTC)),
        ("2026-01-22T20:13:18-0130", dt.datetime(2026, 1, 22, 21, 43, 18, tzinfo=UTC)),
        ("2026-01-22T21:43", dt.datetime(2026, 1, 22, 21, 43, tzinfo=UTC)),
    ],
)
def test_parse_datetime_forms(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["", "2026-01-22", "2026-13-01T00:00:00Z", "yesterday", "1Z"])
def test_parse_datetime_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid datetime"):
        parse_datetime(text)


def test_format_datetime_whole_seconds_and_naive_as_utc() -> None:
    assert format_datetime(dt.datetime(2026, 1, 22, 21, 43, 18)) == "2026-01-22T21:43:18Z"
    paris = dt.timezone(dt.timedelta(hours=1))
    local = dt.datetime(2026, 1, 22, 22, 43, 18, 100, tzinfo=paris)
    assert format_datetime(local) == "2026-01-22T21:43:18.0001Z"


def test_sdk_parses_and_sends_datetimes_we_accept() -> None:
    stamp = dt.datetime(2026, 1, 22, 21, 43, 18, 576302, tzinfo=UTC)
    pool = models.BatchPool({"id": "p", "creationTime": format_datetime(stamp)})
    assert pool.creation_time == stamp
    schedule = models.BatchJobScheduleConfiguration(do_not_run_until=stamp)
    sent = json.loads(json.dumps(schedule, cls=SdkJSONEncoder))
    assert parse_datetime(sent["doNotRunUntil"]) == stamp


def test_rfc1123_matches_recorded_header_and_sdk() -> None:
    stamp = dt.datetime(2026, 1, 22, 22, 58, 3, 999999, tzinfo=UTC)
    header = format_rfc1123(stamp)
    assert header == "Thu, 22 Jan 2026 22:58:03 GMT"  # get_pool_select's Last-Modified
    whole = stamp.replace(microsecond=0)
    assert Deserializer.deserialize_rfc(header) == whole  # type: ignore[no-untyped-call]
    assert parse_rfc1123(header) == whole


def test_parse_rfc1123_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="RFC 1123"):
        parse_rfc1123("not a date")


@pytest.mark.parametrize(
    ("text", "expected", "normal"),
    [
        ("PT15M", dt.timedelta(minutes=15), "PT15M"),
        ("PT15M00S", dt.timedelta(minutes=15), "PT15M"),
        ("PT06M00S", dt.timedelta(minutes=6), "PT6M"),  # SDK sends it, service says PT6M
        ("P7D", dt.timedelta(days=7), "P7D"),
        ("P1D", dt.timedelta(days=1), "P1D"),
        ("P7DT1H", dt.timedelta(days=7, hours=1), "P7DT1H"),
        ("PT7M9.497S", dt.timedelta(minutes=7, seconds=9.497), "PT7M9.497S"),
        ("PT0.5S", dt.timedelta(seconds=0.5), "PT0.5S"),
        ("PT1.2345675S", dt.timedelta(seconds=1, microseconds=234568), "PT1.234568S"),
        ("PT90M", dt.timedelta(minutes=90), "PT1H30M"),
        ("P2W", dt.timedelta(days=14), "P14D"),
        ("P", dt.timedelta(0), "PT0S"),  # the SDK's spelling of timedelta(0)
        ("PT0S", dt.timedelta(0), "PT0S"),
        (INFINITE_WIRE, INFINITE_DURATION, INFINITE_WIRE),
        ("P10675199DT02H48M05.477539S", INFINITE_DURATION, INFINITE_WIRE),  # SDK's float loss
        ("P99999999D", INFINITE_DURATION, INFINITE_WIRE),
    ],
)
def test_durations(text: str, expected: dt.timedelta, normal: str) -> None:
    assert parse_duration(text) == expected
    assert format_duration(expected) == normal


@pytest.mark.parametrize("text", ["", "15M", "P1Y", "P1M", "-PT5M", "PT1.5M", "P1DT", "PT", "PTxS"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(text)


def test_format_duration_rejects_negative() -> None:
    with pytest.raises(ConfigError, match="negative"):
        format_duration(dt.timedelta(seconds=-1))


def test_infinite_is_what_the_sdk_reads_and_writes() -> None:
    task = models.BatchTask({"id": "t", "constraints": {"maxWallClockTime": INFINITE_WIRE}})
    assert task.constraints is not None
    assert task.constraints.max_wall_clock_time == INFINITE_DURATION
    sent = models.BatchTaskConstraints(max_wall_clock_time=INFINITE_DURATION)
    wire = json.loads(json.dumps(sent, cls=SdkJSONEncoder))["maxWallClockTime"]
    assert is_infinite(parse_duration(wire))
    assert not is_infinite(dt.timedelta(days=10675199))


@pytest.mark.parametrize(
    "duration", [dt.timedelta(minutes=6), dt.timedelta(days=7, seconds=1.25), dt.timedelta(0)]
)
def test_sdk_round_trips_our_durations(duration: dt.timedelta) -> None:
    pool = models.BatchPool({"id": "p", "resizeTimeout": format_duration(duration)})
    assert pool.resize_timeout == duration
    options = models.BatchPoolCreateOptions(id="p", vm_size="s", resize_timeout=duration)
    sent = json.dumps(options, cls=SdkJSONEncoder)
    assert parse_duration(json.loads(sent)["resizeTimeout"]) == duration


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [  # (eTag, lastModified) pairs of the same resource in the recordings
        ("0x8DE59F49F1C085A", "2026-01-22T20:27:10.9495898Z"),
        ("0x8DE5A0932D89F9A", "2026-01-22T22:54:28.7452058Z"),
    ],
)
def test_etag_is_last_modified_in_dotnet_ticks(etag: str, last_modified: str) -> None:
    ours = etag_at(parse_datetime(last_modified))
    assert len(ours) == len(etag) == 17
    # Python keeps microseconds, so only the last tick digit (100 ns) may differ.
    assert int(ours, 16) // 10 == int(etag, 16) // 10


def test_new_etags_strictly_increase_even_in_one_tick() -> None:
    stamp = utcnow()
    first, second, third = new_etag(stamp), new_etag(stamp), new_etag()
    assert int(first, 16) < int(second, 16) < int(third, 16)
    assert first.startswith("0x") and first[2:] == first[2:].upper()


def test_error_body_has_the_recorded_shape() -> None:
    now = dt.datetime(2026, 1, 22, 20, 18, 17, 607694, tzinfo=UTC)
    rid = "b4669e1a-474b-4e04-9c9f-1cef6b40a8fd"
    body = error_body(
        "PoolNotFound", "The specified pool does not exist.", rid, BASE + "/", now=now
    )
    assert body == {  # error_pool_not_found, with our base URL
        "odata.metadata": f"{BASE}/$metadata#"
        "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
        "code": "PoolNotFound",
        "message": {
            "lang": "en-US",
            "value": "The specified pool does not exist.\nRequestId:"
            f"{rid}\nTime:2026-01-22T20:18:17.607694Z",
        },
    }


def test_error_body_values_reach_the_sdk() -> None:
    values = [("PropertyName", "subnetId"), ("Reason", "bad subnet")]
    body = error_body("InvalidPropertyValue", "The value is invalid.", "rid", BASE, values)
    assert body["values"] == [
        {"key": "PropertyName", "value": "subnetId"},
        {"key": "Reason", "value": "bad subnet"},
    ]
    parsed = models.BatchError(body)
    assert parsed.code == "InvalidPropertyValue"
    assert parsed.message is not None and parsed.message.value is not None
    assert parsed.message.value.startswith("The value is invalid.")
    shown = BatchErrorFormat(body)  # type: ignore[no-untyped-call]
    assert [(d.code, d.message) for d in shown.details] == values


def test_metadata_url() -> None:
    assert metadata_url(BASE + "/", "pools/@Element") == f"{BASE}/$metadata#pools/@Element"
