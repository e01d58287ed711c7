"""``pool_specification.autoscale``: a formula of one's own, or a named scenario.

Batch Shipyard's two ways: ``formula`` is handed to the service as written; ``scenario``
names a formula shipyard writes (``factory/autoscale.py``) from the scenario's settings,
with ``vm_count`` as the floor and ``maximum_vm_count`` as the ceiling. When both are set,
``formula`` wins, as in Batch Shipyard. Defaults are Batch Shipyard's: evaluation every
15 minutes, a 10-minute look-back, 70% of samples required, ``taskcompletion``.

    autoscale:
      evaluation_interval: 00:05:00
      scenario:
        name: active_tasks
        maximum_vm_count: {dedicated: 16, low_priority: 8}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shipyard.config.base import Model, TimeSpan, problem

ScenarioName = Literal["active_tasks", "pending_tasks", "workday",
                       "workday_with_offpeak_max_low_priority", "weekday", "weekend"]
#: Scenarios driven by task counts; the others by the day of the week and the hour.
TASK_SCENARIOS = ("active_tasks", "pending_tasks")
DeallocationOption = Literal["requeue", "terminate", "taskcompletion", "retaineddata"]
BiasNodeType = Literal["auto", "dedicated", "low_priority"]
#: The service evaluates at most every 5 minutes and at least every 168 hours.
MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=168)


def _span(value: timedelta) -> str:
    """A time span written back as pool.yaml writes it (``d.HH:mm:ss``)."""
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return (f"{days}." if days else "") + f"{hours:02}:{minutes:02}:{seconds:02}"


class NodeLimit(Model):
    """A limit per node type; a negative value means no limit (``maximum_vm_count``) and
    so does a value of 0 or less (``maximum_vm_increment_per_evaluation``)."""

    dedicated: int = 0
    low_priority: int = 0


class DayRange(Model):
    """Inclusive days of the week, as the formula's ``time().weekday``: 0 is Sunday."""

    start: int = Field(default=1, ge=0, le=6)
    end: int = Field(default=5, ge=0, le=6)


class HourRange(Model):
    """Inclusive hours of the day (UTC), 0 to 23: ``end: 17`` runs until 17:59."""

    start: int = Field(default=8, ge=0, le=23)
    end: int = Field(default=17, ge=0, le=23)


class TimeRanges(Model):
    """What the day-of-week scenarios count as weekdays and as work hours."""

    weekdays: DayRange = Field(default_factory=DayRange)
    work_hours: HourRange = Field(default_factory=HourRange)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRanges:
        for name, span in (("weekdays", self.weekdays), ("work_hours", self.work_hours)):
            if span.start > span.end:
                raise problem(f"start ({span.start}) must not be after end ({span.end})",
                              name, "start")
        return self


class AutoscaleScenario(Model):
    """``autoscale.scenario``: a named scenario and the settings that tune it."""

    name: ScenarioName
    maximum_vm_count: NodeLimit
    maximum_vm_increment_per_evaluation: NodeLimit = Field(default_factory=NodeLimit)
    node_deallocation_option: DeallocationOption = "taskcompletion"
    sample_lookback_interval: TimeSpan = timedelta(minutes=10)
    required_sample_percentage: float = Field(default=70.0, ge=0, le=100)
    rebalance_preemption_percentage: float | None = Field(default=None, ge=0, le=100)
    bias_last_sample: bool = True
    bias_node_type: BiasNodeType = "auto"
    time_ranges: TimeRanges = Field(default_factory=TimeRanges)

    @field_validator("name", "node_deallocation_option", "bias_node_type", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("bias_node_type", mode="before")
    @classmethod
    def _null_is_auto(cls, value: object) -> object:
        return "auto" if value is None else value

    @field_validator("sample_lookback_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise problem("must be longer than 00:00:00")
        return value


class Autoscale(Model):
    """``pool_specification.autoscale``."""

    evaluation_interval: TimeSpan = timedelta(minutes=15)
    formula: str | None = None
    scenario: AutoscaleScenario | None = None

    @field_validator("evaluation_interval")
    @classmethod
    def _service_range(cls, value: timedelta) -> timedelta:
        if not MIN_INTERVAL <= value <= MAX_INTERVAL:
            raise problem(f"must be from 00:05:00 to 7.00:00:00, as Azure Batch evaluates "
                          f"formulas (got {_span(value)})")
        return value

    @field_validator("formula")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise problem("must not be empty: write a formula, or leave it out and set "
                          "scenario")
        return value

    @model_validator(mode="after")
    def _formula_or_scenario(self) -> Autoscale:
        if self.formula is None and self.scenario is None:
            raise problem("set formula (your own autoscale formula) or scenario (a named one "
                          "such as active_tasks)", "scenario")
        return self
