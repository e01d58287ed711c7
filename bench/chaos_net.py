"""Chaos faults inside MPI runs and under the data dir: an MPI container's sshd killed
during the coordination barrier or the application, a node's veth taken down mid-MPI,
and the data dir's file system filled up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from typing import Any

import docker.errors
from azure.batch import models
from azure.core.exceptions import HttpResponseError

from bench.chaos_faults import Chaos, Event, pool_whole, until
from bench.chaos_work import MI_JOB, MI_WALL, PLAIN_JOB, POOL
from shipyard.engine.model import wire
from shipyard.engine.nodes import node_docker
from shipyard.factory.docker import LABEL_JOB, LABEL_TASK


def _mpi_containers(c: Chaos) -> list[tuple[models.BatchNode, Any]]:
    """(node, container) of every running MPI container on the pool's nodes."""
    found = []
    for node in c.client().list_nodes(POOL):
        if node.state not in ("idle", "running"):
            continue
        client = node_docker(c.engine.node_spec(node), timeout=5)
        try:
            found += [(node, box) for box in
                      client.containers.list(filters={"label": f"{LABEL_JOB}={MI_JOB}"})]
        except docker.errors.NotFound:
            continue  # a container went between the listing and its inspect: look again
        finally:
            client.close()
    return found


def _age(box: Any) -> float:
    started = wire.parse_datetime(box.attrs["State"]["StartedAt"]).timestamp()
    return time.time() - started


def _attempt_over(c: Chaos, task_id: str, timeout: float) -> float | None:
    """Seconds until the task's current attempt ended (completed, retried or requeued)."""
    first = c.client().get_task(MI_JOB, task_id).execution_info

    def counts(info: models.BatchTaskExecutionInfo | None) -> tuple[int, int]:
        return (info.retry_count or 0, info.requeue_count or 0) if info else (0, 0)

    def over() -> bool:
        task = c.client().get_task(MI_JOB, task_id)
        return task.state == "completed" or counts(task.execution_info) != counts(first)

    return until(over, timeout, 0.2)


def _find(c: Chaos, young: bool, timeout: float) -> tuple[models.BatchNode, Any] | None:
    """An MPI container just started (coordination) or running a while (application)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node, box in _mpi_containers(c):
            age = _age(box)
            task_id = box.labels.get(LABEL_TASK, "")
            if young and age < 1.0:
                return node, box
            if not young and age > 2.0 and _not_primary(c, task_id, str(node.id)):
                return node, box
        time.sleep(0.1)
    return None


def _not_primary(c: Chaos, task_id: str, node_id: str) -> bool:
    task = c.client().get_task(MI_JOB, task_id)
    return task.state == "running" and bool(task.node_info) and \
        task.node_info.node_id != node_id


def kill_sshd(c: Chaos, during_barrier: bool) -> list[Event]:
    found = _find(c, young=during_barrier, timeout=30)
    if found is None:
        return []
    node, box = found
    task_id = box.labels[LABEL_TASK]
    age = _age(box)
    c.work.touch(MI_JOB, task_id, "sshd")
    os.kill(int(box.attrs["State"]["Pid"]), 9)  # the container's sshd is its pid 1
    phase = "coordination barrier" if during_barrier else "application"
    return [Event(f"kill -9 sshd in MPI container ({phase})", task_id,
                  _attempt_over(c, task_id, MI_WALL + 30),
                  f"{age:.2f} s after its container started on {node.id[-8:]}")]


def veth_down(c: Chaos) -> list[Event]:
    found = _find(c, young=False, timeout=30)
    if found is None:
        return []
    node, box = found
    task_id = box.labels[LABEL_TASK]
    spec = c.engine.node_spec(node)
    c.work.touch(MI_JOB, task_id, "veth")
    subprocess.run(["ip", "link", "set", spec.veth, "down"], check=True)
    try:
        ended = _attempt_over(c, task_id, MI_WALL + 30)
    finally:
        subprocess.run(["ip", "link", "set", spec.veth, "up"], check=True)
    note = "ended within maxWallClockTime" if ended is not None and ended <= MI_WALL + 10 \
        else "HUNG past maxWallClockTime"
    return [Event("node veth down mid-MPI", task_id, ended, note)]


def fill_disk(c: Chaos) -> list[Event]:
    """Fill the data dir's file system; the engine must refuse writes clearly and keep its
    store whole; once there is room again the pool must be whole without help."""
    client = c.client()
    for node in client.list_nodes(POOL):
        c.work.touch_running_on(client, str(node.id), "disk")
    filler = c.engine.data_dir / "chaos-fill"
    began = time.time()
    stat = os.statvfs(c.engine.data_dir)
    room = stat.f_bavail * stat.f_frsize - (16 << 20)
    # The room may shrink meanwhile (the engine writes): dd below fills whatever is left.
    subprocess.run(["fallocate", "-l", str(max(room, 0)), str(filler)], check=False)
    # The last pages by writing, until the file system says it is full.
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "oflag=append",
                    "conv=notrunc"], capture_output=True, check=False)
    answer = "every write refused"
    for attempt in range(300):  # the store's log may hold room for a few writes
        answer = _try_write(c)
        if not answer.startswith("accepted"):
            answer = f"{attempt} accepted, then {answer}"
            break
    time.sleep(5)
    filler.unlink()
    for node in client.list_nodes(POOL):
        c.windows.append((str(node.id), began, time.time() + 5))
    began = time.monotonic()
    check = _quick_check(c)
    whole = until(lambda: pool_whole(c), 90, 0.3)
    note = f"a write while full: {answer}; store quick_check: {check}"
    if check != "ok":
        c.orphans.append(f"corrupt store: {check}")
    return [Event("data dir file system full", "data dir",
                  None if whole is None else time.monotonic() - began, note)]


def _try_write(c: Chaos) -> str:
    options, expect = c.work._plain()
    # A fat record: the store's log reuses its space, so small writes may all still fit.
    options.environment_settings = [models.EnvironmentSetting(name="BALLAST",
                                                              value="x" * 100_000)]
    try:
        c.client().create_task(PLAIN_JOB, options)
    except HttpResponseError as exc:
        try:
            body = json.loads(exc.response.text()) if exc.response is not None else {}
        except ValueError:
            body = {}
        reason = {v.get("key"): v.get("value") for v in body.get("values") or []}
        return f"{exc.status_code} {body.get('code', '?')} ({reason.get('Reason', '')})"
    with c.work.lock:  # acknowledged: it must not be lost
        c.work.expected[(PLAIN_JOB, expect.task_id)] = expect
    return "accepted (201)"


def _quick_check(c: Chaos) -> str:
    uri = f"file:{c.engine.settings.db_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])
