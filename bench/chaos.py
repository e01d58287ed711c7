"""``scripts/chaos [--minutes N] [--seed S]``: the project's own soak under injected faults.

A real engine on a tmpfs data dir runs a 4-node pool busy with plain and multi-instance
MPI tasks while faults are injected one after another in a seeded order (every kind once
before any repeats; see chaos_faults.py and chaos_net.py). Then the work drains, every
acknowledged task is checked against what really happened to it, everything is deleted,
the engine stopped, and the machine searched for anything left behind. Figures (records
lost, untrue results, orphans by kind, recovery per fault) are printed and written to
``bench/chaos.md``; the exit status is 1 unless lost, untrue and orphans are all zero.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from azure.batch import BatchClient, models

from bench import chaos_faults as faults
from bench import chaos_net as net
from bench.chaos_faults import Chaos, Event, until
from bench.chaos_work import (
    MI_JOB,
    NODES,
    PLAIN_JOB,
    POOL,
    ChaosEngine,
    Expect,
    Workload,
    engine_leftovers,
    fetch_all,
    verdict,
)
from bench.harness import node_place, wait_for
from bench.mi import RING_IMAGE

log = logging.getLogger("chaos")
REPORT = Path(__file__).with_name("chaos.md")
ENGINE_LOG = Path(tempfile.gettempdir()) / "chaos-engine.log"

KINDS: dict[str, Callable[[Chaos], list[Event]]] = {
    "command": faults.kill_command,
    "supervisor": faults.kill_supervisor,
    "engine": faults.kill_engine,
    "dockerd": faults.kill_dockerd,
    "containerd": faults.kill_containerd,
    "agent": faults.kill_agent,
    "sshd-barrier": partial(net.kill_sshd, during_barrier=True),
    "sshd-application": partial(net.kill_sshd, during_barrier=False),
    "veth": net.veth_down,
    "pools": faults.engine_during_pools,
    "reboot": faults.reboot_node,
    "disk": net.fill_disk,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="injection time")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--kinds", default=",".join(sorted(KINDS)),
                        help=f"comma-separated subset of: {', '.join(sorted(KINDS))}")
    args = parser.parse_args(argv)
    args.kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("azure").setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    engine = ChaosEngine()
    chaos: Chaos | None = None
    try:
        engine.start()
        chaos = Chaos(engine, Workload(engine, rng), rng, set(), [])
        events, slots = soak(chaos, args.minutes * 60, args.kinds)
        figures = judge(chaos)
    finally:
        teardown_orphans = teardown(engine, chaos)
    if chaos is None:
        return 1
    orphans = chaos.orphans + teardown_orphans
    text = report(args, events, figures, orphans, slots)
    print(text)
    args.report.write_text(text)
    bad = figures["lost"] + figures["untrue"] + len(orphans)
    return 0 if bad == 0 else 1


def soak(c: Chaos, seconds: float, kinds: list[str]) -> tuple[list[Event], set[int]]:
    """Keep the pool busy and inject ``kinds`` in a seeded order for ``seconds``; the
    events, and the pool slots (for the leftover search)."""
    slots = _busy_pool(c)
    events: list[Event] = []
    deadline = time.monotonic() + seconds
    queue: list[str] = []
    while time.monotonic() < deadline:
        if not queue:
            queue = sorted(kinds)
            c.rng.shuffle(queue)
        kind = queue.pop(0)
        time.sleep(c.rng.uniform(2, 6))
        got = _inject(c, kind)
        if not got:
            queue.append(kind)  # no target now: later
        events += got
    return events, slots


def _busy_pool(c: Chaos) -> set[int]:
    """The pool, idle, then kept busy by the workload; its slots."""
    client = c.client()
    client.create_pool(models.BatchPoolCreateOptions({
        "id": POOL, "vmSize": "standard_d2_v3", "targetDedicatedNodes": NODES,
        "enableInterNodeCommunication": True, "taskSlotsPerNode": 1,
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
            "containerConfiguration": {"type": "dockerCompatible",
                                       "containerImageNames": [RING_IMAGE]}}}))
    wait_for("the pool's nodes idle", lambda: faults.pool_whole(c, POOL, NODES), 300, 0.5)
    slots = {node_place(str(n.ip_address))[0] for n in client.list_nodes(POOL)}
    with tempfile.TemporaryDirectory() as work_dir:
        c.work.create(client, Path(work_dir))
    c.work.start()
    return slots


def _inject(c: Chaos, kind: str) -> list[Event]:
    log.info("inject: %s", kind)
    try:
        got = KINDS[kind](c)
    except Exception as exc:  # an injector that broke is a finding, not a crash
        log.exception("injector %s failed", kind)
        got = [Event(f"{kind} (injector error)", "-", None, str(exc)[:200])]
    for event in got:
        log.info("  %s %s: recovered in %s (%s)", event.kind, event.target,
                 "NEVER" if event.recovery_s is None else f"{event.recovery_s:.1f} s",
                 event.note)
    return got


def judge(c: Chaos) -> dict[str, float]:
    """Drain the work, then compare every acknowledged task with what happened to it."""
    c.work.stop()
    client = c.client()
    until(lambda: not [t for t in fetch_all(client).values() if t.state != "completed"], 300, 1)
    tasks = fetch_all(client)
    figures: Counter[str] = Counter(acknowledged=len(c.work.expected),
                                    unacknowledged=c.work.unacknowledged)
    runs: list[float] = []
    for key, expect in sorted(c.work.expected.items()):
        task = tasks.get(key)
        if task is not None and _in_window(c, client, task, expect):
            expect.touched.add("node daemons")
        if task is not None and task.state != "completed":
            figures["unfinished"] += 1
            continue
        problem = verdict(expect, task)
        if problem:
            figures["lost" if task is None else "untrue"] += 1
            log.error("%s/%s: %s (touched by %s); stderr: %s", key[0], key[1], problem,
                      sorted(expect.touched), _stderr(client, *key))
        if task is not None and expect.multi and task.execution_info and \
                task.execution_info.result == "success":
            runs.append((task.execution_info.end_time - task.execution_info.start_time)
                        .total_seconds())
        if task is not None:
            info = task.execution_info
            figures["completed"] += 1
            figures["requeued"] += int(bool(info and info.requeue_count))
            figures["failed"] += int(bool(info and info.result == "failure"))
    for name in ("lost", "untrue", "unfinished"):
        figures.setdefault(name, 0)
    figures["mpi task median s"] = round(statistics.median(runs), 1) if runs else 0
    return dict(figures)


def _in_window(c: Chaos, client: BatchClient, task: models.BatchTask,
               expect: Expect) -> bool:
    """Whether a node the task ran on had its daemons broken while it ran there."""
    info = task.execution_info
    if not c.windows or info is None or info.start_time is None:
        return False
    began = info.start_time.timestamp()
    ended = info.end_time.timestamp() if info.end_time else time.time()
    nodes = {task.node_info.node_id} if task.node_info else set()
    if expect.multi:
        nodes |= {s.node_info.node_id for s in client.list_subtasks(MI_JOB, task.id)
                  if s.node_info}
    return any(node in nodes and start <= ended and began <= end
               for node, start, end in c.windows)


def _stderr(client: BatchClient, job_id: str, task_id: str) -> str:
    texts = []
    try:
        texts.append(b"".join(client.download_task_file(job_id, task_id, "stderr.txt")))
        if job_id == MI_JOB:  # each instance's output is on its own node
            for sub in client.list_subtasks(job_id, task_id):
                texts.append(b"".join(client.download_node_file(
                    POOL, sub.node_info.node_id,
                    f"workitems/{job_id}/job-1/{task_id}/stderr.txt")))
    except Exception as exc:  # a report detail: never fail the judgement over it
        texts.append(str(exc).encode())
    return " | ".join(t.decode(errors="replace")[-400:] for t in texts)


def teardown(engine: ChaosEngine, c: Chaos | None) -> list[str]:
    """Delete jobs and pools, stop the engine; what is left on the machine after that."""
    slots: set[int] = set()
    try:
        if c is not None and engine.state is not None:
            client = c.client()
            for job_id in (PLAIN_JOB, MI_JOB):
                client.begin_delete_job(job_id, polling_interval=1)
            for pool in client.list_pools():
                slots |= {int(str(n.ip_address).split(".")[2])
                          for n in client.list_nodes(pool.id)}
                client.begin_delete_pool(pool.id, polling_interval=1)
            until(lambda: not list(client.list_pools()), 300, 1)
    finally:
        with contextlib.suppress(OSError):  # kept for reading findings after the run
            shutil.copy(engine.settings.log_file, ENGINE_LOG)
        engine.close()
    pids = c.seen_pids if c is not None else set()
    until(lambda: not engine_leftovers(engine.data_dir, slots, pids), 30, 1)
    return engine_leftovers(engine.data_dir, slots, pids)


def report(args: argparse.Namespace, events: list[Event], figures: dict[str, float],
           orphans: list[str], slots: set[int]) -> str:
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    lines = [f"# Chaos soak: {args.minutes:g} minutes, seed {args.seed}", "",
             f"`scripts/chaos --minutes {args.minutes:g} --seed {args.seed}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a real engine on a "
             f"tmpfs data dir, {NODES}-node pool, plain and 2-instance MPI tasks.", "",
             "| figure | value |", "|---|---|"]
    lines += [f"| {name} | {figures.get(name, 0)} |" for name in (
        "lost", "untrue", "unfinished", "acknowledged", "unacknowledged", "completed",
        "failed", "requeued", "mpi task median s")]
    lines += [f"| orphans | {len(orphans)} |", "", "## Faults", "",
              "| fault | injected | recovery median (s) | max (s) | unrecovered | note |",
              "|---|---|---|---|---|---|"]
    for kind in sorted(by_kind):
        got = by_kind[kind]
        times = [e.recovery_s for e in got if e.recovery_s is not None]
        median = f"{statistics.median(times):.1f}" if times else "-"
        worst = f"{max(times):.1f}" if times else "-"
        lines.append(f"| {kind} | {len(got)} | {median} | {worst} | "
                     f"{len(got) - len(times)} | {got[-1].note} |")
    missing = sorted(set(args.kinds) - {k for k in KINDS if any(
        e.kind.startswith(_label(k)) and not e.note.startswith("not injected")
        for e in events)})
    lines += ["", f"Fault kinds not injected: {', '.join(missing) or 'none'}.", "",
              "## Orphans", ""]
    lines += [f"- {o}" for o in orphans] or ["none: no netns, veth, bridge, iptables rule, "
                                             "mount, daemon, process or container left"]
    return "\n".join(lines) + "\n"


def _label(kind: str) -> str:
    return {"command": "kill -9 task command", "supervisor": "kill -9 task supervisor",
            "engine": "kill -9 engine, restart", "dockerd": "kill -9 node dockerd",
            "containerd": "kill -9 node containerd", "agent": "kill -9 node launch agent",
            "sshd-barrier": "kill -9 sshd in MPI container (coordination",
            "sshd-application": "kill -9 sshd in MPI container (application",
            "veth": "node veth down", "pools": "kill -9 engine during pool",
            "reboot": "kill -9 engine during node reboot",
            "disk": "data dir file system full"}[kind]


if __name__ == "__main__":
    sys.exit(main())
