"""From pydantic's validation errors to one ``ConfigError`` line in Batch Shipyard's words.

``jobs.yaml: job_specifications[0].tasks[1].multi_instance.mpi.runtime: must be one of
openmpi, mpich, mvapich, intelmpi, intelmpi-ofa (got 'opnempi')``
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shipyard.config.base import PROBLEM, shown
from shipyard.errors import ConfigProblems

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_QUOTED = re.compile(r"'([^']*)'")


def render_path(path: Sequence[str | int]) -> str:
    """``job_specifications[0].tasks`` from its parts; odd keys are quoted ``['a.b']``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def _got(err: ErrorDetails) -> str:
    return f" (got {shown(err['input'])})"


def _ctx(err: ErrorDetails, name: str) -> object:
    value = (err.get("ctx") or {}).get(name)
    # A bound of a float field is a float; "at most 100" reads better than "100.0".
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _one_of(err: ErrorDetails) -> str:
    choices = _QUOTED.findall(str(_ctx(err, "expected")))
    return f"must be one of {', '.join(choices)}" + _got(err)


def _typed(what: str) -> Callable[[ErrorDetails], str]:
    return lambda err: f"must be {what}" + _got(err)


_TEXTS: dict[str, Callable[[ErrorDetails], str]] = {
    "missing": lambda err: "required key is missing",
    "extra_forbidden": lambda err: "unknown key",
    "literal_error": _one_of,
    "int_type": _typed("an integer"),
    "int_parsing": _typed("an integer"),
    "int_from_float": _typed("an integer"),
    "float_type": _typed("a number"),
    "float_parsing": _typed("a number"),
    "bool_type": _typed("true or false"),
    "bool_parsing": _typed("true or false"),
    "string_type": _typed("a string"),
    "list_type": _typed("a list"),
    "tuple_type": _typed("a list"),
    "dict_type": _typed("a mapping"),
    "model_type": _typed("a mapping"),
    "model_attributes_type": _typed("a mapping"),
    "greater_than_equal": lambda err: f"must be at least {_ctx(err, 'ge')}" + _got(err),
    "less_than_equal": lambda err: f"must be at most {_ctx(err, 'le')}" + _got(err),
    "too_short": lambda err: f"must have at least {_ctx(err, 'min_length')} item(s)",
}


def _path(err: ErrorDetails) -> tuple[str | int, ...]:
    """Where the error is: pydantic's location, extended by our own errors' ``path``."""
    extra = _ctx(err, "path") if err["type"] == PROBLEM else None
    return (*err["loc"], *(extra if isinstance(extra, list) else []))


def describe(err: ErrorDetails) -> str:
    """One problem as ``path: what is wrong (got value)``."""
    path = _path(err)
    if err["type"] == PROBLEM:
        text = err["msg"]
    elif err["type"] in _TEXTS:
        text = _TEXTS[err["type"]](err)
    else:
        text = err["msg"][:1].lower() + err["msg"][1:] + _got(err)
    return f"{render_path(path)}: {text}" if path else text


def _root_causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop echoes: a list too short only because its bad items were left out, and the like."""
    locs = [_path(err) for err in errors]
    return [err for err, loc in zip(errors, locs, strict=True)
            if not any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)]


def config_error(filename: str, exc: ValidationError) -> ConfigProblems:
    """Every problem pydantic found in one file, as one error listing them all."""
    problems = [describe(err) for err in _root_causes(exc.errors(include_url=False))]
    return ConfigProblems([f"{filename}: {text}" for text in problems])
