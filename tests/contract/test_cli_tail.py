"""``jobs add --tail`` says why its task waits when the service knows it cannot start yet.

The CLI runs as its own process, so the test can read its stderr while it waits.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading

from azure.batch import BatchClient

from tests.contract.clihelpers import Shell, pool_yaml, sh
from tests.realengine import IMAGE

__all__ = ["sh"]  # the fixture, for pytest
JOB = "cli-tail-waits"


def lines_of(stream: object) -> queue.Queue[str]:
    """Lines of a pipe as they come, read by a thread."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            found.put(line)
        found.put("")

    threading.Thread(target=read, daemon=True).start()
    return found


def next_waiting(lines: queue.Queue[str], timeout: float) -> str:
    """The next ``waiting:`` line (with what came before it), or what came before the end."""
    seen = ""
    while True:
        line = lines.get(timeout=timeout)
        seen += line
        if not line or line.startswith("waiting:"):
            return seen


def test_tail_says_why_a_task_cannot_start(sh: Shell, shared_pool: str,
                                           client: BatchClient) -> None:
    nodes = len(list(client.list_nodes(shared_pool)))
    sh.write("pool.yaml", pool_yaml(shared_pool, nodes))
    sh.write("jobs.yaml", (
        f"job_specifications:\n- id: {JOB}\n  tasks:\n  - docker_image: {IMAGE}\n"
        f"    command: hostname\n    multi_instance:\n      num_instances: {nodes + 1}\n"))
    cli = subprocess.Popen(
        [sys.executable, "-c", "from shipyard.cli.main import main; main()", "jobs", "add",
         "--tail", "stdout.txt",
         "--configdir", str(sh.configdir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "COLUMNS": "500"})
    try:
        stderr = lines_of(cli.stderr)
        said = next_waiting(stderr, 60)
        assert said.splitlines()[-1:] == [
            f"waiting: The multi-instance task cannot be scheduled: it needs {nodes + 1} nodes "
            f"and the pool has {nodes}."], said
        client.terminate_task(JOB, "task-00000")
        assert cli.wait(60) == 1  # the task ended without running: a failure
        assert "waiting:" not in next_waiting(stderr, 10), "the reason was said twice"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)
        sh("jobs", "del", "--jobid", JOB, "--wait", "-y", ok=False)
