"""Finding and parsing the config files, once, into a :class:`ShipyardConfig`.

The directory is ``configdir``, else ``$SHIPYARD_CONFIGDIR``, else (when no file is named
explicitly) the current directory. A file named explicitly replaces the one in the dir.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from shipyard.config.base import Model
from shipyard.config.bundle import FILE_NAMES, ConfigSources, ShipyardConfig
from shipyard.config.credentials import LOCAL_CREDENTIALS, CredentialsFile
from shipyard.config.crosscheck import check_across_files
from shipyard.config.generators import CONTEXT_DIRECTORY
from shipyard.config.global_config import GlobalConfig
from shipyard.config.jobs import JobsFile
from shipyard.config.messages import config_error
from shipyard.config.pool import PoolFile
from shipyard.config.unimplemented import reject_unimplemented
from shipyard.config.yamlio import read_yaml
from shipyard.errors import ConfigError, config_problems

ENV_CONFIGDIR = "SHIPYARD_CONFIGDIR"

StrPath = str | os.PathLike[str]
M = TypeVar("M", bound=Model)


def load_config(
    configdir: StrPath | None = None,
    *,
    credentials: StrPath | None = None,
    config: StrPath | None = None,
    pool: StrPath | None = None,
    jobs: StrPath | None = None,
    batch_aad: Mapping[str, str] | None = None,
) -> ShipyardConfig:
    """Parse a config dir into models; every problem of every file raised at once.

    A missing credentials.yaml means the local engine; other missing files fail only when
    a command asks for them. ``batch_aad`` (``--aad-*``) overlays ``credentials.batch.aad``.
    """
    sources = locate(configdir, credentials=credentials, config=config, pool=pool, jobs=jobs)
    problems: list[ConfigError] = []
    creds = _collect(problems, lambda: parse_file(sources.credentials, CredentialsFile,
                                                  _with_aad(batch_aad)))
    global_file = _collect(problems, lambda: parse_file(sources.config, GlobalConfig))
    pool_file = _collect(problems, lambda: parse_file(sources.pool, PoolFile))
    jobs_file = _collect(problems, lambda: parse_file(sources.jobs, JobsFile))
    if problems:
        raise config_problems(problems)
    cfg = ShipyardConfig(
        sources=sources,
        credentials=creds.credentials if creds else LOCAL_CREDENTIALS,
        global_file=global_file,
        pool_file=pool_file.pool_specification if pool_file else None,
        jobs_file=jobs_file.job_specifications if jobs_file else None,
    )
    check_across_files(cfg)
    return cfg


def _collect(problems: list[ConfigError], parse: Callable[[], M | None]) -> M | None:
    """Run one file's parse; keep its problems and go on with the next file."""
    try:
        return parse()
    except ConfigError as exc:
        problems.append(exc)
    return None


def _with_aad(batch_aad: Mapping[str, str] | None) -> Callable[[object], object]:
    """Lay the ``--aad-*`` values over ``credentials.batch.aad`` of the raw document."""
    def patch(data: object) -> object:
        if not batch_aad or not isinstance(data, dict):
            return data
        creds = data.get("credentials")
        batch = creds.get("batch") if isinstance(creds, dict) else None
        if not isinstance(creds, dict) or not isinstance(batch, dict):
            return data
        found = batch.get("aad")
        aad: dict[str, object] = found if isinstance(found, dict) else {}
        merged_batch = {**batch, "aad": {**aad, **batch_aad}}
        return {**data, "credentials": {**creds, "batch": merged_batch}}
    return patch


def _as_path(value: StrPath | None) -> Path | None:
    return None if value is None else Path(value)


def _config_dir(configdir: Path | None, any_explicit: bool) -> Path | None:
    if configdir is not None:
        source = str(configdir)
    elif os.environ.get(ENV_CONFIGDIR):
        configdir, source = Path(os.environ[ENV_CONFIGDIR]), f"${ENV_CONFIGDIR}"
    elif any_explicit:
        return None
    else:
        configdir, source = Path.cwd(), "the current directory"
    if not configdir.is_dir():
        raise ConfigError(f"config dir {configdir} does not exist (from {source})")
    return configdir


def locate(configdir: StrPath | None = None, **explicit: StrPath | None) -> ConfigSources:
    """Where each of the four files is; explicit paths must exist, dir files may be absent."""
    named = {role: _as_path(explicit.get(role)) for role in FILE_NAMES}
    directory = _config_dir(_as_path(configdir), any(p is not None for p in named.values()))
    found: dict[str, Path | None] = {}
    for role, name in FILE_NAMES.items():
        path = named[role]
        if path is None and directory is not None and (directory / name).is_file():
            path = directory / name
        elif path is not None and not path.is_file():
            raise ConfigError(f"{name}: no such file: {path}")
        found[role] = path
    if not any(found.values()):
        raise ConfigError(f"no config files in {directory}",
                          hint=f"expected {', '.join(FILE_NAMES.values())}; "
                               f"pass a config dir or set {ENV_CONFIGDIR}")
    return ConfigSources(configdir=directory, **found)


def parse_file(path: Path | None, model: type[M],
               patch: Callable[[object], object] | None = None) -> M | None:
    """One file into its model; ``None`` when there is no file."""
    if path is None:
        return None
    data = read_yaml(path)
    if patch is not None:
        data = patch(data)
    try:
        # The file's directory: a custom task factory's module is looked for there first.
        parsed = model.model_validate({} if data is None else data,
                                      context={CONTEXT_DIRECTORY: path.resolve().parent})
    except ValidationError as exc:
        raise config_error(path.name, exc) from None
    reject_unimplemented(path.name, parsed)
    return parsed
