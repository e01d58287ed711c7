"""What every command shares: the console, and turning errors into one line and an exit code.

Every command is decorated with :func:`reported`, the CLI's one error boundary: SDK
exceptions become our error tree (``batch.errors``), and our errors end the command
with one line and what to do next (a config with several problems lists each one);
``--debug`` keeps the traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click

from shipyard.errors import ConfigProblems, ShipyardError

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


class _Deferred:
    """A rich ``Console`` made on first use, standing in for it until then.

    Importing rich costs ~20 ms; a command reaches the service before it prints anything,
    so the import waits for the first line (``--help`` never needs it).
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)

    def __enter__(self) -> Console:
        return self.made().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.made().__exit__(*exc)


console = cast("Console", _Deferred(highlight=False))
err_console = cast("Console", _Deferred(stderr=True, highlight=False))


def escape(text: str) -> str:
    """``text`` with rich markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def abort(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """End the command with one line (and what to do next), no traceback."""
    line = f"[red]error:[/red] {escape(message)}"
    if hint:
        line += f"\n[dim]{escape(hint)}[/dim]"
    err_console.print(line)
    sys.exit(code)


def _report(exc: ShipyardError) -> NoReturn:
    if isinstance(exc, ConfigProblems) and len(exc.problems) > 1:
        lines = "\n".join(f"  {escape(problem)}" for problem in exc.problems)
        err_console.print(f"[red]error:[/red] {len(exc.problems)} problems in the config:\n"
                          f"{lines}")
        sys.exit(1)
    abort(exc.message, exc.hint)


def reported(command: F) -> F:
    """Run ``command`` inside the CLI's error boundary (SDK errors translated, one line)."""
    @functools.wraps(command)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        from shipyard.batch.errors import translated
        from shipyard.cli.context import App

        app = click.get_current_context().find_object(App)
        try:
            with translated(app.where if app is not None else ""):
                return command(*args, **kwargs)
        except ShipyardError as exc:
            if app is not None and app.debug:
                raise
            _report(exc)

    return cast(F, boundary)
