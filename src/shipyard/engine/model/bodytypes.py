"""JSON types of a request body checked against the official SDK's model annotations.

The SDK's models take any JSON without complaint (``{"constraints": 5}`` is a model whose
``constraints`` is 5); the service refuses it. Walking the body alongside the model's
type hints finds the first property of the wrong JSON type, by its path, so the engine
answers the service's 400 instead of failing somewhere inside.
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from functools import cache
from typing import Any

from azure.batch import models
from azure.batch._utils.model_base import Model
from azure.batch.models import _models

_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "an integer", float: "a number"}


@cache
def _hints(model: type[Model]) -> dict[str, tuple[str, Any]]:
    """Wire name -> (wire name, type hint) of every field of ``model``."""
    namespace = {**vars(_models), "_models": models}
    hints = typing.get_type_hints(model, globalns=namespace)
    fields = model({})._attr_to_rest_field  # the field table is built per instance
    return {f._rest_name: (f._rest_name, hints.get(attr, Any)) for attr, f in fields.items()}


Found = tuple[str, str] | None


def wrong_type(model: type[Model], body: dict[str, Any], prefix: str = "") -> Found:
    """``(path, expected)`` of the first property of the wrong JSON type, or None."""
    fields = _hints(model)
    for key, value in body.items():
        if key in fields:
            found = _check(value, fields[key][1], f"{prefix}{key}")
            if found:
                return found
    return None


def _check(value: Any, hint: Any, path: str) -> Found:
    if value is None or hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        results = [_check(value, option, path) for option in options]
        return None if any(r is None for r in results) else results[0]
    if origin in (list, dict):
        return _check_container(value, hint, origin, path)
    expected = _json_type(hint)
    if expected is None:
        return None
    if isinstance(value, bool) and expected is not bool:
        return path, _JSON_NAMES[expected]
    if not isinstance(value, (int, float) if expected is float else expected):
        return path, _JSON_NAMES[expected]
    if isinstance(hint, type) and issubclass(hint, Model) and isinstance(value, dict):
        return wrong_type(hint, value, f"{path}.")
    return None


def _check_container(value: Any, hint: Any, origin: type, path: str) -> Found:
    if not isinstance(value, origin):
        return path, _JSON_NAMES[origin]
    args = typing.get_args(hint)
    if isinstance(value, list):
        items = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
        inner = args[0] if args else Any
    elif isinstance(value, dict):
        items = [(f"{path}.{k}", item) for k, item in value.items()]
        inner = args[1] if len(args) == 2 else Any
    for item_path, item in items:
        found = _check(item, inner, item_path)
        if found:
            return found
    return None


def _json_type(hint: Any) -> type | None:
    """The JSON type a hint travels as; None when anything goes."""
    if not isinstance(hint, type):
        return None
    if issubclass(hint, Model):
        return dict
    if issubclass(hint, (str, enum.Enum, datetime.datetime, datetime.date,
                         datetime.timedelta, bytes)):
        return str
    for kind in (bool, int, float):
        if issubclass(hint, kind):
            return kind
    return None
