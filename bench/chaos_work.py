"""The chaos soak's engine and workload: what runs while faults are injected, and the truth.

``ChaosEngine`` is a real engine on a data dir that is its own small tmpfs (so the soak
can fill it), killed with -9 and restarted at will. ``Workload`` keeps a 4-node pool busy
with plain tasks (``sleep; exit C``, each writing its pid) and multi-instance Docker MPI
tasks made by the project's own factory, remembers every task the engine acknowledged,
and what each fault did to it, so that ``verdicts`` can say at the end which results are
untrue and which acknowledged records were lost.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from bench.harness import cmdline_text, free_port, node_place, node_spec
from bench.mi import RING_IMAGE, write_config
from shipyard.config.loader import load_config
from shipyard.engine import control, nodes
from shipyard.engine.settings import EngineSettings
from shipyard.factory.job import job_options
from shipyard.factory.ssh import new_ssh_material
from shipyard.factory.tasks import PoolContext, task_options

log = logging.getLogger(__name__)

POOL = "chaos"
PLAIN_JOB, MI_JOB = "chaos-plain", "chaos-mi"
NODES = 4
MI_INSTANCES = 2
MI_WALL = 45  # seconds: a veth taken down mid-MPI must end by then
TMPFS_SIZE = "3g"


class ChaosEngine:
    """A real engine on its own tmpfs data dir; ``kill`` is -9, ``restart`` re-adopts."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="shych-", dir="/var/tmp"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700",
                        "tmpfs", str(self.data_dir)], check=True)
        port = free_port()
        self.settings = EngineSettings(data_dir=self.data_dir, port=port)
        self.state: control.EngineState | None = None

    def start(self) -> float:
        """Start (or restart) the engine; the seconds until it answered."""
        began = time.monotonic()
        self.state, _ = control.start(self.settings, timeout=120)
        return time.monotonic() - began

    def kill(self) -> None:
        assert self.state is not None
        os.kill(self.state.pid, 9)
        _wait_gone(self.state.pid)

    def client(self) -> BatchClient:
        assert self.state is not None
        return BatchClient(self.state.url, AzureNamedKeyCredential(self.state.account,
                                                                   self.state.key),
                           connection_timeout=10, read_timeout=60)

    def node_home(self, ip: str) -> Path:
        slot, index = node_place(ip)
        return self.settings.nodes_dir / f"{slot}-{index}"

    def node_spec(self, node: models.BatchNode) -> nodes.NodeSpec:
        return node_spec(self.settings.nodes_dir, node)

    def close(self) -> None:
        control.stop(self.data_dir)
        subprocess.run(["umount", "--lazy", str(self.data_dir)], check=False)
        os.rmdir(self.data_dir)


@dataclass
class Expect:
    """What one acknowledged task should end with, and the faults that touched it."""

    job_id: str
    task_id: str
    multi: bool
    code: int
    touched: set[str] = field(default_factory=set)


