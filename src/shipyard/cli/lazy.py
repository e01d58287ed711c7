"""Command groups whose subcommands are imported when they run, not when the CLI starts.

``shipyard jobs add`` needs the jobs commands only; importing the pool, data, storage and
dashboard commands as well (and what they import) cost ~40 ms of every start. A
:class:`LazyGroup` knows its lazy subcommands by name, where they live and their help's
first paragraph, so ``--help`` lists them without importing any;
``tests/cli/test_lazy.py`` checks each table against the commands themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

#: Called with a subcommand's name and the command when it is first loaded.
OnLoad = Callable[[str, click.Command], None]


@dataclass(frozen=True)
class Lazy:
    """Where a subcommand lives (``module:attribute``) and its help's first paragraph."""

    path: str
    summary: str

    def load(self) -> click.Command:
        module, attribute = self.path.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.path} is not a click command")
        return command


class LazyGroup(click.Group):
    """A click group with subcommands that load on first use (``lazy``: name -> Lazy)."""

    def __init__(self, *args: Any, lazy: Mapping[str, Lazy] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.on_load: list[OnLoad] = []

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        """Import the subcommand ``name``, register it and run the load hooks."""
        command = self.lazy[name].load()
        self.add_command(command, name)
        for hook in self.on_load:
            hook(name, command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the table's summaries for subcommands not yet loaded."""
        shown = [(name, self.commands.get(name)) for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown
                 if command is None or not command.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        # A stand-in command shortens a summary exactly as the real one would.
        rows = [(name, (command or click.Command(name, help=self.lazy[name].summary))
                 .get_short_help_str(limit)) for name, command in shown]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
