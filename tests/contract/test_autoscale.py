"""Autoscale through the SDK: enable, evaluate, disable, create with a formula, and a
formula on ``$PendingTasks`` growing an empty pool to real nodes when tasks queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.batch import BatchClient, models

from tests.contract.jobhelpers import add_task, details, error_of, job, uid, wait_task
from tests.realengine import delete_pool, pool_exists, pool_options, wait_for, wait_nodes

ZERO = "$TargetDedicatedNodes=0"


@pytest.fixture
def empty_pool(client: BatchClient) -> Iterator[str]:
    pool_id = uid("as")
    client.create_pool(pool_options(pool_id, 0, command=None))
    # Autoscale cannot be enabled while a resize (here: the create's) is in progress.
    wait_for("a steady pool", lambda: client.get_pool(pool_id).allocation_state == "steady")
    yield pool_id
    delete_pool(client, pool_id)


def enable(client: BatchClient, pool_id: str, formula: str | None,
           interval: timedelta | None = None) -> float:
    """Enable autoscale; the monotonic time of the call (one per 30 s is allowed)."""
    client.enable_pool_auto_scale(pool_id, models.BatchPoolEnableAutoScaleOptions(
        auto_scale_formula=formula, auto_scale_evaluation_interval=interval))
    return time.monotonic()


def wait_enable_spacing(since: float) -> None:
    """The service takes one enable per pool every 30 seconds."""
    wait_for("30 s since the last enable", lambda: time.monotonic() - since >= 30.5, 40)


def evaluate(client: BatchClient, pool_id: str, formula: str) -> models.AutoScaleRun:
    return client.evaluate_pool_auto_scale(pool_id, models.BatchPoolEvaluateAutoScaleOptions(
        auto_scale_formula=formula))


def test_enable_pool_auto_scale(client: BatchClient, empty_pool: str) -> None:
    before = client.get_pool(empty_pool)
    enable(client, empty_pool, ZERO, timedelta(minutes=6))
    pool = client.get_pool(empty_pool)
    assert pool.enable_auto_scale is True and pool.auto_scale_formula == ZERO
    assert pool.auto_scale_evaluation_interval == timedelta(minutes=6)
    assert pool.etag != before.etag
    assert pool.auto_scale_run is not None and pool.auto_scale_run.error is None
    assert pool.auto_scale_run.results == (
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue")
    soon = error_of(lambda: client.enable_pool_auto_scale(
        empty_pool, models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$x=1"),
        retry_total=0))
    assert soon.status_code == 503 and soon.error.code == "TooManyEnableAutoScaleRequests"
    assert client.get_pool(empty_pool).auto_scale_formula == ZERO, "a refusal changes nothing"


def test_enable_refuses_bad_settings(client: BatchClient, empty_pool: str) -> None:
    short = error_of(lambda: enable(client, empty_pool, ZERO, timedelta(minutes=1)))
    assert short.status_code == 400 and short.error.code == "InvalidPropertyValue"
    assert details(short)["PropertyName"] == "autoScaleEvaluationInterval"
    broken = error_of(lambda: enable(client, empty_pool, "$TargetDedicatedNodes = (1 +"))
    assert broken.status_code == 400
    assert broken.error.code == "AutoScalingFormulaSyntaxError"
    assert details(broken)["Message"].startswith("Line 1, Col 29: ")
    assert client.get_pool(empty_pool).enable_auto_scale is False, "refusals change nothing"


def test_evaluate_pool_auto_scale(client: BatchClient, empty_pool: str) -> None:
    off = error_of(lambda: evaluate(client, empty_pool, "$TargetDedicatedNodes=3"))
    assert off.status_code == 409, "the pool must have autoscale enabled"
    enable(client, empty_pool, ZERO)
    run = evaluate(client, empty_pool, "$TargetDedicatedNodes=3")
    assert run.error is None and run.timestamp is not None
    assert run.results == (
        "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue")
    assert client.get_pool(empty_pool).target_dedicated_nodes == 0, "evaluate applies nothing"
    mine = evaluate(client, empty_pool, "b = 2; a = b * 1.5; $TargetDedicatedNodes = a - 3;"
                    "$NodeDeallocationOption = taskcompletion")
    assert mine.results == ("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;"
                            "$NodeDeallocationOption=taskcompletion;a=3;b=2")


def test_evaluate_reports_formula_errors(client: BatchClient, empty_pool: str) -> None:
    enable(client, empty_pool, ZERO)
    short = evaluate(client, empty_pool,
                     "$x = $PendingTasks.GetSample(TimeInterval_Minute * 10, 95);")
    assert short.results is None and short.error.code == "InsufficientSampleData"
    assert short.error.message == "Autoscale evaluation failed due to insufficient sample data"
    (value,) = short.error.error_values
    assert value.name == "Message" and value.value.startswith("Line 1, Col 20: ")
    assert "$PendingTasks wanted 95%" in value.value
    wrong = evaluate(client, empty_pool, "$TargetDedicatedNodes = nosuch(1);")
    assert wrong.error.error_values[0].value == "Line 1, Col 25: Unknown function: nosuch"
    syntax = error_of(lambda: evaluate(client, empty_pool, "$TargetDedicatedNodes = ;"))
    assert syntax.status_code == 400 and syntax.error.code == "AutoScalingFormulaSyntaxError"


def test_disable_pool_auto_scale(client: BatchClient, empty_pool: str) -> None:
    enable(client, empty_pool, ZERO)
    enabled = client.get_pool(empty_pool)
    sized = error_of(lambda: client.begin_resize_pool(
        empty_pool, models.BatchPoolResizeOptions(target_dedicated_nodes=1)))
    assert sized.status_code == 409, "an autoscale pool is sized by its formula"
    client.disable_pool_auto_scale(empty_pool)
    pool = client.get_pool(empty_pool)
    assert pool.enable_auto_scale is False and pool.etag != enabled.etag
    assert pool.auto_scale_formula is None and pool.auto_scale_evaluation_interval is None
    assert pool.target_dedicated_nodes == 0 and pool.allocation_state == "steady"


def test_create_pool_with_auto_scale(client: BatchClient) -> None:
    refused = uid("asbad")
    both = error_of(lambda: client.create_pool(pool_options(
        refused, 1, command=None, enableAutoScale=True, autoScaleFormula=ZERO)))
    assert both.status_code == 400 and details(both)["PropertyName"] == "targetDedicatedNodes"
    assert not pool_exists(client, refused)
    pool_id = uid("ascr")
    body = pool_options(pool_id, 0, command=None).as_dict()
    body.pop("targetDedicatedNodes")
    body.update(enableAutoScale=True, autoScaleFormula="$TargetDedicatedNodes = 1;")
    client.create_pool(models.BatchPoolCreateOptions(body))
    try:
        pool = client.get_pool(pool_id)
        assert pool.enable_auto_scale and pool.auto_scale_evaluation_interval == timedelta(
            minutes=15), "the default interval is 15 minutes"
        wait_nodes(client, pool_id, 1)
        assert client.get_pool(pool_id).auto_scale_run.results.startswith(
            "$TargetDedicatedNodes=1;")
    finally:
        delete_pool(client, pool_id)


def test_pending_tasks_grow_an_empty_pool_and_enabling_again_changes_what_is_given(
        client: BatchClient, empty_pool: str) -> None:
    """The pool grows for pending tasks; after the service's 30 s between enables (the one
    wait of this file), a second enable keeps the formula left out, takes the new interval
    and evaluates at once: nothing is pending, so the pool shrinks for real."""
    formula = ("$tasks = max(0, $PendingTasks.GetSample(1));"
               "$TargetDedicatedNodes = min(2, $tasks);"
               "$NodeDeallocationOption = taskcompletion;")
    with job(client, empty_pool) as job_id:
        for index in range(3):
            add_task(client, job_id, f"t{index}", "/bin/sh -c 'sleep 2; hostname'")
        assert client.get_pool(empty_pool).current_dedicated_nodes == 0
        enabled = enable(client, empty_pool, formula)
        pool = client.get_pool(empty_pool)
        assert pool.target_dedicated_nodes == 2, pool.auto_scale_run
        assert pool.auto_scale_run.results.startswith("$TargetDedicatedNodes=2;")
        nodes = wait_nodes(client, empty_pool, 2, ("idle", "running"), timeout=240)
        ran_on = {wait_task(client, job_id, f"t{i}", timeout=180).node_info.node_id
                  for i in range(3)}
        assert ran_on <= {n.id for n in nodes} and ran_on
        wait_for("2 steady nodes", lambda: client.get_pool(
            empty_pool).current_dedicated_nodes == 2)
        wait_enable_spacing(enabled)
        enable(client, empty_pool, None, timedelta(minutes=8))
        pool = client.get_pool(empty_pool)
        assert pool.auto_scale_formula == formula, "the formula left out stays"
        assert pool.auto_scale_evaluation_interval == timedelta(minutes=8)
        assert pool.target_dedicated_nodes == 0
        neither = error_of(lambda: client.enable_pool_auto_scale(
            empty_pool, models.BatchPoolEnableAutoScaleOptions()))
        assert neither.status_code == 400 and neither.error.code == "MissingRequiredProperty"
        wait_for("the pool to shrink to 0 nodes",
                 lambda: not list(client.list_nodes(empty_pool)), 120)
