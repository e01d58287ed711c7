"""Autoscale formulas: ``pool_specification.autoscale`` as the text Azure Batch evaluates.

A user ``formula`` is passed on untouched. A ``scenario`` becomes a formula written here;
what each scenario computes follows Batch Shipyard's autoscale guide:

- ``active_tasks`` / ``pending_tasks``: enough nodes for the queued (active) or the queued
  plus running (pending) tasks of the pool, at ``task_slots_per_node`` tasks a node. The
  task count is the mean over ``sample_lookback_interval`` when at least
  ``required_sample_percentage`` of its samples exist; ``bias_last_sample`` lets the last
  sample pull the figure towards it (the last sample alone when too few exist). The nodes
  are shared between dedicated and low-priority as ``bias_node_type`` says (``auto``: half
  each, all of one kind when the other's maximum is 0), and with
  ``rebalance_preemption_percentage`` the preempted low-priority nodes move to dedicated
  once they reach that share of the pool. Growth per evaluation is capped by
  ``maximum_vm_increment_per_evaluation``.
- ``workday``, ``weekday``, ``weekend``: the maximum counts during peak time (work hours
  of weekdays; weekdays; the days outside the weekdays), the minimum otherwise.
  ``workday_with_offpeak_max_low_priority``: the maximum low-priority count always, the
  maximum dedicated count during work hours of weekdays. ``time_ranges`` defines weekdays
  (0 is Sunday, as the formula's ``time().weekday``) and work hours (UTC, inclusive).

Everywhere ``vm_count`` is the floor and ``maximum_vm_count`` the ceiling (negative: none);
the formula ends with the scenario's ``$NodeDeallocationOption``. Pure text, no I/O; golden
files in ``tests/unit/golden/autoscale``.

Where these differ from Batch Shipyard's own formulas (3.9.1), on purpose: its ``weekend``
test (weekday before the first and after the last weekday at once) is never true, here it
is "not a weekday"; it compares the preempted fraction (0-1) with a percentage, here both
are percent; and it subtracts ``vm_count`` from the nodes the tasks need, here
``vm_count`` is only the floor.
"""

from __future__ import annotations

from shipyard.config.autoscale import TASK_SCENARIOS, AutoscaleScenario
from shipyard.config.pool import PoolSpecification

#: What "no limit" becomes in a formula (Batch Shipyard's figure: 2**24 nodes).
UNBOUNDED = 16_777_216


def formula(spec: PoolSpecification) -> str | None:
    """The pool's autoscale formula, or None when the pool is sized by ``vm_count``."""
    if spec.autoscale is None:
        return None
    if spec.autoscale.formula is not None:
        return spec.autoscale.formula
    scenario = spec.autoscale.scenario
    assert scenario is not None  # the config room requires formula or scenario
    body = (_task_lines(scenario) if scenario.name in TASK_SCENARIOS
            else _calendar_lines(scenario))
    lines = [*_limits(spec, scenario), *body,
             f"$NodeDeallocationOption = {scenario.node_deallocation_option}"]
    return ";\n".join(lines) + ";\n"


def _limits(spec: PoolSpecification, scenario: AutoscaleScenario) -> list[str]:
    ceiling, step = scenario.maximum_vm_count, scenario.maximum_vm_increment_per_evaluation
    lines = [f"minDedicated = {spec.vm_count.dedicated}",
             f"minLowPriority = {spec.vm_count.low_priority}",
             f"maxDedicated = {_limit(ceiling.dedicated, unbounded_below=0)}",
             f"maxLowPriority = {_limit(ceiling.low_priority, unbounded_below=0)}"]
    if scenario.name in TASK_SCENARIOS:
        lines += [f"slotsPerNode = {spec.slots_per_node}",
                  f"stepDedicated = {_limit(step.dedicated, unbounded_below=1)}",
                  f"stepLowPriority = {_limit(step.low_priority, unbounded_below=1)}"]
    return lines


def _limit(value: int, unbounded_below: int) -> int:
    return UNBOUNDED if value < unbounded_below else value


