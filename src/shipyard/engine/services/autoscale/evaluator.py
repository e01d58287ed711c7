"""Run a parsed formula against one snapshot of a pool: new targets, or an error with a spot.

Names resolve in this order: variables assigned earlier in the formula; the service's
variables (``$TargetDedicatedNodes`` and ``$TargetLowPriorityNodes`` start at the pool's
current targets, ``$NodeDeallocationOption`` at ``requeue``; ``$CurrentDedicatedNodes``
and the other read-only counts are doubles; the metrics such as ``$PendingTasks`` are
sample variables, usable only through their sample methods); the ``TimeInterval_*``
constants; and the bare words ``requeue``, ``terminate``, ``taskcompletion`` and
``retaineddata``. Service names match without regard to case, user variables exactly.
``$TargetDedicated``/``$TargetLowPriority`` are aliases; the full name wins when both are
set. ``autoScaleRun.results`` lists the three writable service variables first, then the
formula's own variables in alphabetical order, as the service's examples show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shipyard.engine.services.autoscale import functions, parser
from shipyard.engine.services.autoscale.lexer import ErrorKind, FormulaError
from shipyard.engine.services.autoscale.samples import MethodError, Metric, SampleShortage
from shipyard.engine.services.autoscale.values import (
    OperandError,
    Value,
    binary,
    show,
    truth,
    unary,
)

DEDICATED, LOW_PRIORITY, DEALLOCATION = (
    "$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption")
_ALIASES = {"$targetdedicated": DEDICATED, "$targetlowpriority": LOW_PRIORITY}
_WRITABLE = {name.lower(): name for name in (DEDICATED, LOW_PRIORITY, DEALLOCATION)}
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
#: Read-only service variables that are plain doubles (the present value, not samples).
COUNTS = ("$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$TaskSlotsPerNode",
          "$UsableNodeCount")
#: Service-defined metrics, sampled over time.
METRICS = ("$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes",
           "$DiskReadBytes", "$DiskWriteBytes", "$DiskReadOps", "$DiskWriteOps",
           "$NetworkInBytes", "$NetworkOutBytes", "$SampleNodeCount", "$ActiveTasks",
           "$RunningTasks", "$PendingTasks", "$SucceededTasks", "$FailedTasks",
           "$PreemptedNodeCount")
_READ_ONLY = {name.lower(): name for name in (*COUNTS, *METRICS)}
_INTERVALS = {
    "timeinterval_zero": timedelta(0), "timeinterval_100ns": timedelta(microseconds=0.1),
    "timeinterval_microsecond": timedelta(microseconds=1),
    "timeinterval_millisecond": timedelta(milliseconds=1),
    "timeinterval_second": timedelta(seconds=1), "timeinterval_minute": timedelta(minutes=1),
    "timeinterval_hour": timedelta(hours=1), "timeinterval_day": timedelta(days=1),
    "timeinterval_week": timedelta(weeks=1), "timeinterval_year": timedelta(days=365)}
_TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")


@dataclass(frozen=True)
class Snapshot:
    """What a formula may read about one pool at one moment."""

    target_dedicated: int
    target_low_priority: int
    counts: dict[str, float]
    """``COUNTS`` by name (missing ones read as 0)."""
    metrics: dict[str, Metric] = field(default_factory=dict)
    """``METRICS`` by name; a metric without a history has no samples."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Outcome:
    """A successful evaluation: the new targets and the service's ``results`` string."""

    dedicated: int
    low_priority: int
    deallocation: str
    results: str


class _Stop(Exception):
    """``stop()`` was called: the statements evaluated so far stand."""


def evaluate(formula: str, snapshot: Snapshot) -> Outcome:
    """Parse and run ``formula``; ``FormulaError`` says what failed and where."""
    statements = parser.parse(formula)
    try:
        return _Run(snapshot).run(statements)
    except RecursionError:
        # A long chain such as 1+1+...+1 is a deep tree; refuse it rather than crash.
        raise FormulaError(ErrorKind.EVALUATION, 1, 1, "The formula nests too deeply") from None


