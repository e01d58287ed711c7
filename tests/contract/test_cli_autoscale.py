"""Autoscale through the shipyard command against a real engine: ``pool add`` of an
autoscale pool (a formula, a scenario), ``pool autoscale evaluate|lastexec|disable|enable``,
``pool resize`` refused; and an autoscale shrink that takes a busy node the way the
formula's ``$NodeDeallocationOption`` says.

No test waits for an evaluation interval: pool create and enable evaluate at once.
"""

from __future__ import annotations

from azure.batch import BatchClient, models

from tests.contract.clihelpers import Shell, sh
from tests.contract.jobhelpers import add_task, job, small_pool, uid, wait_task
from tests.realengine import delete_pool, wait_for

__all__ = ["sh"]  # the fixture, for pytest


def autoscale_pool(pool_id: str, autoscale: str) -> str:
    return (f"pool_specification:\n  id: {pool_id}\n  vm_count:\n    dedicated: 0\n"
            f"  autoscale:\n    evaluation_interval: 00:05:00\n{autoscale}")


def formula(text: str) -> str:
    return f"    formula: '{text}'\n"


def test_formula_pool_evaluate_lastexec_resize_disable_enable(
        sh: Shell, client: BatchClient) -> None:
    pool_id = uid("cas")
    sh.write("pool.yaml", autoscale_pool(pool_id, formula("$TargetDedicatedNodes = 1;")))
    try:
        added = sh("pool", "add")
        assert "autoscale asks for 1 dedicated, 0 low-priority nodes" in added.output
        assert f"pool {pool_id}: 1 nodes ready" in added.output
        pool = client.get_pool(pool_id)
        assert pool.enable_auto_scale and pool.auto_scale_formula == "$TargetDedicatedNodes = 1;"
        resized = sh("pool", "resize", ok=False)
        assert resized.exit_code == 1
        assert f"pool {pool_id} has autoscale enabled" in resized.output
        assert "shipyard pool autoscale disable" in resized.output
        assert client.get_pool(pool_id).etag == pool.etag, "a refused resize changes nothing"
        evaluated = sh("pool", "autoscale", "evaluate").output
        assert "$TargetDedicatedNodes" in evaluated and "$NodeDeallocationOption" in evaluated
        last = sh.raw("pool", "autoscale", "lastexec")
        assert last["results"].startswith("$TargetDedicatedNodes=1;")  # type: ignore[index]
        disabled = sh("pool", "autoscale", "disable").output
        assert f"autoscale disabled for pool {pool_id}" in disabled
        assert not client.get_pool(pool_id).enable_auto_scale
        none = sh("pool", "autoscale", "lastexec", ok=False)
        assert none.exit_code == 1 and "does not have autoscale enabled" in none.output
        sh.write("pool.yaml", autoscale_pool(pool_id, formula(
            "$TargetDedicatedNodes = 0; $NodeDeallocationOption = terminate;")))
        enabled = sh("pool", "autoscale", "enable").output
        assert f"autoscale enabled for pool {pool_id}" in enabled
        assert "terminate" in enabled, "enable shows the run it caused"
        assert client.get_pool(pool_id).target_dedicated_nodes == 0
        wait_for("the pool to shrink to 0 nodes", lambda: not list(client.list_nodes(pool_id)))
    finally:
        delete_pool(client, pool_id)


def test_scenario_pool_starts_empty_without_waiting_and_reports_a_failing_formula(
        sh: Shell, client: BatchClient) -> None:
    pool_id = uid("cass")
    scenario = ("    scenario:\n      name: pending_tasks\n      maximum_vm_count:\n"
                "        dedicated: 2\n")
    sh.write("pool.yaml", autoscale_pool(pool_id, scenario))
    try:
        added = sh("pool", "add").output
        assert "autoscale asks for 0 dedicated, 0 low-priority nodes" in added
        assert "nodes ready" not in added, "nothing to wait for"
        run = sh.raw("pool", "autoscale", "evaluate")
        assert "tasks=0" in run["results"]  # type: ignore[index]
        sh.write("pool.yaml", autoscale_pool(pool_id, formula(
            "$TargetDedicatedNodes = nosuch(1);")))
        failed = sh("pool", "autoscale", "evaluate", ok=False)
        assert failed.exit_code == 1
        assert "FormulaEvaluationError" in failed.output and "Unknown function" in failed.output
        no_autoscale = f"pool_specification:\n  id: {pool_id}\n"
        sh.write("pool.yaml", no_autoscale)
        refused = sh("pool", "autoscale", "enable", ok=False)
        assert "pool.yaml: pool_specification.autoscale: not set" in refused.output
    finally:
        delete_pool(client, pool_id)


def _busy_node_taken_out(client: BatchClient, option: str) -> models.BatchTask:
    """A task runs on the pool's only node; autoscale asks for 0 nodes with ``option``."""
    with small_pool(client, 1) as pool_id, job(client, pool_id) as job_id:
        add_task(client, job_id, "long", "/bin/sh -c 'sleep 300'")
        wait_task(client, job_id, "long", ("running",))
        client.enable_pool_auto_scale(pool_id, models.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=f"$TargetDedicatedNodes = 0; $NodeDeallocationOption = {option};"))
        wait_for("the busy node to leave", lambda: not list(client.list_nodes(pool_id)), 60)
        return client.get_task(job_id, "long")


def test_autoscale_shrink_terminates_the_tasks_of_a_busy_node(client: BatchClient) -> None:
    task = _busy_node_taken_out(client, "terminate")
    assert task.state == "completed"
    assert task.execution_info.failure_info.code == "TaskEnded"


def test_autoscale_shrink_requeues_the_tasks_of_a_busy_node(client: BatchClient) -> None:
    task = _busy_node_taken_out(client, "requeue")
    assert task.state == "active", "back in the queue, no node left to run it"
    assert task.execution_info.requeue_count == 1