# -- active_tasks, pending_tasks -----------------------------------------------------------
def _task_lines(scenario: AutoscaleScenario) -> list[str]:
    metric = "$ActiveTasks" if scenario.name == "active_tasks" else "$PendingTasks"
    seconds = int(scenario.sample_lookback_interval.total_seconds())
    lines = [f"lookback = TimeInterval_Second * {seconds}",
             *_smoothed("tasks", metric, scenario, toward="max"),
             "needed = ceil(tasks / slotsPerNode)",
             *_preemption(scenario),
             "capDedicated = min(maxDedicated, $CurrentDedicatedNodes + stepDedicated)",
             "capLowPriority = min(maxLowPriority, $CurrentLowPriorityNodes + stepLowPriority)"]
    return lines + _split(scenario)


def _smoothed(name: str, metric: str, scenario: AutoscaleScenario, toward: str) -> list[str]:
    """``name`` = the metric over the look-back; biased to the last sample if asked.

    ``toward`` picks which way the bias leans: ``max`` follows a rising last sample at
    once and a falling one half way; ``min`` the other way round.
    """
    percent = _number(scenario.required_sample_percentage)
    if not scenario.bias_last_sample:
        return [f"{name} = avg({metric}.GetSample(lookback, {percent}))"]
    last = f"{name}Last"
    return [f"{name}Coverage = {metric}.GetSamplePercent(lookback)",
            f"{last} = max(0, val({metric}.GetSample(1), 0))",
            f"{name} = {name}Coverage < {percent} ? {last} : "
            f"{toward}({last}, avg({last}, avg({metric}.GetSample(lookback))))"]


def _preemption(scenario: AutoscaleScenario) -> list[str]:
    share = scenario.rebalance_preemption_percentage
    if share is None:
        return ["preempted = 0", "rebalance = 0"]
    return [*_smoothed("preempted", "$PreemptedNodeCount", scenario, toward="min"),
            "nodesNow = $CurrentDedicatedNodes + $CurrentLowPriorityNodes",
            f"rebalance = nodesNow > 0 && preempted * 100 / nodesNow >= {_number(share)}"]


def _split(scenario: AutoscaleScenario) -> list[str]:
    """Share ``needed`` nodes between the kinds; each kept within its floor and cap."""
    moved = "(rebalance ? preempted : 0)"
    if scenario.bias_node_type == "low_priority":
        return [f"lowPriority = max(minLowPriority, min(capLowPriority, needed - {moved}))",
                "dedicated = max(minDedicated, min(capDedicated, needed - lowPriority))",
                *_targets()]
    wanted = "needed" if scenario.bias_node_type == "dedicated" else (
        "(maxDedicated == 0 || maxLowPriority == 0) ? needed : ceil(needed / 2)")
    return [f"dedicatedWanted = {wanted}",
            f"dedicated = max(minDedicated, min(capDedicated, dedicatedWanted + {moved}))",
            "lowPriority = max(minLowPriority, min(capLowPriority, needed - dedicated))",
            *_targets()]


def _targets() -> list[str]:
    return ["$TargetDedicatedNodes = dedicated", "$TargetLowPriorityNodes = lowPriority"]


# -- workday, workday_with_offpeak_max_low_priority, weekday, weekend -----------------------
_PEAK = {
    "workday": "isWeekday && isWorkHours",
    "workday_with_offpeak_max_low_priority": "isWeekday && isWorkHours",
    "weekday": "isWeekday",
    "weekend": "!isWeekday",
}


def _calendar_lines(scenario: AutoscaleScenario) -> list[str]:
    days, hours = scenario.time_ranges.weekdays, scenario.time_ranges.work_hours
    lines = ["now = time()",
             f"isWeekday = now.weekday >= {days.start} && now.weekday <= {days.end}",
             f"isWorkHours = now.hour >= {hours.start} && now.hour <= {hours.end}",
             f"peak = {_PEAK[scenario.name]}"]
    dedicated, low = _peak_targets(scenario)
    return [*lines, f"$TargetDedicatedNodes = {dedicated}", f"$TargetLowPriorityNodes = {low}"]


def _peak_targets(scenario: AutoscaleScenario) -> tuple[str, str]:
    both = ("peak ? maxDedicated : minDedicated", "peak ? maxLowPriority : minLowPriority")
    if scenario.name == "workday_with_offpeak_max_low_priority":
        keep = "minDedicated" if scenario.bias_node_type == "low_priority" else both[0]
        return keep, "maxLowPriority"
    if scenario.bias_node_type == "dedicated":
        return both[0], "minLowPriority"
    if scenario.bias_node_type == "low_priority":
        return "minDedicated", both[1]
    return both


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)

