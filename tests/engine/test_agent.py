"""The node launch agent: commands launched through it behave as launched directly.

Real nodes (namespaces + dockerd), as in test_nodes; the agent is the runner kept running
in the node and reached through a unix socket in the node's home.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.engine.nodes import kill_launched, procs
from shipyard.engine.nodes.launching import AGENT_SOCKET, RUNNER_MARK
from shipyard.errors import NodeError
from tests.engine.nodekit import (
    PATH,
    Pool,
    finish,
    root_dir,
    running_pool,
    start_on,
    wait_for,
)

__all__ = ["root_dir"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def pool(root_dir: Path) -> Iterator[Pool]:
    with running_pool(244, root_dir, 1) as p:
        yield p


def agents(home: Path) -> list[int]:
    """Live agents serving ``home``: our children (supervisors share their command line
    but are the agent's children)."""
    sock = str(home / AGENT_SOCKET)
    return [p.pid for p in procs.all_procs()
            if p.state not in "ZX" and p.ppid == os.getpid()
            and procs.cmdline(p.pid)[-2:] == ["agent", sock]]


def test_agent_launches_like_the_direct_way(pool: Pool) -> None:
    node = pool.nodes[0]
    home = node.spec.home
    env = {"PATH": PATH, "TRICKY": "a b \"c\" 'd' $HOME\nsecond", "EMPTY": ""}
    pid, host_dir = start_on(node, ["/usr/bin/env", "-0"], env, home=home)
    res = finish(host_dir)
    assert res.code == 0
    assert dict(i.split("=", 1) for i in res.out.split("\0") if i) == env
    (agent,) = agents(home)
    assert procs.proc_stat(agent) is not None
    assert RUNNER_MARK in procs.cmdline(pid) or procs.gone(pid)  # kill_launched's check
    missing = finish(start_on(node, ["/no/such/program"], home=home)[1])
    assert missing.code == 127 and "/no/such/program" in missing.err
    hostname = finish(start_on(node, ["/bin/hostname"], home=home)[1])
    assert hostname.out == f"{node.spec.hostname}\n"  # in the node's namespaces
    assert agents(home) == [agent]  # one agent served them all


def test_agent_launches_in_parallel(pool: Pool) -> None:
    node = pool.nodes[0]
    with ThreadPoolExecutor(8) as workers:
        started = list(workers.map(lambda i: start_on(
            node, ["/bin/sh", "-c", f"exit {i}"], home=node.spec.home), range(16)))
    assert [finish(host_dir).code for _, host_dir in started] == list(range(16))
    assert len(agents(node.spec.home)) == 1


def test_kill_launched_reaches_the_group_of_an_agent_launch(pool: Pool) -> None:
    node = pool.nodes[0]
    pid, host_dir = start_on(node, ["/bin/sh", "-c", "sleep 300 & sleep 300; wait"],
                             home=node.spec.home)
    wait_for(lambda: len([p for p in procs.all_procs() if p.pgrp == pid]) >= 3, 10,
             "the command and its background child")
    kill_launched(pid, grace=5)
    assert finish(host_dir, timeout=5).code == 128 + signal.SIGTERM
    assert not [p for p in procs.all_procs() if p.pgrp == pid and p.state != "Z"]


def test_a_killed_agent_is_replaced_and_its_commands_finish(pool: Pool) -> None:
    node = pool.nodes[0]
    home = node.spec.home
    node_go = "/mnt/batch/tasks/agent-go"
    waiter = f"while [ ! -e {node_go} ]; do sleep 0.05; done; echo done"
    _, waiting_dir = start_on(node, ["/bin/sh", "-c", waiter], home=home)
    (old,) = agents(home)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: procs.gone(old), 10, "the killed agent to go")
    res = finish(start_on(node, ["/bin/echo", "again"], home=home)[1])
    assert res.out == "again\n"
    (new,) = agents(home)
    assert new != old
    (node.spec.batch_dir / "tasks" / "agent-go").touch()
    assert finish(waiting_dir).out == "done\n"  # its supervisor outlived the agent


def test_a_broken_socket_falls_back_to_launching_directly(pool: Pool, tmp_path: Path) -> None:
    node = pool.nodes[0]
    unusable = tmp_path / "not-a-dir"
    unusable.write_text("a file where the agent's directory should be")
    res = finish(start_on(node, ["/bin/echo", "direct"], home=unusable)[1])
    assert (res.code, res.out) == (0, "direct\n")
    assert agents(unusable) == []


def test_an_agent_that_takes_a_request_without_answering_is_an_error_not_a_retry(
        pool: Pool, tmp_path: Path) -> None:
    """Once a request reached an agent the command may be running: never launch it twice."""
    node = pool.nodes[0]
    home = tmp_path / "home"
    home.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / AGENT_SOCKET))
    listener.listen(1)

    def swallow() -> None:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(65536):
                pass  # read the request, then hang up without a word

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        with pytest.raises(NodeError, match="launch agent"):
            start_on(node, ["/bin/true"], home=home)
    finally:
        thread.join(10)
        listener.close()
