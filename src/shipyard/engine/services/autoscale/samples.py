"""Metric histories and the sample methods a formula calls on them.

The service records a sample of each metric every 30 seconds; so does the engine (and once
more right before each evaluation, so a formula always sees the present). A history keeps
one day of samples and forgets older ones. Unlike the service's, the engine's samples are
available at once, without the minute of delay the documentation warns about.

``Metric`` is the read-only snapshot a formula sees (``$PendingTasks`` and friends):

    GetSample(n)                        the last n samples
    GetSample(start [, percent])        samples from ``start`` (look-back interval or
    GetSample(start, end [, percent])   timestamp) until now, or until ``end``; fails
                                        when fewer than ``percent`` % of them exist
    GetSamplePercent(start [, end])     how many % of those samples exist
    GetSamplePeriod()                   the sampling period (a timeinterval)
    Count()                             samples in the history
    HistoryBeginTime()                  the oldest sample's timestamp
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipyard.engine.services.autoscale.values import Value, Vec, type_name

SAMPLE_PERIOD = timedelta(seconds=30)
#: One day of samples per metric: the longest look-back the bound keeps.
HISTORY_LENGTH = 2880


class SampleShortage(Exception):
    """Fewer samples than a ``GetSample`` demanded; worded as the service words it."""


class MethodError(Exception):
    """A sample method called with arguments it does not take."""


class Histories:
    """Bounded sample histories per pool and metric, shared between threads."""

    def __init__(self, length: int = HISTORY_LENGTH) -> None:
        self._length = length
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, deque[tuple[datetime, float]]]] = {}

    def record(self, pool_id: str, at: datetime, values: dict[str, float]) -> None:
        with self._lock:
            pool = self._data.setdefault(pool_id.lower(), {})
            for name, value in values.items():
                pool.setdefault(name, deque(maxlen=self._length)).append((at, value))

    def metrics(self, pool_id: str, now: datetime) -> dict[str, Metric]:
        """A frozen snapshot of every metric of the pool, as a formula sees them."""
        with self._lock:
            pool = self._data.get(pool_id.lower(), {})
            return {name: Metric(name, tuple(samples), now) for name, samples in pool.items()}

    def keep(self, pool_ids: set[str]) -> None:
        """Forget the histories of pools that are gone."""
        wanted = {pool_id.lower() for pool_id in pool_ids}
        with self._lock:
            for gone in set(self._data) - wanted:
                del self._data[gone]


@dataclass(frozen=True)
class Metric:
    """One metric's samples (oldest first) at the moment of an evaluation."""

    name: str
    samples: tuple[tuple[datetime, float], ...]
    now: datetime
    period: timedelta = SAMPLE_PERIOD

    def call(self, method: str, args: list[Value]) -> Value:
        """Run a sample method; ``KeyError`` for a method that does not exist."""
        table = {"getsample": self.get_sample, "getsamplepercent": self.get_sample_percent,
                 "getsampleperiod": self.get_sample_period, "count": self.count,
                 "historybegintime": self.history_begin_time}
        return table[method.lower()](args)

    def get_sample(self, args: list[Value]) -> Value:
        if len(args) == 1 and isinstance(args[0], float):
            return self._last(args[0])
        if not 1 <= len(args) <= 3:
            raise MethodError("GetSample takes a count, or a start, an optional end and an "
                              "optional sample percent")
        bounds, percent = _split_percent(args)
        window = self._window(bounds)
        if percent is not None:
            have = self._percent(bounds, len(window))
            if have < percent:
                raise SampleShortage(f"Insufficient data from data set: {self.name} wanted "
                                     f"{_pct(percent)}%, received {_pct(have)}%")
        return Vec(tuple(value for _, value in window))

    def get_sample_percent(self, args: list[Value]) -> Value:
        if not 1 <= len(args) <= 2:
            raise MethodError("GetSamplePercent takes a start and an optional end")
        return self._percent(args, len(self._window(args)))

    def get_sample_period(self, args: list[Value]) -> Value:
        _no_arguments("GetSamplePeriod", args)
        return self.period

    def count(self, args: list[Value]) -> Value:
        _no_arguments("Count", args)
        return float(len(self.samples))

    def history_begin_time(self, args: list[Value]) -> Value:
        _no_arguments("HistoryBeginTime", args)
        if not self.samples:
            raise SampleShortage(f"Insufficient data from data set: {self.name} has no samples")
        return self.samples[0][0]

    # -- helpers ---------------------------------------------------------------------------
    def _last(self, count: float) -> Vec:
        wanted = int(count)
        if wanted < 1:
            raise MethodError("GetSample needs a count of at least 1")
        if not self.samples:
            raise SampleShortage(f"Insufficient data from data set: {self.name} wanted "
                                 f"{wanted} samples, received 0")
        return Vec(tuple(value for _, value in self.samples[-wanted:]))

    def _times(self, bounds: list[Value]) -> tuple[datetime, datetime]:
        moments = [self._moment(bound) for bound in bounds]
        if len(moments) == 1:
            moments.append(self.now)
        return min(moments), max(moments)

    def _moment(self, bound: Value) -> datetime:
        if isinstance(bound, timedelta):
            return self.now - bound
        if isinstance(bound, datetime):
            return bound
        raise MethodError(f"A sample window is bounded by timeintervals or timestamps, "
                          f"not a {type_name(bound)}")

    def _window(self, bounds: list[Value]) -> list[tuple[datetime, float]]:
        start, end = self._times(bounds)
        return [(at, value) for at, value in self.samples if start <= at <= end]

    def _percent(self, bounds: list[Value], have: int) -> float:
        start, end = self._times(bounds)
        expected = int((end - start) / self.period)
        if expected <= 0:
            return 100.0 if have else 0.0
        return min(100.0, 100.0 * have / expected)


def _split_percent(args: list[Value]) -> tuple[list[Value], float | None]:
    if len(args) >= 2 and isinstance(args[-1], float):
        return args[:-1], args[-1]
    return args, None


def _no_arguments(method: str, args: list[Value]) -> None:
    if args:
        raise MethodError(f"{method} takes no arguments")


def _pct(value: float) -> str:
    return str(int(value))  # the service prints whole percents: "wanted 70%, received 0%"
