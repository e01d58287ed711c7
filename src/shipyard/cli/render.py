"""Tables and live progress for pools, nodes, jobs and tasks (rich), or JSON with --raw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shipyard.cli.app import console

if TYPE_CHECKING:  # rich's tables and the SDK load when a command draws, not at start
    from azure.batch import models
    from rich.table import Table


def value(obj: Any) -> str:
    value = getattr(obj, "value", obj)
    return "-" if value is None else str(value)


def table(title: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> Table:
    from rich.table import Table

    grid = Table(title=title, title_justify="left", min_width=len(title))
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(value(cell) for cell in row))
    return grid


def nodes_table(pool_id: str, nodes: list[models.BatchNode]) -> Table:
    return table(f"nodes of {pool_id}", ("node", "state", "ip", "tasks", "start task"), (
        (n.id, n.state, n.ip_address, n.running_tasks_count, _start_task(n)) for n in nodes))


def tasks_table(job_id: str, tasks: list[models.BatchTask]) -> Table:
    return table(f"tasks of {job_id}", ("task", "state", "exit", "node", "retries"), (
        (t.id, t.state, _exit(t), _node(t), _retries(t)) for t in tasks))


def summary(items: Iterable[Any]) -> str:
    counts = Counter(value(getattr(item, "state", None)) for item in items)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none yet"


def counted(prefix: str, counts: dict[str, int]) -> dict[str, int]:
    """``counts`` as statistics rows: ``prefix`` + name, sorted, the zeros left out."""
    return {f"{prefix}{name}": n for name, n in sorted(counts.items()) if n}


@contextmanager
def live(raw: bool) -> Iterator[Callable[[Table], None]]:
    """A function that redraws one table in place (a no-op with --raw)."""
    if raw or not console.is_terminal:
        last: list[str] = []

        def show_plain(grid: Table) -> None:
            line = str(grid.title or "")
            if line not in last:
                last.append(line)
        yield show_plain
        return
    from rich.live import Live

    with Live(console=console, refresh_per_second=4, transient=False) as view:
        yield view.update


def _start_task(node: models.BatchNode) -> str:
    info = node.start_task_info
    if info is None:
        return "-"
    if info.exit_code is None:
        return value(info.state)
    return f"exit {info.exit_code}"


def _exit(task: models.BatchTask) -> str:
    info = task.execution_info
    return "-" if info is None or info.exit_code is None else str(info.exit_code)


def _node(task: models.BatchTask) -> str:
    return (task.node_info.node_id or "-") if task.node_info else "-"


def _retries(task: models.BatchTask) -> str:
    info = task.execution_info
    return "0" if info is None else str(info.retry_count or 0)
