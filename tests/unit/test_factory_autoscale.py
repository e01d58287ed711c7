"""Autoscale formulas written from pool.yaml's scenarios: golden text, and what each one
decides when run by the local engine's own evaluator (pure: no engine is started).

A change in a formula fails with a diff; when the change is intended, regenerate and
review the files:

    SHIPYARD_REGOLD=1 .venv/bin/pytest tests/unit/test_factory_autoscale.py
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.pool import PoolSpecification
from shipyard.engine.services.autoscale.evaluator import Outcome, Snapshot, evaluate
from shipyard.engine.services.autoscale.samples import Metric
from shipyard.engine.services.autoscale.settings import check_formula
from shipyard.factory.autoscale import UNBOUNDED, formula
from shipyard.factory.pool import sizing

GOLDEN = Path(__file__).parent / "golden" / "autoscale"
HOW = "SHIPYARD_REGOLD=1 .venv/bin/pytest tests/unit/test_factory_autoscale.py"
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def spec(name: str, vm_count: dict[str, int] | None = None, slots: int = 1,
         **scenario: Any) -> PoolSpecification:
    scenario.setdefault("maximum_vm_count", {"dedicated": 4, "low_priority": 4})
    return PoolSpecification.model_validate({
        "id": "p", "vm_count": vm_count or {}, "task_slots_per_node": slots,
        "autoscale": {"scenario": {"name": name, **scenario}}})


def text(pool: PoolSpecification) -> str:
    found = formula(pool)
    assert found is not None
    return found


def history(name: str, values: list[float], now: datetime = TUESDAY_10) -> Metric:
    """A sample every 30 s for the last ``len(values)`` periods, the last one now."""
    count = len(values)
    return Metric(name, tuple((now - timedelta(seconds=30 * (count - 1 - i)), v)
                              for i, v in enumerate(values)), now)


def run(pool: PoolSpecification, now: datetime = TUESDAY_10, dedicated: float = 0,
        low: float = 0, **metrics: list[float]) -> Outcome:
    found = {f"${k}": history(f"${k}", v, now) for k, v in metrics.items()}
    counts = {"$CurrentDedicatedNodes": dedicated, "$CurrentLowPriorityNodes": low}
    return evaluate(text(pool), Snapshot(int(dedicated), int(low), counts, found, now))


GOLDEN_CASES: dict[str, PoolSpecification] = {
    "active_tasks": spec("active_tasks", {"dedicated": 1}, slots=2),
    "pending_tasks": spec("pending_tasks"),
    "active_tasks_dedicated_no_bias_last": spec(
        "active_tasks", bias_node_type="dedicated", bias_last_sample=False,
        required_sample_percentage=50, sample_lookback_interval="00:05:00"),
    "pending_tasks_low_priority_rebalance": spec(
        "pending_tasks", bias_node_type="low_priority", rebalance_preemption_percentage=25,
        maximum_vm_increment_per_evaluation={"dedicated": 2, "low_priority": 0},
        maximum_vm_count={"dedicated": -1, "low_priority": 8}, node_deallocation_option="requeue"),
    "workday": spec("workday", {"low_priority": 1}),
    "workday_with_offpeak_max_low_priority": spec("workday_with_offpeak_max_low_priority"),
    "weekday_dedicated": spec("weekday", bias_node_type="dedicated"),
    "weekend_hours": spec("weekend", time_ranges={"weekdays": {"start": 0, "end": 4}}),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_formula(case: str) -> None:
    generated = text(GOLDEN_CASES[case])
    path = GOLDEN / f"{case}.txt"
    if os.environ.get("SHIPYARD_REGOLD") == "1":
        path.write_text(generated)
        return
    assert path.exists(), f"golden file {path} is missing; create it with: {HOW}"
    assert generated == path.read_text(), (
        f"formula differs from golden file {path}; if intended, regenerate with: {HOW}")


SCENARIOS = ("active_tasks", "pending_tasks", "workday",
             "workday_with_offpeak_max_low_priority", "weekday", "weekend")


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("bias", ["auto", "dedicated", "low_priority"])
@pytest.mark.parametrize("last", [True, False])
@pytest.mark.parametrize("rebalance", [None, 50])
def test_every_generated_formula_parses_and_runs_in_the_engine(
        name: str, bias: str, last: bool, rebalance: int | None) -> None:
    pool = spec(name, {"dedicated": 1}, bias_node_type=bias, bias_last_sample=last,
                rebalance_preemption_percentage=rebalance)
    assert check_formula(text(pool)) == text(pool), "the service's create-time check"
    samples = [3.0] * 21
    outcome = run(pool, dedicated=1, ActiveTasks=samples, PendingTasks=samples,
                  PreemptedNodeCount=[0.0] * 21)
    assert 1 <= outcome.dedicated <= 4 and 0 <= outcome.low_priority <= 4
    assert outcome.deallocation == "taskcompletion"


def test_active_tasks_share_the_nodes_half_and_half() -> None:
    pool = spec("active_tasks", slots=2, maximum_vm_count={"dedicated": 8, "low_priority": 8})
    outcome = run(pool, ActiveTasks=[10.0] * 21)  # 10 tasks, 2 a node: 5 nodes
    assert (outcome.dedicated, outcome.low_priority) == (3, 2)


def test_active_tasks_keep_the_floor_and_the_ceiling() -> None:
    pool = spec("active_tasks", {"dedicated": 1, "low_priority": 1})
    assert (run(pool, ActiveTasks=[0.0] * 21).dedicated,
            run(pool, ActiveTasks=[0.0] * 21).low_priority) == (1, 1)
    many = run(pool, ActiveTasks=[100.0] * 21)
    assert (many.dedicated, many.low_priority) == (4, 4)


def test_all_on_one_kind_when_the_other_may_not_grow() -> None:
    pool = spec("pending_tasks", maximum_vm_count={"dedicated": 6, "low_priority": 0})
    assert run(pool, PendingTasks=[5.0] * 21).dedicated == 5


def test_growth_per_evaluation_is_capped() -> None:
    pool = spec("active_tasks", bias_node_type="dedicated",
                maximum_vm_increment_per_evaluation={"dedicated": 1})
    assert run(pool, dedicated=2, ActiveTasks=[9.0] * 21).dedicated == 3


def test_the_last_sample_leads_a_rise_and_halves_a_fall() -> None:
    pool = spec("active_tasks", bias_node_type="dedicated",
                maximum_vm_count={"dedicated": 100, "low_priority": 0})
    assert run(pool, ActiveTasks=[0.0] * 20 + [8.0]).dedicated == 8
    falling = run(pool, ActiveTasks=[8.0] * 20 + [0.0])  # mean ~7.6; half way to 0
    assert falling.dedicated == 4


def test_too_few_samples_use_the_last_one() -> None:
    pool = spec("active_tasks", bias_node_type="dedicated")
    assert run(pool, ActiveTasks=[2.0]).dedicated == 2  # one sample of 21: under 70%


def test_without_bias_too_few_samples_fail_as_on_the_service() -> None:
    from shipyard.engine.services.autoscale.lexer import FormulaError

    pool = spec("active_tasks", bias_last_sample=False)
    with pytest.raises(FormulaError, match="wanted 70%"):
        run(pool, ActiveTasks=[2.0])


def test_preempted_nodes_move_to_dedicated_past_the_share() -> None:
    pool = spec("pending_tasks", bias_node_type="low_priority",
                rebalance_preemption_percentage=25)
    calm = run(pool, low=4, PendingTasks=[4.0] * 21, PreemptedNodeCount=[0.0] * 21)
    assert (calm.dedicated, calm.low_priority) == (0, 4)
    stormy = run(pool, low=4, PendingTasks=[4.0] * 21, PreemptedNodeCount=[2.0] * 21)
    assert (stormy.dedicated, stormy.low_priority) == (2, 2)


@pytest.mark.parametrize(("name", "now", "hour", "expected"), [
    ("workday", TUESDAY_10, 10, (4, 4)),
    ("workday", TUESDAY_10, 17, (4, 4)),  # work_hours end is inclusive: until 17:59
    ("workday", TUESDAY_10, 18, (0, 0)),
    ("workday", SATURDAY_10, 10, (0, 0)),
    ("weekday", TUESDAY_10, 22, (4, 4)),
    ("weekend", TUESDAY_10, 10, (0, 0)),
    ("weekend", SATURDAY_10, 10, (4, 4)),
    ("workday_with_offpeak_max_low_priority", SATURDAY_10, 10, (0, 4)),
    ("workday_with_offpeak_max_low_priority", TUESDAY_10, 10, (4, 4)),
])
def test_day_of_week_scenarios(name: str, now: datetime, hour: int,
                               expected: tuple[int, int]) -> None:
    outcome = run(spec(name), now.replace(hour=hour))
    assert (outcome.dedicated, outcome.low_priority) == expected


def test_no_limit_is_written_as_batch_shipyards_figure() -> None:
    pool = spec("weekday", maximum_vm_count={"dedicated": -1, "low_priority": 0})
    assert f"maxDedicated = {UNBOUNDED};" in text(pool)


def test_a_users_formula_is_used_as_written() -> None:
    mine = "$TargetDedicatedNodes = 2; // mine\n"
    pool = PoolSpecification.model_validate({
        "id": "p", "autoscale": {"formula": mine, "evaluation_interval": "00:07:00"}})
    assert sizing(pool) == {"enable_auto_scale": True, "auto_scale_formula": mine,
                            "auto_scale_evaluation_interval": timedelta(minutes=7)}


def test_a_pool_without_autoscale_is_sized_by_vm_count() -> None:
    pool = PoolSpecification.model_validate({"id": "p", "vm_count": 3,
                                             "resize_timeout": "00:20:00"})
    assert formula(pool) is None
    assert sizing(pool) == {"resize_timeout": timedelta(minutes=20),
                            "target_dedicated_nodes": 3, "target_low_priority_nodes": 0}
