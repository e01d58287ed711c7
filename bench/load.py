"""``python -m bench.load``: the engine under load from many SDK clients at once.

1. 20 jobs and 5,000 tasks submitted by 20 concurrent clients (each its own BatchClient,
   one job, add-collection calls of 100) while the tasks run and complete on a 2-node
   pool: submission and completion throughput, call latency, refusals, and whether
   every acknowledged task exists and completed.
2. Concurrent read-modify-write of a metadata counter by 20 clients, through job PATCH
   and PUT and pool PATCH, with If-Match (retrying on the service's 412
   ConditionNotMet) and without, and pool updateproperties: with If-Match no update may
   be lost; without it the last writer wins, as on the service.
3. Concurrent resizes of one pool from the same read ETag, with and without If-Match:
   exactly one may win; the rest get 412 ConditionNotMet (stale ETag) or 409
   PoolBeingResized.

Figures go to ``bench/load.md``. Not part of scripts/test (it takes a few minutes).
"""

from __future__ import annotations

import logging
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from bench.harness import BenchEngine, wait_for

log = logging.getLogger("load")
CLIENTS, JOBS, TASKS = 20, 20, 5000
POOL = "load"
REPORT = Path(__file__).with_name("load.md")


def new_client(eng: BenchEngine) -> BatchClient:
    assert eng.state is not None
    return BatchClient(eng.state.url, AzureNamedKeyCredential(eng.state.account,
                                                              eng.state.key))


@dataclass
class Calls:
    """Latency and refusals of add-collection calls made from many threads."""

    latencies: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_collection(self, client: BatchClient, job_id: str,
                       body: list[models.BatchTaskCreateOptions]) -> None:
        began = time.monotonic()
        try:
            result = client.create_task_collection(job_id,
                                                   models.BatchTaskGroup(task_values=body))
            refused = [str(r.error.code if r.error else r.status)
                       for r in result.result_values or [] if str(r.status).lower() != "success"]
        except HttpResponseError as exc:
            refused = [f"HTTP {exc.status_code}"]
        with self.lock:
            self.refused.update(refused)
            self.latencies.append(time.monotonic() - began)


def submit(eng: BenchEngine) -> dict[str, float]:
    """20 clients, one job each, 250 tasks each in collections of 100, all at once."""
    calls = Calls()
    began = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda index: _one_client(eng, index, calls), range(JOBS)))
    submitted = time.monotonic() - began
    client = new_client(eng)

    def all_done() -> bool:
        return all(_counts(client, f"load-{i:02d}") == (0, TASKS // JOBS) for i in range(JOBS))

    wait_for("every task completed", all_done, 1200, 1.0)
    finished = time.monotonic() - began
    present = sum(sum(_counts(client, f"load-{i:02d}")) for i in range(JOBS))
    return {"submit_s": submitted, "tasks_per_s_submitted": TASKS / submitted,
            "all_completed_s": finished, "tasks_per_s_completed": TASKS / finished,
            "call_p50_ms": 1000 * statistics.median(calls.latencies),
            "call_p95_ms": 1000 * statistics.quantiles(calls.latencies, n=20)[18],
            "refused": sum(calls.refused.values()), "tasks_present": present,
            "lost": TASKS - present}


def _one_client(eng: BenchEngine, index: int, calls: Calls) -> None:
    """One client of its own: its job, then its tasks in collections of 100."""
    client = new_client(eng)
    job_id, per_job = f"load-{index:02d}", TASKS // JOBS
    client.create_job(models.BatchJobCreateOptions({
        "id": job_id, "poolInfo": {"poolId": POOL}, "onAllTasksComplete": "noaction"}))
    for start in range(0, per_job, 100):
        calls.add_collection(client, job_id, [
            models.BatchTaskCreateOptions({"id": f"t{i:04d}", "commandLine": "/bin/true"})
            for i in range(start, min(per_job, start + 100))])


def _counts(client: BatchClient, job_id: str) -> tuple[int, int]:
    counts = client.get_job_task_counts(job_id).task_counts
    return counts.active + counts.running, counts.completed


@dataclass(frozen=True)
class Target:
    """One resource with a counter in its metadata, and one way to write it."""

    name: str
    read: Callable[[BatchClient], tuple[int, str]]
    write: Callable[[BatchClient, int, str | None], None]


def _meta(count: int) -> list[dict[str, str]]:
    return [{"name": "count", "value": str(count)}]


def targets(eng: BenchEngine) -> list[tuple[Target, bool]]:
    """Job PATCH and PUT, pool PATCH (each with and without If-Match), pool
    updateproperties (the service's replace, which takes no If-Match)."""
    client = new_client(eng)
    client.create_job(models.BatchJobCreateOptions({
        "id": "race", "poolInfo": {"poolId": POOL}, "onAllTasksComplete": "noaction"}))

    def read_job(c: BatchClient) -> tuple[int, str]:
        job = c.get_job("race")
        return int(job.metadata[0].value) if job.metadata else 0, str(job.etag)

    def read_pool(c: BatchClient) -> tuple[int, str]:
        pool = c.get_pool(POOL)
        return int(pool.metadata[0].value) if pool.metadata else 0, str(pool.etag)

    def cond(etag: str | None) -> dict[str, object]:
        return {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}

    patch_job = Target("job PATCH", read_job, lambda c, n, e: c.update_job(
        "race", models.BatchJobUpdateOptions({"metadata": _meta(n)}), **cond(e)))
    put_job = Target("job PUT", read_job, lambda c, n, e: c.replace_job("race", models.BatchJob({
        "poolInfo": {"poolId": POOL}, "priority": 0, "onAllTasksComplete": "noaction",
        "metadata": _meta(n)}), **cond(e)))
    patch_pool = Target("pool PATCH", read_pool, lambda c, n, e: c.update_pool(
        POOL, models.BatchPoolUpdateOptions({"metadata": _meta(n)}), **cond(e)))
    replace_pool = Target("pool updateproperties", read_pool, lambda c, n, e: (
        c.replace_pool_properties(POOL, models.BatchPoolReplaceOptions({
            # certificateReferences left out: the engine refuses it (even empty).
            "metadata": _meta(n), "applicationPackageReferences": []}))))
    return [(patch_job, True), (patch_job, False), (put_job, True), (put_job, False),
            (patch_pool, True), (patch_pool, False), (replace_pool, False)]


def counter_race(eng: BenchEngine, target: Target, conditional: bool,
                 rounds: int = 10) -> dict[str, float]:
    """Each of 20 clients adds 1 to the counter ``rounds`` times: read, add, write."""
    start, _ = target.read(new_client(eng))
    refused = Counter[str]()
    lock = threading.Lock()

    def bump(client: BatchClient) -> None:
        while True:
            count, etag = target.read(client)
            try:
                target.write(client, count + 1, etag if conditional else None)
                return
            except HttpResponseError as exc:
                with lock:
                    refused[str(exc.error.code if exc.error else exc.status_code)] += 1
                if not conditional or exc.status_code != 412:
                    raise

    def client_rounds(_: int) -> None:
        client = new_client(eng)
        for _ in range(rounds):
            bump(client)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client_rounds, range(CLIENTS)))
    final, _ = target.read(new_client(eng))
    return {"updates": CLIENTS * rounds, "final_count": final - start,
            "lost_updates": CLIENTS * rounds - (final - start),
            "412_ConditionNotMet": refused.get("ConditionNotMet", 0)}


