"""``pool_specification.autoscale`` in pool.yaml: what loads, and one line per mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.config import load_config
from tests.unit.test_config_errors import FILES, POOL, load_with

AS = "pool.yaml: pool_specification.autoscale"
SCENARIO = "  autoscale:\n    scenario:\n      name: active_tasks\n"
MAXIMUM = "      maximum_vm_count:\n        dedicated: 4\n"


def pool_with(autoscale: str) -> str:
    return POOL.replace("vm_count: 2", "vm_count: 1") + autoscale


@pytest.mark.parametrize(("autoscale", "message"), [
    ("  autoscale:\n    evaluation_interval: 00:10:00\n",
     f"{AS}.scenario: set formula (your own autoscale formula) or scenario (a named one such "
     "as active_tasks)"),
    ("  autoscale:\n    formula: '  '\n",
     f"{AS}.formula: must not be empty: write a formula, or leave it out and set scenario"),
    ("  autoscale:\n    formula: $TargetDedicatedNodes=1\n    evaluation_interval: 00:01:00\n",
     f"{AS}.evaluation_interval: must be from 00:05:00 to 7.00:00:00, as Azure Batch "
     "evaluates formulas (got 00:01:00)"),
    ("  autoscale:\n    formula: $TargetDedicatedNodes=1\n    evaluation_interval: 5m\n",
     f"{AS}.evaluation_interval: must be a time span d.HH:mm:ss such as 1.12:00:00 "
     "(got '5m')"),
    (SCENARIO, f"{AS}.scenario.maximum_vm_count: required key is missing"),
    (SCENARIO.replace("active_tasks", "busy_tasks") + MAXIMUM,
     f"{AS}.scenario.name: must be one of active_tasks, pending_tasks, workday, "
     "workday_with_offpeak_max_low_priority, weekday, weekend (got 'busy_tasks')"),
    (SCENARIO + MAXIMUM + "      node_deallocation_option: drain\n",
     f"{AS}.scenario.node_deallocation_option: must be one of requeue, terminate, "
     "taskcompletion, retaineddata (got 'drain')"),
    (SCENARIO + MAXIMUM + "      required_sample_percentage: 150\n",
     f"{AS}.scenario.required_sample_percentage: must be at most 100 (got 150)"),
    (SCENARIO + MAXIMUM.replace("4", "0"),
     f"{AS}.scenario.maximum_vm_count.dedicated: 0 is below vm_count.dedicated (1), the "
     "scenario's minimum: raise it, or write a negative value for no limit"),
    (SCENARIO + MAXIMUM + "      time_ranges:\n        work_hours:\n          start: 18\n"
                          "          end: 9\n",
     f"{AS}.scenario.time_ranges.work_hours.start: start (18) must not be after end (9)"),
    (SCENARIO + MAXIMUM + "      time_ranges:\n        weekdays:\n          end: 7\n",
     f"{AS}.scenario.time_ranges.weekdays.end: must be at most 6 (got 7)"),
    (SCENARIO + MAXIMUM + "      bias_node_type: spot\n",
     f"{AS}.scenario.bias_node_type: must be one of auto, dedicated, low_priority "
     "(got 'spot')"),
])
def test_one_line_per_mistake(tmp_path: Path, autoscale: str, message: str) -> None:
    assert load_with(tmp_path, "pool.yaml", pool_with(autoscale)).message == message


def test_a_scenario_loads_with_batch_shipyards_defaults(tmp_path: Path) -> None:
    for filename, content in {**FILES, "pool.yaml": pool_with(SCENARIO + MAXIMUM)}.items():
        (tmp_path / filename).write_text(content)
    spec = load_config(tmp_path).pool
    assert spec.autoscale is not None and spec.autoscale.scenario is not None
    scenario = spec.autoscale.scenario
    assert spec.autoscale.evaluation_interval == timedelta(minutes=15)
    assert (scenario.node_deallocation_option, scenario.bias_node_type) == (
        "taskcompletion", "auto")
    assert scenario.sample_lookback_interval == timedelta(minutes=10)
    assert (scenario.required_sample_percentage, scenario.bias_last_sample) == (70, True)
    assert (scenario.time_ranges.weekdays.start, scenario.time_ranges.weekdays.end) == (1, 5)
    assert scenario.maximum_vm_count.low_priority == 0


def test_a_formula_wins_over_a_scenario_and_skips_its_checks(tmp_path: Path) -> None:
    """Batch Shipyard uses ``formula`` when both are set, so the scenario's floor check
    (maximum 0 below vm_count 1) does not apply."""
    text = pool_with(SCENARIO + MAXIMUM.replace("4", "0")
                     + "    formula: $TargetDedicatedNodes=2\n")
    for filename, content in {**FILES, "pool.yaml": text}.items():
        (tmp_path / filename).write_text(content)
    spec = load_config(tmp_path).pool
    assert spec.autoscale is not None and spec.autoscale.formula == "$TargetDedicatedNodes=2"
