"""The shipyard command against a real engine: Batch Shipyard's commands typed as its
documentation shows them (options after the subcommand), doing what it says.

Jobs run on the session's shared pool; pool commands make their own one-node pool. The
CLI runs in-process with ``SHIPYARD_DATA_DIR`` set to the session engine's data dir, so
``account_service_url: local`` finds that engine.
"""

from __future__ import annotations

from pathlib import Path

from azure.batch import BatchClient
from click.testing import CliRunner

from shipyard.cli.main import cli
from tests.contract.clihelpers import Shell, jobs_yaml, pool_yaml, sh
from tests.realengine import delete_pool, pool_exists

__all__ = ["sh"]  # the fixture, for pytest
JOB = "cli-job"
TASK = "task-00000"


def test_pool_lifecycle_with_options_after_and_before(sh: Shell, client: BatchClient) -> None:
    sh.write("pool.yaml", pool_yaml("cli-pool", 1))
    try:
        added = sh("pool", "add", "-y")
        assert "pool cli-pool: 1 nodes ready" in added.output
        after = sh("pool", "exists").output
        before = CliRunner().invoke(cli, ["--configdir", str(sh.configdir), "pool", "exists"])
        assert after == before.output == "pool cli-pool exists\n"
        assert "cli-pool" in [p["id"] for p in sh.raw("pool", "list")]  # type: ignore[index]
        stats = sh.raw("pool", "stats")
        assert stats["nodes"] == 1 and stats["nodes_idle"] == 1  # type: ignore[index]
        assert stats["task_slots"] == 1  # type: ignore[index]
        assert sh.raw("pool", "nodes", "count")["total"] == 1  # type: ignore[index]
        listed = sh.raw("pool", "nodes", "list")
        assert [n["state"] for n in listed] == ["idle"]  # type: ignore[union-attr,index]
        assert sh.raw("pool", "nodes", "list", "--unusable") == []
        refused = sh("pool", "add", ok=False)
        assert refused.exit_code == 1 and "PoolExists" in refused.output
        sh.write("pool.yaml", pool_yaml("cli-pool", 2))
        resized = sh("pool", "resize", "--wait")
        assert "pool cli-pool: 2 nodes ready" in resized.output
        assert sh.raw("pool", "nodes", "count")["total"] == 2  # type: ignore[index]
        sh.write("pool.yaml", pool_yaml("cli-pool", 0))
        recreated = sh("pool", "add", "--recreate", "--no-wait")
        assert "pool cli-pool deleted" in recreated.output
        assert "pool cli-pool created" in recreated.output
        assert client.get_pool("cli-pool").target_dedicated_nodes == 0
        sh("pool", "del", "--wait", "-y")
        assert not pool_exists(client, "cli-pool")
        assert sh("pool", "exists").output == "pool cli-pool does not exist\n"
    finally:
        delete_pool(client, "cli-pool")


def test_jobs_tasks_and_files_on_the_shared_pool(sh: Shell, shared_pool: str) -> None:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    sh.write("jobs.yaml", jobs_yaml(JOB, "sh -c 'echo hello-from-task; echo oops >&2'"))
    try:
        added = sh("jobs", "add", "--tail", "stdout.txt")
        assert "hello-from-task" in added.output
        assert JOB in [j["id"] for j in sh.raw("jobs", "list")]  # type: ignore[index]
        counts = sh.raw("jobs", "tasks", "count")
        assert counts[JOB]["succeeded"] == 1  # type: ignore[index]
        stats = sh.raw("jobs", "stats", "--jobid", JOB)
        assert (stats["tasks"], stats["tasks_success"]) == (1, 1)  # type: ignore[index]
        assert stats["wall_time_max_s"] > 0  # type: ignore[index]
        task = sh.raw("jobs", "tasks", "list")[JOB][0]  # type: ignore[index]
        assert task["state"] == "completed"
        files = sh.raw("data", "files", "list", "--jobid", JOB)
        assert {"stdout.txt", "stderr.txt"} <= {n for n, _ in files[f"{JOB}/{TASK}"]}  # type: ignore[index]
        _retrieve_files(sh, task["nodeInfo"]["nodeId"], shared_pool)
        sh("jobs", "tasks", "del", "--jobid", JOB, "--taskid", TASK, "--wait", "-y")
        assert sh.raw("jobs", "tasks", "list", "--jobid", JOB) == {JOB: []}
        sh("jobs", "term", "--jobid", JOB, "--wait", "-y")
        states = {j["id"]: j["state"] for j in sh.raw("jobs", "list")}  # type: ignore[attr-defined,index]
        assert states[JOB] == "completed"
    finally:
        sh("jobs", "del", "--jobid", JOB, "--wait", "-y", ok=False)
    assert JOB not in [j["id"] for j in sh.raw("jobs", "list")]  # type: ignore[index]


