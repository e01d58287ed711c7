"""What every command shares: the console, and turning our errors into one line and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import click
from rich.console import Console

from shipyard.errors import ShipyardError

F = TypeVar("F", bound=Callable[..., object])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def abort(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """End the command with one line (and what to do next), no traceback."""
    line = f"[red]error:[/red] {message}"
    if hint:
        line += f"\n[dim]{hint}[/dim]"
    err_console.print(line)
    sys.exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Translate our error tree at the CLI boundary; ``--debug`` keeps the traceback."""
    try:
        yield
    except ShipyardError as exc:
        if click.get_current_context().find_root().params.get("debug"):
            raise
        abort(exc.message, exc.hint)
