"""Plain-task throughput, per-task overhead and API latency on a pool with 2 slots per node.

``n`` tasks running ``/bin/true`` go through ``create_tasks`` (the SDK sends them 100 per
request); submission rate is ``n`` over the time ``create_tasks`` took, completion rate
``n`` over the time from its start until the job's task counts show all completed. The
per-task overhead is the slot-seconds a task occupied on average (wall time x slots / n);
its floor is ``/bin/true`` run directly in a node of the same pool (nsenter, no supervisor)
and waited for (``floor.run_direct``).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from azure.batch import models
from azure.core.rest import HttpRequest

from bench.floor import run_direct
from bench.harness import BenchEngine, wait_for
from bench.stats import percentile


@dataclass(frozen=True)
class Throughput:
    """One batch of ``n`` tasks: seconds to submit and to complete (from submit start)."""

    n: int
    slots: int
    submit_s: float
    complete_s: float

    @property
    def submit_per_s(self) -> float:
        return self.n / self.submit_s

    @property
    def complete_per_s(self) -> float:
        return self.n / self.complete_s

    @property
    def per_task_s(self) -> float:
        return self.complete_s * self.slots / self.n


def run_batch(eng: BenchEngine, pool_id: str, job_id: str, n: int, slots: int,
              timeout: float = 1800) -> Throughput:
    client = eng.batch
    client.create_job(models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(
        pool_id=pool_id)))
    tasks = [models.BatchTaskCreateOptions(id=f"t{i:05d}", command_line="/bin/true")
             for i in range(n)]
    started = time.monotonic()
    result = client.create_tasks(job_id, tasks)
    submitted = time.monotonic() - started
    failed = [r for r in result.result_values or [] if str(r.status).lower() != "success"]
    if failed:
        raise RuntimeError(f"{len(failed)} tasks were not added: {failed[:3]}")

    def all_done() -> models.BatchTaskCounts | None:
        counts = client.get_job_task_counts(job_id).task_counts
        return counts if counts.completed >= n else None

    counts = wait_for(f"{n} tasks of {job_id} to complete", all_done, timeout)
    completed = time.monotonic() - started
    if counts.failed:
        raise RuntimeError(f"{counts.failed} of {n} /bin/true tasks failed in {job_id}: "
                           f"{_failures(eng, job_id)}")
    return Throughput(n, slots, submitted, completed)


def _failures(eng: BenchEngine, job_id: str, limit: int = 3) -> list[str]:
    out: list[str] = []
    for task in eng.batch.list_tasks(job_id):
        info = task.execution_info
        if info is not None and info.result == "failure" and len(out) < limit:
            why = info.failure_info.message if info.failure_info else f"exit {info.exit_code}"
            out.append(f"{task.id}: {why}")
    return out


def direct_floor(eng: BenchEngine, pool_id: str, reps: int) -> list[float]:
    """Seconds for ``/bin/true`` launched directly on the pool's nodes, ``reps`` times."""
    handles = eng.node_handles(pool_id)
    out = []
    for i in range(reps):
        h = handles[i % len(handles)]
        out.append(run_direct(h.pid, ["/bin/true"]))
    return out


@dataclass(frozen=True)
class ApiLatency:
    """Milliseconds per call of get_task and of one page (100) of list_tasks; ``raw_ms`` is
    that page as a plain signed request (the engine alone, no SDK models)."""

    get_ms: list[float]
    list_ms: list[float]
    raw_ms: list[float]

    def p(self, q: float) -> dict[str, float]:
        return {"get_task": percentile(self.get_ms, q), "list_tasks": percentile(self.list_ms, q),
                "list_tasks_raw": percentile(self.raw_ms, q)}


def timed_ms(call: Callable[[], object], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def api_latency(eng: BenchEngine, job_id: str, n: int, calls: int) -> ApiLatency:
    """The calls one after another; the benchmark's own heap is frozen out of the garbage
    collector first, so its earlier phases do not bill their collections to the API."""
    client = eng.batch
    rng = random.Random(7)

    def one_page() -> None:
        found = list(next(iter(client.list_tasks(job_id, max_results=100).by_page())))
        if len(found) != min(100, n):
            raise RuntimeError(f"a page of list_tasks held {len(found)} tasks, not 100")

    assert eng.state is not None
    raw = HttpRequest("GET", f"{eng.state.url}/jobs/{job_id}/tasks?maxresults=100")
    gc.collect()
    gc.freeze()
    try:
        return ApiLatency(
            timed_ms(lambda: client.get_task(job_id, f"t{rng.randrange(n):05d}"), calls),
            timed_ms(one_page, calls),
            timed_ms(lambda: client.send_request(raw).read(), calls))
    finally:
        gc.unfreeze()


def delete_job(eng: BenchEngine, job_id: str) -> None:
    eng.batch.begin_delete_job(job_id, polling_interval=1)
