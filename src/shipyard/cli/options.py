"""Batch Shipyard's shared options, accepted wherever its users type them.

Batch Shipyard wants ``shipyard <command> <subcommand> <options>``; shipyard also takes
the same options before the command. :func:`install` adds them to every group and
command of the tree (new commands get them by being registered, nothing else), and each
one writes into the invocation's :class:`App` as it is parsed, so a later position wins
(``shipyard --configdir a pool add --configdir b`` uses ``b``). Environment variables
(``SHIPYARD_CONFIGDIR``, ``SHIPYARD_*_CONF``, ``SHIPYARD_AAD_*``) are read by the App,
below any option, so a variable never overrides an option typed earlier on the line.

Options of Batch Shipyard that name things shipyard does not have (remote file systems,
KeyVault, federations, monitoring, Resource Manager) are accepted by name and refused
with a one-line reason instead of click's "No such option".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from shipyard.cli.app import abort
from shipyard.cli.context import AAD_OPTIONS, App
from shipyard.cli.lazy import LazyGroup

#: Groups whose commands are shipyard's own and take none of Batch Shipyard's options.
OWN_GROUPS = ("local",)

#: Batch Shipyard options that make no sense here, and why.
REFUSED = {
    "--fs": "remote file systems (fs.yaml) are not part of shipyard",
    "--monitor": "resource monitoring (monitor.yaml) is not part of shipyard",
    "--fed": "federations are not part of shipyard",
    "--fed-id": "federations are not part of shipyard",
    "--keyvault-uri": "KeyVault is not supported: write the values in credentials.yaml",
    "--keyvault-credentials-secret-id": "KeyVault is not supported: write the values in "
                                        "credentials.yaml",
    "--subscription-id": "Azure Resource Manager actions (virtual networks, remote file "
                         "systems, account management) are not part of shipyard",
}


def _store(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        app = ctx.ensure_object(App)
        if attr.startswith("file:"):
            app.files[attr[5:]] = value
        elif attr.startswith("aad:"):
            app.aad[attr[4:]] = value
        else:
            setattr(app, attr, value)
        if attr in ("verbose", "debug"):
            app.configure_logging()
    return callback


def _refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        flag = param.opts[0]
        abort(f"{flag}: {REFUSED[flag]}")


_FILE = click.Path(dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


def _flag(decls: list[str], attr: str, text: str, hidden: bool) -> click.Option:
    return click.Option(decls, is_flag=True, default=False, expose_value=False,
                        callback=_store(attr), help=text, hidden=hidden)


def _value(decls: list[str], attr: str, text: str, hidden: bool, kind: Any = None) -> click.Option:
    return click.Option(decls, type=kind, default=None, expose_value=False,
                        callback=_store(attr), help=text, hidden=hidden)


def shared_options(hidden: bool = False) -> list[click.Option]:
    """New instances of every shared option (click options belong to one command each).

    On groups they are ``hidden``: help lists them where Batch Shipyard documents them,
    on the commands themselves.
    """
    options = [
        _flag(["-y", "--yes"], "yes", "Assume yes for all confirmation prompts.", hidden),
        _flag(["--raw"], "raw", "Print raw JSON for scripts instead of tables.", hidden),
        _flag(["--show-config"], "show_config", "Show the loaded configuration (secrets "
                                                "masked) before running.", hidden),
        _flag(["-v", "--verbose"], "verbose", "Verbose output: every request to the "
                                              "Batch service.", hidden),
        _flag(["--debug"], "debug", "Show tracebacks and debug logs.", hidden),
        _value(["--configdir"], "configdir", "Directory with credentials.yaml, config.yaml, "
               "pool.yaml and jobs.yaml [env SHIPYARD_CONFIGDIR; default: . when no config "
               "option is given].", hidden, _DIR),
        _value(["--credentials"], "file:credentials", "Credentials config file "
               "[env SHIPYARD_CREDENTIALS_CONF].", hidden, _FILE),
        _value(["--config"], "file:config", "Global config file [env SHIPYARD_CONFIG_CONF].",
               hidden, _FILE),
        _value(["--pool"], "file:pool", "Pool config file [env SHIPYARD_POOL_CONF].", hidden,
               _FILE),
        _value(["--jobs"], "file:jobs", "Jobs config file [env SHIPYARD_JOBS_CONF].", hidden,
               _FILE),
    ]
    return options + _aad_options(hidden) + _refused_options()


def _aad_options(hidden: bool) -> list[click.Option]:
    return [_value([option], f"aad:{key}", f"{text} [env SHIPYARD_"
                   f"{option[2:].upper().replace('-', '_')}].", hidden)
            for option, (key, text) in AAD_OPTIONS.items()]


def _refused_options() -> list[click.Option]:
    return [click.Option([flag], default=None, expose_value=False, hidden=True,
                         callback=_refuse, is_eager=True) for flag in REFUSED]


def install(command: click.Command) -> None:
    """Add the shared options to ``command`` and everything below it (not ``local``).

    Subcommands of a ``LazyGroup`` get them when they load.
    """
    taken = {name for param in command.params for name in getattr(param, "opts", [])}
    hidden = isinstance(command, click.Group)
    command.params.extend(option for option in shared_options(hidden)
                          if not taken.intersection(option.opts))
    if isinstance(command, LazyGroup):
        command.on_load.append(_install_below)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            _install_below(name, sub)


def _install_below(name: str, command: click.Command) -> None:
    if name not in OWN_GROUPS:
        install(command)
