"""The scaling plot: pool-ready time over node count, per-task overhead over task count."""

from __future__ import annotations

from pathlib import Path

from bench.figures import Points


def scaling_png(points: Points, path: Path) -> None:
    """Two panels, product against floor on each; written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    _panel(left, points.pool_ready, "nodes in the pool", "seconds to all idle",
           "pool ready (300 MB image)", ("create_pool to idle", "start_node + preload"))
    _panel(right, points.per_task, "tasks in the job", "seconds per task",
           "per-task overhead (4 nodes x 2 slots)", ("slot time per task", "direct launch"))
    right.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _panel(ax: object, data: dict[int, tuple[float, float]], xlabel: str, ylabel: str,
           title: str, labels: tuple[str, str]) -> None:
    xs = sorted(data)
    ax.plot(xs, [data[x][0] for x in xs], "o-", label=f"shipyard: {labels[0]}")  # type: ignore[attr-defined]
    ax.plot(xs, [data[x][1] for x in xs], "s--", label=f"floor: {labels[1]}")  # type: ignore[attr-defined]
    ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_xticks(xs)  # type: ignore[attr-defined]
    ax.set_xticklabels([str(x) for x in xs])  # type: ignore[attr-defined]
    ax.set_ylim(bottom=0)  # type: ignore[attr-defined]  # growth read at true scale
    ax.grid(alpha=0.3)  # type: ignore[attr-defined]
    ax.legend()  # type: ignore[attr-defined]
