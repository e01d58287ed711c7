"""Writing a run's figures: ``results.md`` (a table), ``results.json`` and the summary line.

Each run replaces both files; the markdown keeps the previous run's headlines in a
"before" column so a change in ``src/`` and a rerun show their effect side by side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stats import Figure, Stat

HEADER = ("| figure | key | value (median, min..max) | floor | ratio | target | met? "
          "| before | date | command |")


@dataclass(frozen=True)
class Run:
    """What identifies a run: when, how it was started, and in which mode."""

    date: str
    command: str
    quick: bool
    seconds: float = 0.0


def summary(figures: Sequence[Figure], run: Run) -> dict[str, Any]:
    """The one-line JSON: each figure's headline under its key, plus what was met."""
    out: dict[str, Any] = {f.key: round(f.headline, 4) for f in figures}
    out["met"] = {f.key: f.met for f in figures if f.met is not None}
    out["quick"] = run.quick
    out["date"] = run.date
    return out


def _stat(stat: Stat | None, unit: str = "") -> str:
    if stat is None:
        return "-"
    return f"{stat.text()} {unit}".rstrip()


def _met(figure: Figure) -> str:
    return {True: "yes", False: "**no**", None: "-"}[figure.met]


def table(figures: Sequence[Figure], run: Run, before: dict[str, float]) -> str:
    """The markdown results table, one row per figure."""
    rows = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for f in figures:
        old = before.get(f.key)
        rows.append(" | ".join([
            f"| {f.title}", f"`{f.key}`", _stat(f.value, f.unit), _stat(f.floor, f.unit),
            _stat(f.ratio), f.target.text() if f.target else "-", _met(f),
            f"{old:.4g}" if old is not None else "-", run.date, f"`{run.command}`",
        ]) + " |")
    return "\n".join(rows)


def notes(figures: Sequence[Figure]) -> str:
    lines = [f"- `{f.key}`: {f.note}" for f in figures if f.note]
    return "\n".join(lines)


def previous_headlines(json_path: Path) -> dict[str, float]:
    """Headlines of the run that last wrote ``json_path`` (empty if none or unreadable)."""
    try:
        raw = json.loads(json_path.read_text())
        return {str(k): float(v) for k, v in raw["summary"].items()
                if isinstance(v, int | float) and not isinstance(v, bool)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write(out_dir: Path, figures: Sequence[Figure], run: Run, preamble: str = "") -> None:
    """Write ``results.md`` and ``results.json`` into ``out_dir``."""
    json_path = out_dir / "results.json"
    before = previous_headlines(json_path)
    mode = "quick" if run.quick else "full"
    text = [
        "# shipyard benchmarks: the product against the physical floor",
        "",
        f"Run of {run.date} ({mode} mode, {run.seconds:.0f} s), produced by `{run.command}`.",
        "Every ratio is product / floor, measured side by side in the same run (rep i of",
        "each, alternating), summarized as median (min..max, n repetitions). \"before\" is",
        "the headline of the run that wrote these files previously.",
        "",
        table(figures, run, before),
        "",
        "## Notes",
        "",
        notes(figures),
        "",
    ]
    if preamble:
        text += [preamble.rstrip(), ""]
    (out_dir / "results.md").write_text("\n".join(text))
    payload = {"date": run.date, "command": run.command, "quick": run.quick,
               "seconds": run.seconds, "summary": summary(figures, run),
               "figures": [f.as_json() for f in figures]}
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