@dataclass
class Workload:
    """Keeps the pool busy from a feeder thread; remembers every acknowledged task."""

    engine: ChaosEngine
    rng: random.Random
    expected: dict[tuple[str, str], Expect] = field(default_factory=dict)
    unacknowledged: int = 0
    mi_queue: list[models.BatchTaskCreateOptions] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _count: int = 0

    def create(self, client: BatchClient, work_dir: Path) -> None:
        client.create_job(models.BatchJobCreateOptions({
            "id": PLAIN_JOB, "poolInfo": {"poolId": POOL}, "onAllTasksComplete": "noaction"}))
        job, tasks = mi_job(work_dir, 400)
        client.create_job(job)
        self.mi_queue = tasks

    def start(self) -> None:
        self._thread = threading.Thread(target=self._feed, name="feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _feed(self) -> None:
        while not self._stop.wait(0.5):
            try:
                client = self.engine.client()
                # One MPI task in flight at a time; plain tasks around it.
                if not list(client.list_tasks(MI_JOB, filter="state eq 'running'")):
                    self._top_up(client, MI_JOB, 1, self._mi)
                # A gang needs two free nodes at once: while one waits, plain tasks drain
                # (the engine does not reserve nodes for a waiting gang).
                if not list(client.list_tasks(MI_JOB, filter="state eq 'active'")):
                    self._top_up(client, PLAIN_JOB, 4, self._plain)
            except Exception as exc:  # the engine may be down on purpose
                log.debug("feeder: %s", exc)

    def _top_up(self, client: BatchClient, job_id: str, depth: int,
                make: Any) -> None:
        waiting = list(client.list_tasks(job_id, filter="state eq 'active'"))
        for _ in range(depth - len(waiting)):
            options, expect = make()
            try:
                client.create_task(job_id, options)
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    continue
                self.unacknowledged += 1  # no answer: it may or may not exist
                raise
            except Exception:
                self.unacknowledged += 1
                raise
            with self.lock:
                self.expected[(job_id, expect.task_id)] = expect

    def _plain(self) -> tuple[models.BatchTaskCreateOptions, Expect]:
        self._count += 1
        task_id = f"p{self._count:05d}"
        code = 3 if self.rng.random() < 0.1 else 0
        sleep = self.rng.choice([1, 2, 3, 5, 8])
        line = ("/bin/sh -c 'echo $$ > \"$AZ_BATCH_TASK_WORKING_DIR/pid\"; "
                f"sleep {sleep}; exit {code}'")
        options = models.BatchTaskCreateOptions({"id": task_id, "commandLine": line,
                                                 "constraints": {"maxTaskRetryCount": 0}})
        return options, Expect(PLAIN_JOB, task_id, False, code)

    def _mi(self) -> tuple[models.BatchTaskCreateOptions, Expect]:
        options = self.mi_queue.pop(0)
        return options, Expect(MI_JOB, str(options.id), True, 0)

    def touch(self, job_id: str, task_id: str, kind: str) -> None:
        with self.lock:
            if (job_id, task_id) in self.expected:
                self.expected[(job_id, task_id)].touched.add(kind)

    def touch_running_on(self, client: BatchClient, node_id: str, kind: str) -> None:
        """Mark every task running on ``node_id`` (any instance) as touched by ``kind``."""
        for job_id in (PLAIN_JOB, MI_JOB):
            for task in client.list_tasks(job_id, filter="state eq 'running'"):
                on = {task.node_info.node_id} if task.node_info else set()
                if job_id == MI_JOB:
                    on |= {s.node_info.node_id for s in client.list_subtasks(job_id, task.id)
                           if s.node_info}
                if node_id in on:
                    self.touch(job_id, str(task.id), kind)


def mi_job(work_dir: Path, count: int) -> tuple[models.BatchJobCreateOptions,
                                                list[models.BatchTaskCreateOptions]]:
    """The MPI job and ``count`` tasks, exactly as ``shipyard jobs add`` would make them."""
    write_config(work_dir, POOL, NODES, RING_IMAGE)
    tasks = "".join(
        f"  - id: mi-{i:04d}\n    docker_image: {RING_IMAGE}\n    max_wall_time: "
        f"00:00:{MI_WALL}\n    max_task_retries: 1\n    multi_instance:\n"
        f"      num_instances: {MI_INSTANCES}\n      mpi:\n        runtime: openmpi\n"
        "    command: ring 100000 500\n" for i in range(count))
    (work_dir / "jobs.yaml").write_text(f"job_specifications:\n- id: {MI_JOB}\n  tasks:\n"
                                        f"{tasks}")
    cfg = load_config(work_dir)
    (job,) = cfg.jobs
    context = PoolContext(current_dedicated=NODES, current_low_priority=0, spec=cfg.pool)
    return job_options(job, POOL), task_options(job, context, new_ssh_material())


# ---- the truth --------------------------------------------------------------------------------

NODE_WORDS = ("daemon is not running", "cannot launch", "NodeUnusable", "NodeUnhealthy",
              "namespace")


def verdict(expect: Expect, task: models.BatchTask | None) -> str | None:
    """Why this task's recorded result is untrue (or its record lost); None when true."""
    if task is None:
        return "lost: acknowledged, then gone"
    info = task.execution_info
    if task.state != "completed" or info is None:
        return None  # unfinished is counted apart (see chaos.report)
    failure = info.failure_info
    if failure is not None and failure.category == "usererror" and any(
            w in (failure.message or "") for w in NODE_WORDS):
        return f"a node fault reported as the user's: {failure.code}: {failure.message}"
    if expect.multi:
        return _mi_verdict(expect, info)
    allowed = {expect.code} | ({137} if "command" in expect.touched else set())
    if info.exit_code not in allowed:
        return f"exit code {info.exit_code}, expected one of {sorted(allowed)}"
    if (info.exit_code == 0) != (info.result == "success"):
        return f"result {info.result} with exit code {info.exit_code}"
    return None


def _mi_verdict(expect: Expect, info: models.BatchTaskExecutionInfo) -> str | None:
    if info.result == "success":
        return None if info.exit_code == 0 else f"success with exit code {info.exit_code}"
    if not expect.touched:
        return f"failed untouched: {info.failure_info}"
    code = info.failure_info.code if info.failure_info else None
    if code == "MaxWallClockTimeExceeded" or info.exit_code not in (None, 0):
        return None  # the fault broke the run and the record says so
    return f"failed without an exit code or a wall-clock end: {info.failure_info}"


def fetch_all(client: BatchClient) -> dict[tuple[str, str], models.BatchTask]:
    found: dict[tuple[str, str], models.BatchTask] = {}
    for job_id in (PLAIN_JOB, MI_JOB):
        try:
            for task in client.list_tasks(job_id):
                found[(job_id, str(task.id))] = task
        except ResourceNotFoundError:
            pass
    return found


def _wait_gone(pid: int, timeout: float = 10) -> None:
    try:
        os.waitpid(pid, 0)  # our child when we started it: reap it
        return
    except ChildProcessError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


# ---- orphans ----------------------------------------------------------------------------------

def _lines(argv: list[str]) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout.splitlines()


def slot_leftovers(slot: int) -> list[str]:
    """Namespaces, links and firewall rules of one pool slot still on the machine."""
    found = [f"netns {line.split()[0]}" for line in _lines(["ip", "netns", "list"])
             if line.startswith(f"shy{slot}-")]
    found += [f"link {name}" for name in os.listdir("/sys/class/net")
              if name == f"shybr{slot}" or name.startswith(f"shyv{slot}-")]
    found += [f"iptables {rule}" for rule in _lines(["iptables", "-S"])
              if f"shybr{slot} " in rule + " "]
    return found


def engine_leftovers(data_dir: Path, slots: set[int],
                     pids: set[tuple[int, str]]) -> list[str]:
    """Everything of a stopped engine still on the machine: see ``slot_leftovers``, plus
    mounts under its data dir, processes naming it (daemons, agents), task commands and
    supervisors seen during the run, and containers on the host's daemon it labelled."""
    found = [x for slot in sorted(slots) for x in slot_leftovers(slot)]
    root = str(data_dir)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(root + "/"):
            found.append(f"mount {point}")
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        argv = cmdline_text(int(name)).strip()
        if root in argv or (argv and (int(name), start_time(int(name))) in pids):
            found.append(f"process {name}: {argv[:100]}")
    found += [f"container {line}" for line in _lines(
        ["docker", "ps", "-a", "--filter", f"label=shipyard.job={MI_JOB}", "-q"])]
    return found


def start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: with the pid, names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""