def _retrieve_files(sh: Shell, node_id: str, pool_id: str) -> None:
    streamed = sh("data", "files", "stream", "--filespec", f"{JOB},{TASK},stdout.txt")
    assert streamed.output == "hello-from-task\n"
    sh("data", "files", "task", "--filespec", f"{JOB},{TASK},stderr.txt")
    assert Path("stderr.txt").read_text() == "oops\n"
    sh("data", "files", "task", "--all", "--filespec", f"{JOB},{TASK},*.txt")
    assert Path(JOB, TASK, "stdout.txt").read_text() == "hello-from-task\n"
    sh("data", "files", "stream", "--disk", "--filespec", f"{JOB},{TASK},stdout.txt", "-y")
    assert Path("stdout.txt").read_text() == "hello-from-task\n"
    sh("data", "files", "node", "--filespec", f"{node_id},startup/stdout.txt",
       "--poolid", pool_id, "-y")
    assert f"AZ_BATCH_NODE_ID={node_id}\n" in Path("stdout.txt").read_text()


def test_terminating_running_tasks_and_scoping(sh: Shell, shared_pool: str) -> None:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    sh.write("jobs.yaml", jobs_yaml("cli-long", "sleep 300"))
    try:
        sh("jobs", "add")
        terminated = sh("jobs", "tasks", "term", "--jobid", "cli-long", "--wait", "-y")
        assert f"task cli-long/{TASK} terminated" in terminated.output
        task = sh.raw("jobs", "tasks", "list", "--jobid", "cli-long")["cli-long"][0]  # type: ignore[index]
        assert task["state"] == "completed"
        assert task["executionInfo"]["result"] == "failure"
        listed_all = sh.raw("jobs", "tasks", "list", "--all")
        assert "cli-long" in listed_all  # type: ignore[operator]
        # --all-jobs names every job of the account in its question; without -y and a
        # terminal it stops there, having changed nothing.
        asked = sh("jobs", "del", "--all-jobs", ok=False)
        assert asked.exit_code != 0 and "cli-long" in asked.output and "-y" in asked.output
        assert sh.raw("jobs", "stats", "--jobid", "cli-long")["tasks"] == 1  # type: ignore[index]
    finally:
        sh("jobs", "del", "--jobid", "cli-long", "--wait", "-y", ok=False)


def test_adding_a_job_that_exists_is_refused_or_replaced(sh: Shell, shared_pool: str,
                                                         client: BatchClient) -> None:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    sh.write("jobs.yaml", jobs_yaml("cli-again", "sleep 300"))
    try:
        sh("jobs", "add")
        first = client.get_job("cli-again").creation_time
        refused = sh("jobs", "add", ok=False)
        assert refused.exit_code == 1
        assert "job cli-again already exists" in refused.output
        assert "--recreate" in refused.output
        assert client.get_job("cli-again").creation_time == first, "left as it was"
        replaced = sh("jobs", "add", "--recreate")
        assert "job cli-again: 1 task(s) added" in replaced.output
        assert client.get_job("cli-again").creation_time != first
        assert len(list(client.list_tasks("cli-again"))) == 1
    finally:
        sh("jobs", "del", "--jobid", "cli-again", "--wait", "-y", ok=False)
