"""The strict base model every config section derives from, and the field types they share.

Validators here raise :func:`problem` errors: their text is already the final, user-facing
sentence, and they may extend the error's path to the exact key at fault. ``messages``
turns them (and pydantic's own errors) into one ``ConfigError`` line.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

#: The error type of every message written by this package.
PROBLEM = "shipyard_config"

#: A section we accept but do not model: it is rejected as not supported when set, so a
#: loaded config never carries one (see ``unimplemented``).
Opaque: TypeAlias = JsonValue

WorkingDir = Literal["batch", "container"]


def problem(message: str, *path: str | int) -> PydanticCustomError:
    """A validation error with final text; ``path`` extends its location to the key at fault."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "path": list(path)})


def shown(value: object) -> str:
    """How a bad value is quoted back to the user, in YAML's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def unknown_key(key: str, known: list[str]) -> str:
    """The message for a key no model declares, with the closest valid key when there is one."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"unknown key; did you mean '{close[0]}'?" if close else "unknown key"


class Model(BaseModel):
    """Base of every section: unknown keys are errors (with a suggestion), values are frozen.

    Numbers are accepted where text is expected (``sku: 2204``), as YAML users write them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_config.get("extra") == "forbid":
            known = list(cls.model_fields)
            for key in data:
                if key not in cls.model_fields:
                    raise problem(unknown_key(str(key), known), str(key))
        return data


def set_fields(model: BaseModel) -> list[str]:
    """The keys the user wrote in this section, in declaration then document order."""
    declared = [name for name in type(model).model_fields if name in model.model_fields_set]
    return declared + list(model.model_extra or {})


# --- shared field types -------------------------------------------------------------------

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):([0-5]\d):([0-5]\d)")
_SIZE = re.compile(r"[0-9]+[bkmgBKMG]?")
_FILE_MODE = re.compile(r"[0-7]{3,4}")
_ENV_NAME_FORBIDDEN = re.compile(r"[=\n\r\0]")


def _batch_id(value: object) -> object:
    if isinstance(value, str) and not _BATCH_ID.fullmatch(value):
        raise problem(f"must be 1 to 64 letters, digits, hyphens or underscores (got {value!r})")
    return value


def _timespan(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    match = _TIMESPAN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise problem(f"must be a time span d.HH:mm:ss such as 1.12:00:00 (got {shown(value)})")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _size(value: object) -> object:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(text, str) and _SIZE.fullmatch(text)):
        raise problem(f"must be a size such as 256m or 1g (got {shown(value)})")
    return text


def _file_mode(value: object) -> object:
    if not (isinstance(value, str) and _FILE_MODE.fullmatch(value)):
        raise problem(f"must be a quoted octal mode such as '0750' (got {shown(value)})")
    return value


def _env_text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _environment(value: object) -> object:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return value
    for name in value:
        if not isinstance(name, str) or not name or _ENV_NAME_FORBIDDEN.search(name):
            raise problem(f"not a valid environment variable name: {shown(name)}", str(name))
    return {name: _env_text(text) for name, text in value.items()}


def _none_as_empty(value: object) -> object:
    return () if value is None else value


#: A Batch id (job, task, pool): letters, digits, ``-`` and ``_``, at most 64 characters.
BatchId = Annotated[str, BeforeValidator(_batch_id)]
#: ``d.HH:mm:ss`` or ``HH:mm:ss``, as Batch Shipyard writes time spans.
TimeSpan = Annotated[timedelta, BeforeValidator(_timespan)]
#: A Docker size: digits and an optional b/k/m/g unit.
Size = Annotated[str, BeforeValidator(_size)]
#: A file mode as a quoted octal string; an unquoted 0750 is YAML's integer 488, so refused.
FileMode = Annotated[str, BeforeValidator(_file_mode)]
#: Environment variables: scalar values become text; values may hold newlines.
Environment = Annotated[dict[str, str], BeforeValidator(_environment)]
#: A list of strings; an empty YAML value (``options:``) is an empty list.
Strings = Annotated[tuple[str, ...], BeforeValidator(_none_as_empty)]
#: Task retries: -1 means unlimited.
Retries = Annotated[int, Field(ge=-1)]


class ResourceFile(Model):
    """A file the service downloads before the task runs.

    ``blob_source`` (Batch Shipyard's spelling) and ``http_url`` both name an HTTP(S) URL.
    """

    blob_source: str | None = None
    http_url: str | None = None
    file_path: str
    file_mode: FileMode | None = None

    @model_validator(mode="after")
    def _one_url(self) -> ResourceFile:
        if self.blob_source is not None and self.http_url is not None:
            raise problem("set only one of blob_source and http_url", "http_url")
        if self.blob_source is None and self.http_url is None:
            raise problem("needs a URL: set http_url (or blob_source)")
        key = "http_url" if self.blob_source is None else "blob_source"
        if not self.url.startswith(("https://", "http://")):
            raise problem(f"must be an http(s) URL (got {shown(self.url)})", key)
        return self

    @property
    def url(self) -> str:
        """The URL to download, whichever key named it."""
        return self.blob_source or self.http_url or ""
