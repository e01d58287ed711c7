"""The shipyard commands that act on nodes, against a real engine and real nodes.

``pool add`` creates pool.yaml's SSH user on every node; ``pool ssh`` and ``pool nodes
ps|prune|zap``, ``pool images list`` then go over a real ssh client to each node's remote
login address, the path they take on Azure. Node reboot and removal are checked by what
the service then reports.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient, models

from tests.contract.clihelpers import Shell, jobs_yaml, sh, ssh_pool
from tests.realengine import IMAGE, build_recipe, wait_for, wait_nodes

__all__ = ["sh"]  # the fixture, for pytest
POOL = "cli-nodes"
RING = "shipyard/openmpi-ring:latest"


@pytest.fixture(scope="module")
def ring_image() -> str:
    """The OpenMPI recipe's image (an sshd on port 23 and mpirun), built on the host."""
    build_recipe("openmpi-ring")
    return RING


@pytest.fixture
def pool2(sh: Shell, client: BatchClient, tmp_path: Path, ring_image: str) -> Iterator[Shell]:
    """A 2-node pool made by ``shipyard pool add``, with its SSH user and the ring image."""
    sh.write("config.yaml", f"global_resources:\n  docker_images:\n  - {IMAGE}\n"
                            f"  - {ring_image}\n")
    with ssh_pool(sh, client, POOL, 2, tmp_path / "keys") as made:
        yield made


def node_ids(client: BatchClient, pool_id: str) -> list[str]:
    return [n.id for n in client.list_nodes(pool_id)]


def test_pool_ssh_runs_on_each_node_as_the_pool_s_user(
        pool2: Shell, client: BatchClient, tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    private = tmp_path / "keys" / "id_rsa_shipyard"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    names = []
    for cardinal in ("0", "1"):
        capfd.readouterr()
        pool2("pool", "ssh", "--cardinal", cardinal, "--", "hostname; id -un")
        host, user = capfd.readouterr().out.split()
        assert user == "shipyard"
        names.append(host)
    assert len(set(names)) == 2, names
    grls = pool2.raw("pool", "nodes", "grls")
    assert len(grls) == 2  # type: ignore[arg-type]
    second = node_ids(client, POOL)[1]  # cardinals follow the service's node order
    assert second in grls  # type: ignore[operator]
    by_id = pool2("pool", "ssh", "--nodeid", second, "--", "hostname")
    assert by_id.exit_code == 0
    assert capfd.readouterr().out.strip() == names[1]
    assert private.read_text().splitlines()[1] not in pool2("pool", "nodes", "grls").output


def test_docker_commands_over_ssh_and_user_del(pool2: Shell,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    images = pool2.raw("pool", "images", "list")
    assert any(line.startswith(f"{IMAGE} ") for line in images["common"])  # type: ignore[index]
    ps = pool2.raw("pool", "nodes", "ps")
    assert len(ps) == 2 and all("CONTAINER ID" in out for out in ps.values())  # type: ignore[union-attr,arg-type]
    pruned = pool2("pool", "nodes", "prune", "-y")
    assert pruned.output.count("pruned on") == 2
    zapped = pool2("pool", "nodes", "zap", "-y")
    assert zapped.output.count("zapped on") == 2
    pool2("pool", "user", "del")
    refused = pool2("pool", "ssh", "--", "true", ok=False)
    assert refused.exit_code == 255


def test_nodes_ps_while_an_mpi_task_runs(pool2: Shell, client: BatchClient) -> None:
    pool2.write("jobs.yaml", "job_specifications:\n- id: cli-mpi\n  tasks:\n"
                f"  - docker_image: {RING}\n    multi_instance:\n"
                "      num_instances: 2\n      mpi:\n        runtime: openmpi\n"
                "        processes_per_node: 1\n    command: sleep 120\n")
    try:
        pool2("jobs", "add")
        wait_for("the MPI task to run", lambda: client.get_task(
            "cli-mpi", "task-00000").state == "running", 180)
        ps = pool2.raw("pool", "nodes", "ps")
        name = "shipyard-cli-mpi-task-00000"
        assert sorted(node for node, out in ps.items() if name in out) == sorted(  # type: ignore[union-attr]
            node_ids(client, POOL))
    finally:
        pool2("jobs", "del", "--jobid", "cli-mpi", "--termtasks", "--wait", "-y", ok=False)


def test_reboot_requeues_the_node_s_task_and_the_node_comes_back(
        pool2: Shell, client: BatchClient) -> None:
    pool2.write("jobs.yaml", jobs_yaml("cli-reboot", "sleep 300"))
    try:
        pool2("jobs", "add")
        task = wait_for("the task to run", lambda: _running(client, "cli-reboot"), 120)
        node = task.node_info.node_id
        pool2("pool", "nodes", "reboot", "--nodeid", node, "-y")
        wait_for("the task to be requeued", lambda: (
            t := client.get_task("cli-reboot", "task-00000")).execution_info is not None
            and (t.execution_info.requeue_count or 0) >= 1, 180)
        wait_nodes(client, POOL, 2, states=("idle", "running"), timeout=300)
        assert client.get_node(POOL, node).state in ("idle", "running")
    finally:
        pool2("jobs", "del", "--jobid", "cli-reboot", "--wait", "-y", ok=False)


def _running(client: BatchClient, job_id: str) -> models.BatchTask | None:
    task = client.get_task(job_id, "task-00000")
    return task if task.state == "running" and task.node_info else None


def test_nodes_del_removes_the_node(pool2: Shell, client: BatchClient) -> None:
    victim, kept = node_ids(client, POOL)
    pool2("pool", "nodes", "del", "--nodeid", victim, "-y")
    wait_for("the node to be removed", lambda: node_ids(client, POOL) == [kept], 180)
    assert client.get_pool(POOL).target_dedicated_nodes == 1
