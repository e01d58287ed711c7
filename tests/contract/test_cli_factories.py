"""``jobs add`` of the random and custom task factories and ``user_identity``, end to end.

One job on the shared pool: a seeded ``random`` factory and a ``custom`` factory whose
module sits next to jobs.yaml, all under ``user_identity.specific_user``. Each task prints
its value and the ids its container runs as.
"""

from __future__ import annotations

import random

import yaml
from azure.batch import BatchClient

from tests.contract.clihelpers import Shell, pool_yaml, sh
from tests.contract.jobhelpers import task_file, wait_task
from tests.realengine import IMAGE

__all__ = ["sh"]  # the fixture, for pytest
JOB = "cli-factories"
UID, GID = 1234, 2345
PRINT = "echo {0} $(id -u):$(id -g)"
GENERATOR = "def generate(*args):\n    for word in args:\n        yield (word,)\n"


def jobs_file() -> str:
    base = {"docker_image": IMAGE, "command": f"sh -c '{PRINT}'"}
    tasks = [
        {**base, "task_factory": {"random": {
            "generate": 3, "seed": 7, "integer": {"start": 0, "stop": 1000, "step": 1}}}},
        {**base, "task_factory": {"custom": {"module": "gens.words", "input_args": ["a", "b"]}}},
    ]
    return yaml.safe_dump({"job_specifications": [{
        "id": JOB, "user_identity": {"specific_user": {"uid": UID, "gid": GID}},
        "tasks": tasks}]})


def test_random_and_custom_tasks_run_as_the_specific_user(sh: Shell, shared_pool: str,
                                                          client: BatchClient) -> None:
    sh.write("pool.yaml", pool_yaml(shared_pool, 3))
    sh.write("jobs.yaml", jobs_file())
    (sh.configdir / "gens").mkdir()
    (sh.configdir / "gens" / "__init__.py").write_text("")
    (sh.configdir / "gens" / "words.py").write_text(GENERATOR)
    rng = random.Random(7)
    values = [str(rng.randrange(0, 1000, 1)) for _ in range(3)] + ["a", "b"]
    try:
        added = sh("jobs", "add")
        assert "5 task(s) added" in added.output
        for number, value in enumerate(values):
            task_id = f"task-{number:05d}"
            task = wait_task(client, JOB, task_id, timeout=30)
            assert task.execution_info is not None and task.execution_info.exit_code == 0
            out = task_file(client, JOB, task_id, "stdout.txt").decode()
            assert out == f"{value} {UID}:{GID}\n", task_id
    finally:
        sh("jobs", "del", "--jobid", JOB, "--wait", "-y", ok=False)
