"""Parse and check request bodies against the official SDK's own models.

The SDK's models know every wire name the service accepts, so an unknown property is
found by walking the body alongside the model (``UnsupportedProperty``, as the service
answers) instead of keeping a second schema by hand. Every refusal is a ``BatchError``
with the service's code and the property path in ``values``.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, TypeVar

from azure.batch._utils.model_base import Model

from shipyard.engine.model import bodytypes, wire
from shipyard.errors import BatchError, ConfigError

M = TypeVar("M", bound=Model)

#: Pool, job and task ids: letters, digits, hyphens and underscores, at most 64 characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY_BYTES = 1024 * 1024
#: No request body of the service nests anywhere near this deep.
MAX_DEPTH = 64
#: A pool's ``resizeTimeout`` when a create, resize or removal names none, and the least
#: the service takes (its REST reference: "The minimum value is 5 minutes").
DEFAULT_RESIZE_TIMEOUT = "PT15M"
MIN_RESIZE_TIMEOUT = timedelta(minutes=5)


def bad_value(name: str, value: object, reason: str) -> BatchError:
    """The service's 400 for a property whose value it will not take."""
    return BatchError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        [("PropertyName", name), ("PropertyValue", str(value)), ("Reason", reason)],
    )


def missing(name: str) -> BatchError:
    return BatchError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        [("PropertyName", name)],
    )


def load_json(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object body, refusing oversize and malformed bodies."""
    if len(raw) > MAX_BODY_BYTES:
        raise BatchError(
            413,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
            [("MaxLimit", str(MAX_BODY_BYTES))],
        )
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid_body(f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise _invalid_body(f"nested deeper than {MAX_DEPTH} levels") from exc
    if not isinstance(body, dict):
        raise _invalid_body("the body must be a JSON object")
    if _too_deep(body):
        # Everything after parsing (models, the store's encoder) walks the body recursively.
        raise _invalid_body(f"nested deeper than {MAX_DEPTH} levels")
    return _without_nulls(body)


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """A property set to null is a property not given, as the service reads it."""
    return {k: _without_nulls(v) if isinstance(v, dict) else
            [_without_nulls(i) if isinstance(i, dict) else i for i in v]
            if isinstance(v, list) else v for k, v in body.items() if v is not None}


def _too_deep(value: object) -> bool:
    level: list[object] = [value]
    for _ in range(MAX_DEPTH):
        level = [child for item in level for child in (
            item.values() if isinstance(item, dict) else item if isinstance(item, list)
            else ())]
        if not level:
            return False
    return True


def parse(model: type[M], body: dict[str, Any]) -> M:
    """Build the SDK model from ``body`` after refusing any property the model lacks
    and any of the wrong JSON type."""
    wrong = bodytypes.wrong_type(model, body)
    if wrong is not None:
        raise bad_value(wrong[0], _value_at(body, wrong[0]), f"must be {wrong[1]}")
    parsed = model(body)
    unknown = _unknown_paths(parsed, "")
    if unknown:
        raise unsupported(unknown[0])
    return parsed


def _value_at(body: dict[str, Any], path: str) -> str:
    """The value at a path such as ``constraints.maxTaskRetryCount`` or ``a[2].b``."""
    value: Any = body
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return json.dumps(value)[:200]


def unsupported(path: str) -> BatchError:
    return BatchError(400, "UnsupportedProperty",
                      "One of the properties specified in the request body is not supported.",
                      [("PropertyName", path)])


def check_id(value: object, name: str = "id") -> str:
    if value is None or value == "":
        raise missing(name)
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise bad_value(
            name, value, "ids are 1-64 letters, digits, hyphens or underscores"
        )
    return value


def check_count(value: object, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_value(name, value, "must be a non-negative integer")
    return value


def check_etag(doc: dict[str, Any], if_match: str | None) -> None:
    """Honour ``If-Match``: 412 ``ConditionNotMet`` unless it names the current eTag.

    The SDK quotes the eTag it sends (``"0x8DE..."``, as HTTP spells entity tags) while the
    service serves it bare; both spellings name the same eTag.
    """
    if if_match and if_match.strip('"') not in ("*", doc.get("eTag")):
        raise BatchError(412, "ConditionNotMet",
                         "The condition specified using HTTP conditional header(s) is not met.")


def check_resize_timeout(raw: object) -> timedelta:
    """A request's ``resizeTimeout`` (the default when it has none), checked."""
    try:
        timeout = wire.parse_duration(str(DEFAULT_RESIZE_TIMEOUT if raw is None else raw))
    except ConfigError as exc:
        raise bad_value("resizeTimeout", raw, str(exc)) from exc
    if timeout < MIN_RESIZE_TIMEOUT:
        raise bad_value("resizeTimeout", raw, "the minimum is 5 minutes")
    return timeout


def check_constraints(constraints: dict[str, Any] | None, where: str) -> None:
    """Durations must parse; retry counts are -1 (unlimited) or non-negative."""
    for key in ("maxWallClockTime", "retentionTime"):
        raw = (constraints or {}).get(key)
        if raw is None:
            continue
        try:
            wire.parse_duration(raw)
        except ConfigError as exc:
            raise bad_value(f"{where}.{key}", raw, str(exc)) from exc
    retries = (constraints or {}).get("maxTaskRetryCount")
    if retries is not None and (not isinstance(retries, int) or retries < -1):
        raise bad_value(f"{where}.maxTaskRetryCount", retries,
                        "must be -1 (unlimited), 0 or a positive integer")


def _invalid_body(reason: str) -> BatchError:
    return BatchError(
        400,
        "InvalidRequestBody",
        "The specified Request Body is not syntactically valid.",
        [("Reason", reason)],
    )


def _unknown_paths(model: Model, prefix: str) -> list[str]:
    fields = {f._rest_name: attr for attr, f in model._attr_to_rest_field.items()}
    found: list[str] = []
    for key in model:
        path = f"{prefix}{key}"
        if key not in fields:
            found.append(path)
            continue
        found.extend(_unknown_in_value(getattr(model, fields[key]), path))
    return found


def _unknown_in_value(value: object, path: str) -> list[str]:
    if isinstance(value, Model):
        return _unknown_paths(value, f"{path}.")
    if isinstance(value, list):
        found: list[str] = []
        for index, item in enumerate(value):
            found.extend(_unknown_in_value(item, f"{path}[{index}]"))
        return found
    return []
