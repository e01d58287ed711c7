"""The timeline of a multi-instance task drawn: SVG (dashboard, HTML file) and PNG.

Both draw ``Timeline.as_json()``: one row per instance (node), a bar per phase, a time
axis in seconds since the task was created, and a legend. matplotlib is imported only
when a PNG is asked for, so the dashboard and the rest of the CLI never load it.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError

#: One colour per phase, shared by the SVG, the PNG and the stylesheet's legend.
COLOURS = {"waiting": "#c3c9d2", "coordination": "#f0a43a", "barrier": "#e6d35a",
           "application": "#3a7fc1", "ending": "#a46cc0", "cleanup": "#5fa75a"}
WIDTH, LABEL, ROW, TOP = 960, 170, 30, 26


def short_node(node: str) -> str:
    """A node id short enough for a label (Azure's and the engine's ids run to 80 characters)."""
    return node if len(node) <= 14 else f"{node[:12]}…"


def row_label(row: dict[str, Any]) -> str:
    role = "primary" if row["instance"] == 0 else f"subtask {row['instance']}"
    return f"{role} · {row.get('address') or short_node(row['node'])}"


def _ticks(span: float) -> list[float]:
    step = next((s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
                 if span / s <= 10), 7200.0)
    count = int(span / step) + 1
    return [round(i * step, 3) for i in range(count + 1)]


def svg(data: dict[str, Any]) -> str:
    """An SVG of the timeline, self-contained (no script, no external style)."""
    rows = data["rows"]
    span = max(float(data["span"]), 0.001)
    plot = WIDTH - LABEL - 20
    height = TOP + ROW * len(rows) + 50

    def x(seconds: float) -> float:
        return round(LABEL + plot * seconds / span, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
             'font-size="12">']
    for tick in _ticks(span):
        if tick <= span * 1.001:
            parts.append(f'<line x1="{x(tick)}" x2="{x(tick)}" y1="{TOP - 6}" '
                         f'y2="{TOP + ROW * len(rows)}" stroke="#ddd"/>'
                         f'<text x="{x(tick)}" y="{TOP - 10}" text-anchor="middle" '
                         f'fill="#555">{tick:g}s</text>')
    for index, row in enumerate(rows):
        parts.extend(_svg_row(row, TOP + ROW * index, x, data.get("late")))
    parts.append(_svg_legend(TOP + ROW * len(rows) + 22))
    parts.append("</svg>")
    return "".join(parts)


def _svg_row(row: dict[str, Any], top: int, x: Callable[[float], float],
             late: str | None) -> list[str]:
    weight = ' font-weight="bold"' if row["node"] == late else ""
    out = [f'<g class="row" data-node="{escape(row["node"])}" '
           f'data-instance="{row["instance"]}">'
           f'<text x="4" y="{top + ROW / 2 + 4}"{weight}>{escape(row_label(row))}'
           f'<title>{escape(row["node"])}</title></text>']
    for bar in row["bars"]:
        left, right = x(bar["start"]), x(bar["end"])
        out.append(f'<rect class="bar" data-phase="{bar["phase"]}" x="{left}" y="{top + 4}" '
                   f'width="{max(right - left, 1.0):.1f}" height="{ROW - 8}" '
                   f'fill="{COLOURS[bar["phase"]]}"><title>{bar["phase"]}: '
                   f'{bar["seconds"]:.3f} s ({bar["start"]:.3f}..{bar["end"]:.3f})'
                   '</title></rect>')
    out.append("</g>")
    return out


def _svg_legend(top: int) -> str:
    items = []
    for index, (phase, colour) in enumerate(COLOURS.items()):
        left = LABEL + index * 110
        items.append(f'<rect x="{left}" y="{top - 10}" width="12" height="12" '
                     f'fill="{colour}"/><text x="{left + 16}" y="{top}">{phase}</text>')
    return "".join(items)


def html(data: dict[str, Any]) -> str:
    """A standalone HTML page with the SVG and a table of the bars."""
    title = escape(f"timeline of {data['job']}/{data['task']}")
    cells = "".join(
        f"<tr><td>{escape(row_label(r))}</td><td>{b['phase']}</td><td>{b['start']:.3f}</td>"
        f"<td>{b['end']:.3f}</td><td>{b['seconds']:.3f}</td></tr>"
        for r in data["rows"] for b in r["bars"])
    notes = "".join(f"<p>{escape(n)}</p>" for n in data.get("notes", []))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;"
            f"text-align:left}}</style></head><body><h1>{title}</h1>{notes}{svg(data)}"
            "<table><tr><th>instance</th><th>phase</th><th>start s</th><th>end s</th>"
            f"<th>seconds</th></tr>{cells}</table></body></html>")


def png(data: dict[str, Any], path: Path) -> None:
    """Draw the timeline with matplotlib into ``path``."""
    try:
        import matplotlib
    except ImportError as exc:  # a trimmed install: say how to get it
        raise ConfigError("matplotlib is needed to write a PNG",
                          hint="pip install matplotlib, or write --out FILE.html") from exc
    matplotlib.use("Agg")  # no display: draw to a file only
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    rows = data["rows"]
    figure, axes = pyplot.subplots(figsize=(10, 2.2 + 0.45 * len(rows)), dpi=100)
    try:
        for index, row in enumerate(rows):
            for bar in row["bars"]:
                axes.barh(index, bar["end"] - bar["start"], left=bar["start"], height=0.6,
                          color=COLOURS[bar["phase"]])
        axes.set_yticks(range(len(rows)), [row_label(r) for r in rows])
        axes.invert_yaxis()  # the primary on top, as in the dashboard
        axes.set_xlabel("seconds since the task was created")
        axes.set_title(f"{data['job']}/{data['task']}")
        handles = [Patch(color=c, label=p) for p, c in COLOURS.items()]
        # Below the axis label, outside the axes: the bars stay uncovered.
        figure.legend(handles=handles, ncols=len(COLOURS), loc="lower center", fontsize=8,
                      frameon=False)
        figure.tight_layout(rect=(0, 0.08, 1, 1))
        figure.savefig(path)
    finally:
        pyplot.close(figure)


def kind(path: Path) -> str:
    """``png``, ``html`` or ``svg`` by the suffix of ``path``; anything else is refused."""
    suffix = path.suffix.lower().lstrip(".")
    found = {"png": "png", "html": "html", "htm": "html", "svg": "svg"}.get(suffix)
    if found is None:
        raise ConfigError(f"--out {path}: write a .png, .html or .svg file")
    return found


def write(data: dict[str, Any], path: Path) -> None:
    """Write ``path`` as PNG, HTML or SVG, by its suffix."""
    what = kind(path)
    if what == "png":
        png(data, path)
    else:
        path.write_text(html(data) if what == "html" else svg(data), encoding="utf-8")
