"""Sample histories, sample methods and whole-formula evaluation, with exact messages."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.engine.services.autoscale.evaluator import Snapshot, evaluate
from shipyard.engine.services.autoscale.lexer import ErrorKind, FormulaError
from shipyard.engine.services.autoscale.samples import (
    Histories,
    MethodError,
    Metric,
    SampleShortage,
)
from shipyard.engine.services.autoscale.values import Vec

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)  # a Tuesday


def history(values: list[float], name: str = "$PendingTasks") -> Metric:
    """Samples every 30 s, the last one now; ``values`` oldest first."""
    count = len(values)
    return Metric(name, tuple((NOW - timedelta(seconds=30 * (count - 1 - i)), v)
                              for i, v in enumerate(values)), NOW)


def snapshot(metrics: list[Metric] | None = None, dedicated: int = 1, low: int = 0,
             **counts: float) -> Snapshot:
    return Snapshot(dedicated, low, {f"${k}": v for k, v in counts.items()},
                    {m.name: m for m in metrics or []}, NOW)


def results(formula: str, state: Snapshot | None = None) -> str:
    return evaluate(formula, state or snapshot()).results


def failure(formula: str, state: Snapshot | None = None) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        evaluate(formula, state or snapshot())
    return caught.value


# -- sample methods ----------------------------------------------------------------------
def test_get_sample_by_count_and_by_window() -> None:
    metric = history([float(i) for i in range(21)])  # 10 minutes of samples, 0..20
    assert metric.get_sample([1.0]) == Vec((20.0,))
    assert metric.get_sample([3.0]) == Vec((18.0, 19.0, 20.0))
    assert metric.get_sample([99.0]) == Vec(tuple(float(i) for i in range(21)))
    last_minute = metric.get_sample([timedelta(minutes=1)])
    assert last_minute == Vec((18.0, 19.0, 20.0))
    between = metric.get_sample([timedelta(minutes=1), timedelta(minutes=6)])
    assert between == Vec(tuple(float(i) for i in range(8, 19)))
    since = metric.get_sample([NOW - timedelta(seconds=30)])
    assert since == Vec((19.0, 20.0))


def test_sample_percent_and_its_demand() -> None:
    metric = history([1.0] * 10)  # 4.5 minutes of samples
    assert metric.get_sample_percent([timedelta(minutes=10)]) == 50.0
    assert metric.get_sample_percent([timedelta(minutes=2)]) == 100.0
    assert len(metric.get_sample([timedelta(minutes=10), 50.0]).items) == 10
    with pytest.raises(SampleShortage) as caught:
        metric.get_sample([timedelta(minutes=10), 70.0])
    assert str(caught.value) == ("Insufficient data from data set: $PendingTasks wanted 70%, "
                                 "received 50%")
    with pytest.raises(SampleShortage, match="wanted 90%, received 0%"):
        metric.get_sample([timedelta(minutes=30), timedelta(minutes=20), 90.0])


def test_period_count_and_history_begin() -> None:
    metric = history([5.0, 6.0, 7.0])
    assert metric.get_sample_period([]) == timedelta(seconds=30)
    assert metric.count([]) == 3.0
    assert metric.history_begin_time([]) == NOW - timedelta(minutes=1)
    assert metric.call("GETSAMPLE", [1.0]) == Vec((7.0,))


@pytest.mark.parametrize(("method", "args", "message"), [
    ("GetSample", [0.0], "GetSample needs a count of at least 1"),
    ("GetSample", [], "GetSample takes a count, or a start"),
    ("GetSample", ["x", 1.0], "bounded by timeintervals or timestamps, not a string"),
    ("GetSamplePercent", [], "GetSamplePercent takes a start and an optional end"),
    ("Count", [1.0], "Count takes no arguments"),
])
def test_sample_method_errors(method: str, args: list[object], message: str) -> None:
    with pytest.raises(MethodError, match=message):
        history([1.0]).call(method, args)  # type: ignore[arg-type]


def test_an_empty_history_has_no_sample_to_give() -> None:
    empty = Metric("$CPUPercent", (), NOW)
    with pytest.raises(SampleShortage, match=r"\$CPUPercent wanted 1 samples, received 0"):
        empty.get_sample([1.0])
    assert empty.get_sample_percent([timedelta(minutes=5)]) == 0.0
    assert empty.count([]) == 0.0


def test_histories_are_bounded_and_forget_gone_pools() -> None:
    histories = Histories(length=3)
    for second in range(5):
        histories.record("P1", NOW + timedelta(seconds=second), {"$PendingTasks": second})
    histories.record("p2", NOW, {"$PendingTasks": 9.0})
    metric = histories.metrics("p1", NOW)["$PendingTasks"]
    assert [v for _, v in metric.samples] == [2, 3, 4], "only the newest 3 are kept"
    histories.keep({"P2"})
    assert histories.metrics("p1", NOW) == {} and histories.metrics("P2", NOW)


# -- whole formulas ------------------------------------------------------------------------
def test_results_of_the_recorded_evaluation() -> None:
    assert results("$TargetDedicatedNodes=3") == (
        "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue")


def test_targets_default_to_the_pool_and_aliases_defer_to_full_names() -> None:
    state = snapshot(dedicated=4, low=2)
    assert results("", state).startswith("$TargetDedicatedNodes=4;$TargetLowPriorityNodes=2;")
    assert evaluate("$TargetDedicated = 7", state).dedicated == 7
    both = evaluate("$TargetDedicated = 7; $TargetDedicatedNodes = 5; $TargetLowPriority = 1",
                    state)
    assert (both.dedicated, both.low_priority) == (5, 1)
    assert evaluate("$x = $TargetDedicated * 2; $TargetDedicatedNodes = $x", state).dedicated == 8
    assert evaluate("$TargetDedicatedNodes = 2.9", state).dedicated == 2


def test_user_variables_are_listed_alphabetically_after_the_service_ones() -> None:
    formula = ("$curTime = time(\"2026-12-01T10:00:00Z\"); $workHours = $curTime.hour >= 8 && "
               "$curTime.hour < 18; $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;"
               "$isWorkingWeekdayHour = $workHours && $isWeekday;"
               "$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;"
               "$NodeDeallocationOption = taskcompletion;")
    assert results(formula) == (
        "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption="
        "taskcompletion;$curTime=2026-12-01T10:00:00.000Z;$isWeekday=1;"
        "$isWorkingWeekdayHour=1;$workHours=1")


def test_documented_pending_tasks_formula() -> None:
    formula = """startingNumberOfVMs = 1;
    maxNumberofVMs = 25;
    pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
    pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs :
        avg($PendingTasks.GetSample(180 * TimeInterval_Second));
    $TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
    $NodeDeallocationOption = taskcompletion;"""
    busy = snapshot([history([30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0])])
    assert evaluate(formula, busy).dedicated == 25
    fresh = snapshot([history([40.0])])
    assert evaluate(formula, fresh).dedicated == 1, "too few samples: the starting size"


def test_counts_and_timestamp_members() -> None:
    state = snapshot(CurrentDedicatedNodes=3, CurrentLowPriorityNodes=1, TaskSlotsPerNode=4)
    assert evaluate("$TargetDedicatedNodes = $CurrentDedicatedNodes * 1.1 + "
                    "$currentlowprioritynodes", state).dedicated == 4
    assert evaluate("$TargetDedicatedNodes = $TaskSlotsPerNode", state).dedicated == 4
    members = ("t = time(\"2026-12-06T13:14:15Z\"); $TargetDedicatedNodes = t.year - 2026 + "
               "t.month + t.day + t.weekday + t.hour + t.minute + t.second")
    assert evaluate(members, state).dedicated == 12 + 6 + 0 + 13 + 14 + 15, "Sunday is 0"


def test_stop_keeps_what_was_evaluated() -> None:
    assert evaluate("$TargetDedicatedNodes = 2; stop(); $TargetDedicatedNodes = 9",
                    snapshot()).dedicated == 2


def test_logic_short_circuits() -> None:
    empty = snapshot([Metric("$PendingTasks", (), NOW)])
    formula = "$TargetDedicatedNodes = $PendingTasks.Count() > 0 && {} ? 5 : 0"
    assert evaluate(formula.format("avg($PendingTasks.GetSample(1)) > 1"), empty).dedicated == 0
    assert evaluate("$TargetDedicatedNodes = 1 || nosuch(1)", empty).dedicated == 1


@pytest.mark.parametrize(("formula", "kind", "message"), [
    ("$PendingTasks = 1", ErrorKind.EVALUATION,
     "Line 1, Col 1: Cannot assign to read-only symbol $PendingTasks"),
    ("TimeInterval_Second = 1", ErrorKind.EVALUATION,
     "Line 1, Col 1: Cannot assign to read-only symbol TimeInterval_Second"),
    ("$a = nothing + 1", ErrorKind.EVALUATION, "Line 1, Col 6: Undefined symbol: nothing"),
    ("$a = $PendingTasks + 1", ErrorKind.EVALUATION,
     "Line 1, Col 6: $PendingTasks is a sample variable: use one of its methods such as "
     "GetSample()"),
    ("$a = $PendingTasks.Latest()", ErrorKind.EVALUATION, "Line 1, Col 20: Unknown method: Latest"),
    ("$a = time().GetSample(1)", ErrorKind.EVALUATION,
     "Line 1, Col 13: GetSample() is a method of sample variables only"),
    ("$a = time().century", ErrorKind.EVALUATION, "Line 1, Col 13: Unknown member: century"),
    ("$a = 1;\n  $b = frob(2)", ErrorKind.EVALUATION, "Line 2, Col 8: Unknown function: frob"),
    ("$a = \"x\" ? 1 : 2", ErrorKind.EVALUATION,
     "Line 1, Col 6: A condition must be a double, not a string"),
    ("$TargetDedicatedNodes = -1", ErrorKind.EVALUATION,
     "Line 1, Col 1: $TargetDedicatedNodes must not be negative, not -1"),
    ("$TargetLowPriorityNodes = \"many\"", ErrorKind.EVALUATION,
     "Line 1, Col 1: $TargetLowPriorityNodes must be a finite double, not many"),
    ("$NodeDeallocationOption = \"later\"", ErrorKind.EVALUATION,
     "Line 1, Col 1: $NodeDeallocationOption must be one of requeue, terminate, "
     "taskcompletion, retaineddata, not later"),
    ("$a = $CPUPercent.GetSample(TimeInterval_Minute * 10, 70)", ErrorKind.SAMPLES,
     "Line 1, Col 18: Insufficient data from data set: $CPUPercent wanted 70%, received 0%"),
    ("$a = 1 +", ErrorKind.SYNTAX, "Line 1, Col 9: Expected an expression, found end of formula"),
])
def test_errors_name_the_spot(formula: str, kind: ErrorKind, message: str) -> None:
    error = failure(formula)
    assert (error.kind, str(error)) == (kind, message)


@pytest.mark.parametrize("formula", [
    "$a = TimeInterval_Day * 1e300", "$a = round(1e308 * 10)", "$a = val([1], 0)",
    "$a = time() + TimeInterval_Week * 1e6", "$a = ceil(-1e308 * 10)"])
def test_out_of_range_values_are_formula_errors(formula: str) -> None:
    error = failure(formula)
    assert error.kind in (ErrorKind.EVALUATION, ErrorKind.SYNTAX)


def test_random_formulas_fail_only_with_formula_errors() -> None:
    """Whatever the text, the evaluator answers or raises FormulaError: never a crash."""
    pieces = ["$a", "=", "b", ";", "(", ")", "1", "0", "-", "+", "*", "/", "?", ":", "&&",
              "||", "!", "<", "==", ",", ".", "avg", "val", "time", "\"2026-01-01\"",
              "$PendingTasks", "GetSample", "GetSamplePercent", "hour", "TimeInterval_Hour",
              "$TargetDedicatedNodes", "requeue", "1e308", "stop", "percentile", "[", "#"]
    state = snapshot([history([1.0, 2.0, 3.0])])
    generator = random.Random(20261201)
    for _ in range(3000):
        text = " ".join(generator.choice(pieces) for _ in range(generator.randint(1, 14)))
        with contextlib.suppress(FormulaError):
            evaluate(text, state)


@pytest.mark.parametrize("formula", ["$a = " + "(" * 3000 + "1" + ")" * 3000,
                                     "$a = " + "-" * 6000 + "1",
                                     "$a = 1" + "+1" * 4000])
def test_deep_formulas_are_refused_not_crashed(formula: str) -> None:
    assert "nests too deeply" in str(failure(formula))
