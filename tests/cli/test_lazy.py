"""Lazily loaded commands: each table says what its command says, and help lists the same.

``COMMANDS`` (the top level) and ``jobs.ELSEWHERE`` name each subcommand's module and copy
its help's first paragraph, so ``--help`` can list them without importing them; these
tests fail when a command's help changes and its table entry does not.
"""

from __future__ import annotations

import click
import pytest

from shipyard.cli import jobs, main
from shipyard.cli.lazy import Lazy, LazyGroup

TABLES = {"shipyard": main.COMMANDS, "jobs": jobs.ELSEWHERE}


def first_paragraph(command: click.Command) -> str:
    return " ".join((command.help or "").split("\n\n")[0].split())


@pytest.mark.parametrize(("group", "name"), [(g, n) for g, t in TABLES.items() for n in t])
def test_the_table_entry_matches_the_command(group: str, name: str) -> None:
    entry = TABLES[group][name]
    command = entry.load()
    assert command.name == name
    assert entry.summary == first_paragraph(command)


@pytest.mark.parametrize("group", TABLES)
@pytest.mark.parametrize("width", [60, 80, 200])
def test_help_lists_unloaded_commands_as_the_loaded_ones(group: str, width: int) -> None:
    lazy = LazyGroup(group, lazy=TABLES[group])
    eager = click.Group(group, commands={name: entry.load()
                                         for name, entry in TABLES[group].items()})
    assert _listing(lazy, width) == _listing(eager, width)
    assert lazy.commands == {}, "listing loaded nothing"


def test_a_lazy_command_loads_once_and_runs_the_load_hooks() -> None:
    seen: list[str] = []
    group = LazyGroup("g", lazy={"jobs": Lazy("shipyard.cli.jobs:jobs", "Jobs actions.")})
    group.on_load.append(lambda name, command: seen.append(name))
    ctx = click.Context(group)
    first = group.get_command(ctx, "jobs")
    assert first is group.get_command(ctx, "jobs") is jobs.jobs
    assert seen == ["jobs"]
    assert group.get_command(ctx, "nope") is None


def _listing(group: click.Group, width: int) -> str:
    ctx = click.Context(group, terminal_width=width)
    formatter = ctx.make_formatter()
    group.format_commands(ctx, formatter)
    return formatter.getvalue()