class _Run:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.assigned: dict[str, Value] = {}
        #: Spelling of each variable as first written, keyed by its lookup key.
        self.spelling: dict[str, str] = {}

    def run(self, statements: list[parser.Statement]) -> Outcome:
        try:
            for statement in statements:
                if isinstance(statement, parser.Assign):
                    self.assign(statement)
                else:
                    self.value(statement.value)
        except _Stop:
            pass
        return self.outcome(statements[-1] if statements else None)

    # -- statements ------------------------------------------------------------------------
    def assign(self, statement: parser.Assign) -> None:
        key = _key(statement.name)
        if key in _READ_ONLY or key.lower() in _INTERVALS:
            raise FormulaError(ErrorKind.EVALUATION, statement.line, statement.col,
                               f"Cannot assign to read-only symbol {statement.name}")
        value = self.value(statement.value)
        self.assigned[key] = value
        self.spelling.setdefault(key, _WRITABLE.get(key, statement.name))

    def outcome(self, last: parser.Statement | None) -> Outcome:
        line, col = (last.line, last.col) if last else (1, 1)
        dedicated = self._target(DEDICATED, "$targetdedicated", line, col)
        low = self._target(LOW_PRIORITY, "$targetlowpriority", line, col)
        option = self.assigned.get(DEALLOCATION.lower(), "requeue")
        if not isinstance(option, str) or option.lower() not in DEALLOCATION_OPTIONS:
            raise FormulaError(ErrorKind.EVALUATION, line, col,
                               f"$NodeDeallocationOption must be one of "
                               f"{', '.join(DEALLOCATION_OPTIONS)}, not {show(option)}")
        shown = [f"{DEDICATED}={dedicated}", f"{LOW_PRIORITY}={low}",
                 f"{DEALLOCATION}={option.lower()}"]
        own = sorted((k for k in self.assigned if k not in _WRITABLE and k not in _ALIASES),
                     key=lambda k: self.spelling[k].lower())
        shown += [f"{self.spelling[k]}={show(self.assigned[k])}" for k in own]
        return Outcome(dedicated, low, option.lower(), ";".join(shown))

    def _target(self, name: str, alias: str, line: int, col: int) -> int:
        default = (self.snapshot.target_dedicated if name == DEDICATED
                   else self.snapshot.target_low_priority)
        value = self.assigned.get(name.lower(), self.assigned.get(alias, float(default)))
        if not isinstance(value, float) or math.isnan(value) or math.isinf(value):
            raise FormulaError(ErrorKind.EVALUATION, line, col,
                               f"{name} must be a finite double, not {show(value)}")
        if value < 0:
            raise FormulaError(ErrorKind.EVALUATION, line, col,
                               f"{name} must not be negative, not {show(value)}")
        return int(value)  # the service takes whole nodes; a fraction is dropped

    # -- expressions -----------------------------------------------------------------------
    def value(self, node: parser.Node) -> Value:
        found = self.eval(node)
        if isinstance(found, Metric):
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"{found.name} is a sample variable: use one of its methods "
                               "such as GetSample()")
        return found

    def eval(self, node: parser.Node) -> Value | Metric:
        try:
            return self._dispatch(node)
        except (OperandError, functions.ArgumentError, MethodError) as exc:
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col, str(exc)) from exc
        except SampleShortage as exc:
            raise FormulaError(ErrorKind.SAMPLES, node.line, node.col, str(exc)) from exc
        except (OverflowError, ValueError) as exc:
            # Doubles past what a timeinterval, a timestamp or an index can hold.
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"Value out of range: {exc}") from exc

    def _dispatch(self, node: parser.Node) -> Value | Metric:
        if isinstance(node, parser.Number | parser.String):
            return node.value
        if isinstance(node, parser.Name):
            return self.lookup(node)
        if isinstance(node, parser.Unary):
            return unary(node.op, self.value(node.operand))
        if isinstance(node, parser.Binary):
            return self.binary(node)
        if isinstance(node, parser.Ternary):
            chosen = node.then if truth(self.value(node.condition)) else node.otherwise
            return self.value(chosen)
        if isinstance(node, parser.Call):
            return self.call(node)
        if isinstance(node, parser.Method):
            return self.method(node)
        if isinstance(node, parser.Member):
            return self.member(node)
        raise AssertionError(f"unknown node {node!r}")

    def binary(self, node: parser.Binary) -> Value:
        left = self.value(node.left)
        if node.op in ("&&", "||"):
            # Short-circuit, so `$n > 0 && avg($v) > 1` never evaluates avg of nothing.
            if truth(left) == (node.op == "||"):
                return 1.0 if node.op == "||" else 0.0
            return 1.0 if truth(self.value(node.right)) else 0.0
        return binary(node.op, left, self.value(node.right))

    def lookup(self, node: parser.Name) -> Value | Metric:
        key = _key(node.name)
        if key in self.assigned:
            return self.assigned[key]
        if key in _ALIASES and _ALIASES[key].lower() in self.assigned:
            return self.assigned[_ALIASES[key].lower()]
        found = self._service(key)
        if found is not None:
            return found
        if node.name.lower() in _INTERVALS:
            return _INTERVALS[node.name.lower()]
        if node.name.lower() in DEALLOCATION_OPTIONS:
            return node.name.lower()
        raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                           f"Undefined symbol: {node.name}")

    def _service(self, key: str) -> Value | Metric | None:
        snapshot = self.snapshot
        initial: dict[str, Value] = {
            DEDICATED.lower(): float(snapshot.target_dedicated),
            "$targetdedicated": float(snapshot.target_dedicated),
            LOW_PRIORITY.lower(): float(snapshot.target_low_priority),
            "$targetlowpriority": float(snapshot.target_low_priority),
            DEALLOCATION.lower(): "requeue"}
        if key in initial:
            return initial[key]
        name = _READ_ONLY.get(key)
        if name in COUNTS:
            return float(snapshot.counts.get(name, 0.0))
        if name is not None:
            return snapshot.metrics.get(name) or Metric(name, (), snapshot.now)
        return None

    def call(self, node: parser.Call) -> Value:
        args = [self.value(arg) for arg in node.args]
        if node.function.lower() == "stop":
            raise _Stop()
        if node.function.lower() == "time" and not args:
            return self.snapshot.now  # one moment for the whole evaluation, as its samples
        try:
            return functions.call(node.function, args)
        except KeyError:
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"Unknown function: {node.function}") from None

    def method(self, node: parser.Method) -> Value:
        target = self.eval(node.target)
        if not isinstance(target, Metric):
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"{node.method}() is a method of sample variables only")
        args = [self.value(arg) for arg in node.args]
        try:
            return target.call(node.method, args)
        except KeyError:
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"Unknown method: {node.method}") from None

    def member(self, node: parser.Member) -> Value:
        target = self.value(node.target)
        name = node.member.lower()
        if not isinstance(target, datetime) or name not in _TIMESTAMP_MEMBERS:
            raise FormulaError(ErrorKind.EVALUATION, node.line, node.col,
                               f"Unknown member: {node.member}")
        utc = target.astimezone(UTC)
        if name == "weekday":
            return float(utc.isoweekday() % 7)  # .NET's DayOfWeek: Sunday 0, Monday 1
        return float(getattr(utc, name))


def _key(name: str) -> str:
    """Service names match without case; the user's own names exactly."""
    lowered = name.lower()
    if lowered in _WRITABLE or lowered in _ALIASES or lowered in _READ_ONLY:
        return lowered
    return name
