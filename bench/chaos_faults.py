"""The faults the chaos soak injects, each with how long the system took to recover.

Every injector finds a live target (a running task's command or supervisor, a node's
dockerd, containerd or launch agent, an MPI container's sshd, a node's veth, the engine
itself at a chosen moment), strikes it the way a real failure would (``kill -9``, a link
down, a full file system), marks the tasks it may break as touched (so their failures
count as true), and waits, bounded, for the system to be whole again. It returns Events;
an injector that found no target returns none and is tried again later.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from bench.chaos_work import PLAIN_JOB, POOL, ChaosEngine, Workload, slot_leftovers, start_time
from bench.harness import node_place, pool_gone
from shipyard.engine.nodes import node_docker, procs
from shipyard.engine.nodes.launching import AGENT_SOCKET, RUNNER_MARK, agent_answers

AUX = "chaos-aux"


@dataclass
class Event:
    kind: str
    target: str
    recovery_s: float | None  # None: did not recover within its bound
    note: str = ""


@dataclass
class Chaos:
    """What an injector may use."""

    engine: ChaosEngine
    work: Workload
    rng: random.Random
    seen_pids: set[tuple[int, str]]  # (pid, start time): a reused pid is not ours
    orphans: list[str]
    #: (node id, from, to) in epoch seconds: a node's daemons were broken meanwhile.
    windows: list[tuple[str, float, float]] = field(default_factory=list)

    def seen(self, *pids: int) -> None:
        self.seen_pids |= {(pid, start_time(pid)) for pid in pids}

    def client(self) -> BatchClient:
        return self.engine.client()


def until(check: Callable[[], object], timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until ``check`` is truthy (errors count as not yet); None past ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - began
        time.sleep(interval)
    return None


# ---- task processes ---------------------------------------------------------------------------

def _running_plain(c: Chaos) -> list[tuple[models.BatchTask, int]]:
    """Running plain tasks with the pid their command wrote, still alive."""
    client = c.client()
    ips = {n.id: n.ip_address for n in client.list_nodes(POOL)}
    found = []
    for task in client.list_tasks(PLAIN_JOB, filter="state eq 'running'"):
        if not task.node_info or task.node_info.node_id not in ips:
            continue
        pid_file = (c.engine.node_home(ips[task.node_info.node_id]) /
                    f"batch/tasks/workitems/{PLAIN_JOB}/job-1/{task.id}/wd/pid")
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            if not procs.gone(pid):
                found.append((task, pid))
    return found


def kill_command(c: Chaos) -> list[Event]:
    targets = _running_plain(c)
    if not targets:
        return []
    task, pid = c.rng.choice(targets)
    c.work.touch(PLAIN_JOB, str(task.id), "command")
    c.seen(pid)
    os.kill(pid, 9)
    done = until(lambda: c.client().get_task(PLAIN_JOB, task.id).state == "completed", 60)
    return [Event("kill -9 task command", str(task.id), done, "expect exit code 137")]


def kill_supervisor(c: Chaos) -> list[Event]:
    targets = [(t, p) for t, p in _running_plain(c)
               if (st := procs.proc_stat(p)) and RUNNER_MARK in " ".join(procs.cmdline(st.ppid))]
    if not targets:
        return []
    task, pid = c.rng.choice(targets)
    stat = procs.proc_stat(pid)
    assert stat is not None
    c.work.touch(PLAIN_JOB, str(task.id), "supervisor")
    c.seen(pid, stat.ppid)
    before = (task.execution_info.requeue_count or 0) if task.execution_info else 0
    os.kill(stat.ppid, 9)

    def requeued() -> bool:
        now = c.client().get_task(PLAIN_JOB, task.id)
        return bool(now.execution_info and (now.execution_info.requeue_count or 0) > before)

    return [Event("kill -9 task supervisor", str(task.id), until(requeued, 60),
                  "the task is requeued, its command ended")]


# ---- the engine --------------------------------------------------------------------------------

def pool_whole(c: Chaos, pool_id: str = POOL, count: int | None = None) -> bool:
    found = list(c.client().list_nodes(pool_id))
    return (count is None or len(found) == count) and bool(found) and all(
        n.state in ("idle", "running") for n in found)


def restart(c: Chaos) -> float:
    """Kill -9 the engine and start it again; seconds until it answered."""
    c.engine.kill()
    return c.engine.start()


def kill_engine(c: Chaos) -> list[Event]:
    answered = restart(c)
    whole = until(lambda: pool_whole(c), 120)
    return [Event("kill -9 engine, restart", "engine",
                  None if whole is None else answered + whole,
                  f"answering again after {answered:.1f} s")]


def engine_during_pools(c: Chaos) -> list[Event]:
    """Kill -9 the engine during a pool's creation, resize and deletion."""
    client = c.client()
    client.create_pool(models.BatchPoolCreateOptions({
        "id": AUX, "vmSize": "standard_d2_v3", "targetDedicatedNodes": 1,
        "virtualMachineConfiguration": {"imageReference": {
            "publisher": "canonical", "offer": "ubuntu", "sku": "22_04"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04"}}))
    time.sleep(c.rng.uniform(0.2, 1.5))
    events = [_after_restart(c, "kill -9 engine during pool creation",
                             lambda: pool_whole(c, AUX, 1))]
    c.client().begin_resize_pool(AUX, models.BatchPoolResizeOptions(
        {"targetDedicatedNodes": 2}), polling_interval=0.5)
    time.sleep(c.rng.uniform(0.2, 1.5))
    events.append(_after_restart(c, "kill -9 engine during resize",
                                 lambda: pool_whole(c, AUX, 2)))
    slot = _slot_of(c, AUX)
    c.client().begin_delete_pool(AUX, polling_interval=0.5)
    time.sleep(c.rng.uniform(0.1, 1.0))
    events.append(_after_restart(c, "kill -9 engine during pool deletion",
                                 lambda: pool_gone(c.client(), AUX)))
    c.orphans.extend(slot_leftovers(slot))
    return events


def _after_restart(c: Chaos, kind: str, done: Callable[[], object]) -> Event:
    answered = restart(c)
    left = until(done, 180, 0.3)
    return Event(kind, AUX, None if left is None else answered + left,
                 f"answering again after {answered:.1f} s")


def _slot_of(c: Chaos, pool_id: str) -> int:
    node = next(iter(c.client().list_nodes(pool_id)))
    return node_place(str(node.ip_address))[0]


def reboot_node(c: Chaos) -> list[Event]:
    """Kill -9 the engine during a node reboot, if this engine has the reboot API."""
    client = c.client()
    node = _node(c)
    if node is None:
        return []
    # SDK 15.1 exports no reboot options model: the service's own request, signed by it.
    request = HttpRequest("POST", f"/pools/{POOL}/nodes/{node.id}/reboot?api-version="
                          "2025-06-01", json={"nodeRebootOption": "requeue"})
    try:
        status = client.send_request(request).status_code
    except HttpResponseError as exc:
        status = exc.status_code or 0
    if status != 202:
        return [Event("kill -9 engine during node reboot", "n/a", 0.0,
                      f"not injected: this engine has no node reboot (HTTP {status})")]
    time.sleep(c.rng.uniform(0.2, 1.5))
    return [_after_restart(c, "kill -9 engine during node reboot", lambda: pool_whole(c))]


# ---- a node's daemons -------------------------------------------------------------------------

def _node(c: Chaos, states: tuple[str, ...] = ("idle", "running")) -> models.BatchNode | None:
    found = [n for n in c.client().list_nodes(POOL) if n.state in states]
    return c.rng.choice(found) if found else None


def _dockerd_pid(c: Chaos, node: models.BatchNode) -> int:
    return int((c.engine.node_home(node.ip_address) / "docker.pid").read_text())


def kill_dockerd(c: Chaos) -> list[Event]:
    node = _node(c)
    if node is None:
        return []
    c.work.touch_running_on(c.client(), str(node.id), "dockerd")
    began = time.time()
    os.kill(_dockerd_pid(c, node), 9)
    detected = until(lambda: c.client().get_node(POOL, node.id).state == "unusable", 30)
    answered = restart(c)  # the engine reboots a node whose daemon died when it starts
    whole = until(lambda: pool_whole(c), 180, 0.3)
    c.windows.append((str(node.id), began, time.time()))
    note = f"unusable after {detected:.2f} s" if detected is not None else "never unusable"
    total = None if whole is None or detected is None else answered + whole
    return [Event("kill -9 node dockerd", str(node.id), total,
                  f"{note}; back by engine restart")]


def _children_named(pid: int, name: str) -> list[int]:
    return [p for p in procs.descendants({pid})
            if (argv := procs.cmdline(p)) and Path(argv[0]).name == name]


def kill_containerd(c: Chaos) -> list[Event]:
    node = _node(c)
    if node is None:
        return []
    found = _children_named(_dockerd_pid(c, node), "containerd")
    if not found:
        return []
    c.work.touch_running_on(c.client(), str(node.id), "containerd")
    began = time.time()
    os.kill(found[0], 9)
    spec = c.engine.node_spec(node)

    def answering() -> bool:
        client = node_docker(spec, timeout=5)
        try:
            client.containers.list()
            return bool(_children_named(_dockerd_pid(c, node), "containerd"))
        finally:
            client.close()

    back = until(answering, 60, 0.2)
    # Docker calls on the node fail until then (and a little after): tasks that ran their
    # commands there meanwhile may fail for it, truthfully.
    c.windows.append((str(node.id), began, time.time() + 5))
    return [Event("kill -9 node containerd", str(node.id), back, "dockerd restarts it")]


def kill_agent(c: Chaos) -> list[Event]:
    node = _node(c)
    if node is None:
        return []
    home = c.engine.node_home(node.ip_address)
    runners = {p.pid: p.ppid for p in procs.all_procs()
               if RUNNER_MARK in (argv := procs.cmdline(p.pid)) and "agent" in argv
               and str(home) in " ".join(argv)}
    # The agent's supervisors are forks of it (same argv): the agent is their parent.
    agents = [pid for pid, ppid in runners.items() if ppid not in runners]
    if not agents:
        return []
    os.kill(agents[0], 9)
    socket_path = home / AGENT_SOCKET
    return [Event("kill -9 node launch agent", str(node.id),
                  until(lambda: agent_answers(socket_path), 90, 0.3),
                  "the next launch on the node starts a new one")]