def resize_race(eng: BenchEngine, conditional: bool) -> dict[str, float]:
    """20 clients resize the pool at once from the same read of it."""
    client = new_client(eng)
    wait_for("the pool steady", lambda: client.get_pool(POOL).allocation_state == "steady",
             300, 0.5)
    pool = client.get_pool(POOL)
    target = 3 if pool.target_dedicated_nodes == 2 else 2
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def resize(_: int) -> None:
        mine = new_client(eng)
        options = models.BatchPoolResizeOptions({"targetDedicatedNodes": target})
        start.wait()
        try:
            if conditional:
                mine.begin_resize_pool(POOL, options, etag=pool.etag,
                                       match_condition=MatchConditions.IfNotModified,
                                       polling_interval=1)
            else:
                mine.begin_resize_pool(POOL, options, polling_interval=1)
            code = "accepted"
        except HttpResponseError as exc:
            code = f"{exc.status_code} {exc.error.code if exc.error else ''}"
        with lock:
            outcomes[code] += 1

    with ThreadPoolExecutor(CLIENTS) as workers:
        list(workers.map(resize, range(CLIENTS)))
    return dict(outcomes)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    with BenchEngine() as eng:
        eng.create_pool(POOL, 2, [], slots=8)
        eng.wait_idle(POOL, 2)
        load = submit(eng)
        log.info("load: %s", load)
        races = {f"{t.name}, {'If-Match' if cond else 'no If-Match'}":
                 counter_race(eng, t, cond) for t, cond in targets(eng)}
        log.info("races: %s", races)
        resizes = {"pool resize, If-Match": resize_race(eng, True),
                   "pool resize, no If-Match": resize_race(eng, False)}
        log.info("resizes: %s", resizes)
    text = report(load, races, resizes)
    print(text)
    REPORT.write_text(text)
    bad = load["lost"] + sum(r["lost_updates"] for mode, r in races.items()
                             if mode.endswith(", If-Match"))
    bad += sum(1 for r in resizes.values() if r.get("accepted") != 1)
    return 0 if bad == 0 else 1


def report(load: dict[str, float], races: dict[str, dict[str, float]],
           resizes: dict[str, dict[str, float]]) -> str:
    lines = ["# Load: 20 concurrent SDK clients", "",
             f"`python -m bench.load` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             f": {JOBS} jobs, {TASKS} tasks (`/bin/true`) in collections of 100, submitted "
             f"by {CLIENTS} clients at once while they run on a 2-node pool (8 slots each).",
             "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |"
              for k, v in load.items()]
    lines += ["", "## Concurrent updates of one job and one pool (read, add 1, write; "
              "20 clients x 10 each)", "",
              "| mode | updates | final count | lost updates | 412 ConditionNotMet |",
              "|---|---|---|---|---|"]
    lines += [f"| {mode} | {r['updates']} | {r['final_count']} | {r['lost_updates']} | "
              f"{r['412_ConditionNotMet']} |" for mode, r in races.items()]
    lines += ["", "Without If-Match the last writer wins, as on the service: that is what "
              "If-Match is for.", "", "## 20 concurrent resizes of one pool from one read", "",
              "| mode | outcomes |", "|---|---|"]
    lines += [f"| {mode} | {dict(sorted(r.items()))} |" for mode, r in resizes.items()]
    lines += ["", "Pool updateproperties takes no If-Match (neither the service's API nor "
              "the SDK has it): last writer wins there too."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
