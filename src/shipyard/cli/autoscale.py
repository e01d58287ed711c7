"""``shipyard pool autoscale``: enable, disable, evaluate pool.yaml's autoscale; the last run.

As Batch Shipyard has them: ``enable`` applies ``pool_specification.autoscale`` (its
formula, or the scenario's) to the existing pool, ``evaluate`` asks the service what that
formula would decide now without applying it, ``lastexec`` shows the pool's last
evaluation, ``disable`` hands sizing back to ``pool resize`` (the nodes stay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shipyard.cli import render
from shipyard.cli.app import console, err_console, escape, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ConfigError, ShipyardError

if TYPE_CHECKING:
    from azure.batch import models

#: How long ``pool add`` waits for a new autoscale pool's first evaluation.
FIRST_RUN_TIMEOUT = 300.0
ENABLE_HINT = "enable it with 'shipyard pool autoscale enable'"


@click.group("autoscale")
def autoscale() -> None:
    """Autoscale actions."""


@autoscale.command("disable")
@pass_app
@reported
def disable(app: App) -> None:
    """Disable autoscale on a pool."""
    pool_id = app.config.pool.id
    app.client.disable_pool_auto_scale(pool_id)
    found = app.client.get_pool(pool_id)
    app.say(f"autoscale disabled for pool {pool_id}; it keeps "
            f"{found.target_dedicated_nodes} dedicated and {found.target_low_priority_nodes} "
            "low-priority nodes ('shipyard pool resize' sizes it now)")


@autoscale.command("enable")
@pass_app
@reported
def enable(app: App) -> None:
    """Enable autoscale on a pool."""
    from azure.batch import models

    spec = app.config.pool
    formula = _formula(app)
    assert spec.autoscale is not None
    app.client.enable_pool_auto_scale(spec.id, models.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula=formula,
        auto_scale_evaluation_interval=spec.autoscale.evaluation_interval))
    app.say(f"autoscale enabled for pool {spec.id}, evaluated every "
            f"{spec.autoscale.evaluation_interval}")
    from shipyard.batch import waiting

    # The service evaluates at enable time, but its answer may come after the reply.
    found = waiting.poll(f"the autoscale evaluation of pool {spec.id}",
                         lambda: _evaluated(app, spec.id), FIRST_RUN_TIMEOUT)
    show_run(app, found.auto_scale_run)


@autoscale.command("evaluate")
@pass_app
@reported
def evaluate(app: App) -> None:
    """Evaluate autoscale formula."""
    from azure.batch import models

    pool_id = app.config.pool.id
    formula = _formula(app)
    if not app.client.get_pool(pool_id).enable_auto_scale:
        raise ShipyardError(f"pool {pool_id} does not have autoscale enabled; the service "
                            "evaluates formulas on autoscale pools only", hint=ENABLE_HINT)
    run = app.client.evaluate_pool_auto_scale(
        pool_id, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula))
    show_run(app, run)


@autoscale.command("lastexec")
@pass_app
@reported
def lastexec(app: App) -> None:
    """Get the result of the last execution of the autoscale formula."""
    pool_id = app.config.pool.id
    found = app.client.get_pool(pool_id)
    if not found.enable_auto_scale:
        raise ShipyardError(f"pool {pool_id} does not have autoscale enabled, so it has no "
                            "last autoscale run", hint=ENABLE_HINT)
    show_run(app, found.auto_scale_run)


def _formula(app: App) -> str:
    from shipyard.factory.autoscale import formula

    found = formula(app.config.pool)
    if found is None:
        raise ConfigError("pool.yaml: pool_specification.autoscale: not set, so there is no "
                          "formula", hint="add autoscale with a formula or a scenario to "
                                          "pool.yaml")
    return found


def show_run(app: App, run: models.AutoScaleRun | None) -> None:
    """An ``AutoScaleRun``: when, the variables it set, or its error (then exit 1)."""
    if run is None:
        raise ShipyardError("the service has not evaluated the formula yet",
                            hint="try again in a few seconds")
    if app.raw:
        app.emit_raw(run.as_dict())
    elif run.error is None:
        rows = [item.split("=", 1) for item in (run.results or "").split(";") if item]
        console.print(render.table(f"autoscale run at {run.timestamp}",
                                   ("variable", "value"), (tuple(row) for row in rows)))
    if run.error is not None:
        details = "; ".join(f"{v.name}: {v.value}" for v in run.error.error_values or [])
        raise ShipyardError(f"autoscale evaluation at {run.timestamp} failed: "
                            f"{run.error.code}: {run.error.message}"
                            + (f" ({details})" if details else ""),
                            hint="fix pool_specification.autoscale in pool.yaml and run "
                                 "'shipyard pool autoscale enable'")


def first_run(app: App, pool_id: str) -> int:
    """Wait for a new autoscale pool's first evaluation; the node count it asked for.

    The formula decides the size, which may be 0 nodes: there is nothing to wait for then.
    A failed first evaluation is a warning: the pool exists and evaluates again.
    """
    from shipyard.batch import waiting

    found = waiting.poll(f"the first autoscale evaluation of pool {pool_id}",
                         lambda: _evaluated(app, pool_id), FIRST_RUN_TIMEOUT)
    run = found.auto_scale_run
    if run is not None and run.error is not None:
        err_console.print(f"[yellow]warning:[/yellow] the first autoscale evaluation of pool "
                          f"{pool_id} failed: {escape(run.error.message or '')}\n[dim]see "
                          "'shipyard pool autoscale lastexec'[/dim]")
        return 0
    count = (found.target_dedicated_nodes or 0) + (found.target_low_priority_nodes or 0)
    app.say(f"pool {pool_id}: autoscale asks for {found.target_dedicated_nodes} dedicated, "
            f"{found.target_low_priority_nodes} low-priority nodes")
    return count


def _evaluated(app: App, pool_id: str) -> models.BatchPool | None:
    found = app.client.get_pool(pool_id)
    return found if found.auto_scale_run is not None else None
