"""Repeated measurements, their summary (median, min, max), targets and figures.

Pure: nothing here touches the machine, so the smoke test checks it on fake numbers::

    product, floor = Stat.of([1.3, 1.1, 1.2]), Stat.of([1.0, 1.0, 1.0])
    fig = Figure("x_ratio", "x", "s", product, floor, paired_ratios([1.3, 1.1, 1.2],
                 [1.0, 1.0, 1.0]), Target("<=", 1.25))
    fig.headline, fig.met                               # 1.2, True
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stat:
    """Median, min and max of ``n`` repeated measurements."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stat:
        if not samples:
            raise ValueError("no samples to summarize")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def text(self, digits: int = 3) -> str:
        def fmt(value: float) -> str:
            return f"{value:.{digits}g}"

        if self.n == 1:
            return f"{fmt(self.median)} (n=1)"
        return f"{fmt(self.median)} ({fmt(self.min)}..{fmt(self.max)}, n={self.n})"

    def as_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n}


def paired_ratios(product: Sequence[float], floor: Sequence[float]) -> Stat:
    """Ratios of measurements taken side by side (rep i of each), summarized."""
    if len(product) != len(floor):
        raise ValueError(f"{len(product)} product samples but {len(floor)} floor samples")
    if any(f <= 0 for f in floor):
        raise ValueError(f"a floor measurement is not positive: {list(floor)}")
    return Stat.of([p / f for p, f in zip(product, floor, strict=True)])


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Target:
    """A bound on a figure's headline: ``<=``, ``>=``, or ``~`` (within ``tolerance`` of it)."""

    op: str
    bound: float
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">=", "~"):
            raise ValueError(f"unknown target operator {self.op!r}")

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.bound
        if self.op == ">=":
            return value >= self.bound
        return abs(value - self.bound) <= self.tolerance * self.bound

    def text(self) -> str:
        if self.op == "~":
            return f"{self.bound:g} ± {self.tolerance:.0%}"
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Figure:
    """One row of the results: a value, optionally its floor and ratio, and a target.

    The headline (what the target applies to, and what ``--json`` prints under ``key``) is
    the ratio's median when there is a floor, else the value's median, unless ``worst``
    names it explicitly.
    """

    key: str
    title: str
    unit: str
    value: Stat
    floor: Stat | None = None
    ratio: Stat | None = None
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: A headline that is neither ratio nor value median (e.g. the worse of two p99s).
    worst: float | None = None

    @property
    def headline(self) -> float:
        if self.worst is not None:
            return self.worst
        return self.ratio.median if self.ratio is not None else self.value.median

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.headline)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "title": self.title, "unit": self.unit,
            "headline": self.headline, "value": self.value.as_json(),
            "floor": self.floor.as_json() if self.floor else None,
            "ratio": self.ratio.as_json() if self.ratio else None,
            "target": self.target.text() if self.target else None,
            "met": self.met, "note": self.note, "extra": self.extra,
        }
