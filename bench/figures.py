"""Each group of figures: set up on the benchmark's engine, measure side by side, summarize.

A group returns its ``Figure`` rows and, for the scaling plot, its raw points. Every pool
a group makes is deleted in ``finally`` (and ``BenchEngine.close`` deletes any left).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field

from bench import bare, clistart, mi, pools, tasks
from bench.harness import BenchEngine, NodeHandle
from bench.images import FAT_IMAGE
from bench.stats import Figure, Stat, Target, paired_ratios

log = logging.getLogger("bench")

HELLO = "/usr/local/bin/ring 10 10"
PINGPONG = "/usr/local/bin/ring 0 3000"


@dataclass(frozen=True)
class Plan:
    """How much to measure: repetitions and which scaling points."""

    reps: int
    #: MPI ping-pong repetitions: run-to-run spread is ~10% here, the target band 5%.
    mpi_reps: int
    pool_reps: int
    task_reps: int
    rss_nodes: tuple[int, ...]
    task_sizes: tuple[int, ...]
    api_calls: int
    #: Whether the extra memory pools carry the fat image and get a floor (for the plot).
    scale_with_image: bool = True


@dataclass
class Points:
    """Raw points for the scaling plot: x -> seconds (product and floor)."""

    pool_ready: dict[int, tuple[float, float]] = field(default_factory=dict)
    per_task: dict[int, tuple[float, float]] = field(default_factory=dict)


def pool_group(eng: BenchEngine, plan: Plan, points: Points) -> list[Figure]:
    log.info("pool readiness: 4 nodes with %s, %d reps", FAT_IMAGE, plan.pool_reps)
    paired = pools.paired_ready(eng, 4, FAT_IMAGE, plan.pool_reps)
    points.pool_ready[4] = (statistics.median(paired.product), statistics.median(paired.floor))
    rss = {4: [mb for s in paired.samples for mb in s.node_rss]}
    engine = [s.engine_rss for s in paired.samples]
    for count in (n for n in plan.rss_nodes if n != 4):
        log.info("pool memory%s: %d nodes", " and readiness" * plan.scale_with_image, count)
        images = [FAT_IMAGE] if plan.scale_with_image else []
        sample = pools.product_ready(eng, f"scale-{count}", count, images)
        if plan.scale_with_image:
            floor_s = pools.floor_ready(eng.data_dir / "f", count, FAT_IMAGE)
            points.pool_ready[count] = (sample.ready_s, floor_s)
        rss[count] = sample.node_rss
        engine.append(sample.engine_rss)
    return _pool_rows(paired, rss, engine, plan.scale_with_image)


def _pool_rows(paired: pools.Paired, rss: dict[int, list[float]], engine: list[float],
               scale_with_image: bool) -> list[Figure]:
    product, floor = paired.product, paired.floor
    per_n = {n: statistics.median(v) for n, v in sorted(rss.items())}
    worst = max(per_n, key=lambda n: per_n[n])
    return [
        Figure("pool_ready_ratio", "4-node pool ready, 300 MB image", "s", Stat.of(product),
               Stat.of(floor), paired_ratios(product, floor), Target("<=", 1.5),
               note="create_pool to all idle (SDK, polled every 0.1 s), cold: the engine's "
                    "prepared image store evicted first, vs start_node x4 in parallel + "
                    "preload_image into one node, alternating order per rep"),
        Figure("pool_ready_warm_ratio", "4-node pool ready, 300 MB image already prepared",
               "s", Stat.of(paired.warm), Stat.of(floor), paired_ratios(paired.warm, floor),
               note="as pool_ready_ratio, but the image store the cold pool prepared is kept "
                    "(any later pool with that image); against the same floor runs"),
        Figure("node_rss_mb", "RSS per idle node (dockerd + containerd + shims)", "MB",
               Stat.of(rss[worst]), target=Target("<=", 150),
               note="headline = the node count with the highest median (all pools idle; "
                    f"{'with' if scale_with_image else 'only the 4-node pool has'} "
                    "the 300 MB image): "
                    + ", ".join(f"{n} nodes {mb:.0f} MB" for n, mb in per_n.items()),
               extra={"per_nodes_median_mb": per_n}),
        Figure("engine_rss_mb", "engine RSS (idle pools)", "MB", Stat.of(engine),
               note="the engine process's VmRSS after each pool turned idle"),
    ]


def mi_group(eng: BenchEngine, plan: Plan) -> list[Figure]:
    config = eng.data_dir / "cfg-mi"
    mi.write_config(config, "mi", 4, mi.RING_IMAGE)
    log.info("multi-instance: shipyard pool add (4 nodes, %s)", mi.RING_IMAGE)
    mi.shipyard(config, eng.data_dir, "pool", "add")
    try:
        handles = eng.node_handles("mi")
        eng.netns_seen |= {h.spec.netns for h in handles}
        out = _mi_overhead(eng, plan, handles)
        out += clistart.figures(eng, config, plan.reps, HELLO)
        out += _mpi_ratios(eng, plan, handles)
    finally:
        eng.delete_pool("mi")
    return out


def _mi_overhead(eng: BenchEngine, plan: Plan, handles: list[NodeHandle]) -> list[Figure]:
    config, keys = eng.data_dir / "cfg-mi", eng.data_dir / "keys-mi"
    mi.write_keys(keys, [h.ip for h in handles])
    product: list[float] = []
    engine: list[float] = []
    floor: list[float] = []
    for rep in range(plan.reps):
        log.info("multi-instance rep %d", rep)
        for side in (("floor", "product") if rep % 2 == 0 else ("product", "floor")):
            if side == "floor":
                seconds, out = mi.floor_run(handles, keys, f"bench-mi-{rep}", HELLO)
                floor.append(seconds)
            else:
                seconds, out = mi.product_run(config, eng.data_dir, f"mi-{rep}", 4, HELLO)
                product.append(seconds)
                engine.append(mi.engine_seconds(eng.batch, f"mi-{rep}"))
                # The job's release task removes its containers after the CLI exits: the
                # next run (often the floor's) must not share the nodes with that cleanup.
                mi.settle(eng.batch, f"mi-{rep}", len(handles))
            if mi.hello_count(out) != 4:
                raise RuntimeError(f"{side} run {rep}: expected 4 hello lines:\n{out[-800:]}")
    return [
        Figure("mi_overhead_ratio", "4-instance Docker MPI hello, jobs add --tail", "s",
               Stat.of(product), Stat.of(floor), paired_ratios(product, floor),
               Target("<=", 1.15),
               note="`shipyard jobs add --tail stdout.txt` (CLI subprocess) to exit vs by hand "
                    "on the same idle nodes: docker run -d --net=host x4 in parallel, wait for "
                    "sshd, docker exec mpirun on the master, docker rm -f x4 (`ring 10 10`)"),
        Figure("mi_engine_ratio", "the same runs, task created to completed on the engine",
               "s", Stat.of(engine), Stat.of(floor), paired_ratios(engine, floor),
               note="the product's time without the CLI process (start-up, requests, "
                    "noticing the end): the task's creationTime to its endTime"),
    ]


def _mpi_ratios(eng: BenchEngine, plan: Plan, handles: list[NodeHandle]) -> list[Figure]:
    """Each rep is bare, job, bare: the job is compared with the mean of the bare runs
    around it (drift cancels), and the two bare runs with each other (the A/A spread: how
    far apart two identical measurements land on this machine)."""
    rootfs, keys = eng.data_dir / "rootfs", eng.data_dir / "keys-bare"
    config = eng.data_dir / "cfg-mi"
    bare.export_rootfs(rootfs)
    pair = handles[:2]
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "product": [], "after": []}
    with bare.sshds(pair, rootfs, keys):
        for rep in range(plan.mpi_reps):
            log.info("mpi ping-pong rep %d", rep)
            runs["before"].append(bare.pingpong(bare.run(pair, rootfs, keys,
                                                         PINGPONG.split())[1]))
            runs["product"].append(bare.pingpong(mi.job_output(
                config, eng.data_dir, eng.batch, f"pp-{rep}", 2, PINGPONG)))
            runs["after"].append(bare.pingpong(bare.run(pair, rootfs, keys,
                                                        PINGPONG.split())[1]))
    return [_pingpong_figure(runs, 0, "mpi_latency_ratio", "MPI ping-pong latency, 8 B "
                             "(job / bare)", "us", "3000 iterations, each run reports its "
                             "median batch of 200"),
            _pingpong_figure(runs, 1, "mpi_bandwidth_ratio", "MPI ping-pong bandwidth, 1 MiB "
                             "(job / bare)", "MB/s", "300 round trips of 1 MiB in 15 batches, "
                             "the median batch")]


def _pingpong_figure(runs: dict[str, list[tuple[float, float]]], column: int, key: str,
                     label: str, unit: str, detail: str) -> Figure:
    product = [r[column] for r in runs["product"]]
    before, after = ([r[column] for r in runs[k]] for k in ("before", "after"))
    floor = [(b + a) / 2 for b, a in zip(before, after, strict=True)]
    spread = paired_ratios(after, before)
    return Figure(key, label, unit, Stat.of(product), Stat.of(floor),
                  paired_ratios(product, floor), Target("~", 1.0, 0.05),
                  note="2-instance job on the engine (`shipyard jobs add`, completion polled "
                       "every 0.5 s) vs the image's ring binary chrooted in the same two node "
                       "namespaces without containers (bench/bare.py), run just before and "
                       f"just after the job; {detail}. A/A: the bare run after / the one "
                       f"before: {spread.median:.3f} ({spread.min:.3f}..{spread.max:.3f})",
                  extra={"aa_median": spread.median, "aa_min": spread.min,
                         "aa_max": spread.max})


def task_group(eng: BenchEngine, plan: Plan, points: Points) -> list[Figure]:
    log.info("plain tasks: pool of 4 nodes x 2 slots")
    eng.ready_pool("tp", 4, [], slots=2)
    try:
        return _task_figures(eng, plan, points)
    finally:
        eng.delete_pool("tp")


def _task_figures(eng: BenchEngine, plan: Plan, points: Points) -> list[Figure]:
    direct = tasks.direct_floor(eng, "tp", 20)
    runs = []
    for rep in range(plan.task_reps):
        log.info("1000 tasks rep %d", rep)
        runs.append(tasks.run_batch(eng, "tp", f"tasks-{rep}", 1000, 8))
    log.info("api latency: %d calls each", plan.api_calls)
    api = tasks.api_latency(eng, "tasks-0", 1000, plan.api_calls)
    for rep in range(plan.task_reps):
        tasks.delete_job(eng, f"tasks-{rep}")
    floor_s = statistics.median(direct)
    points.per_task[1000] = (statistics.median(r.per_task_s for r in runs), floor_s)
    for size in (s for s in plan.task_sizes if s != 1000):
        log.info("%d tasks (scaling)", size)
        run = tasks.run_batch(eng, "tp", f"scale-{size}", size, 8)
        points.per_task[size] = (run.per_task_s, floor_s)
        tasks.delete_job(eng, f"scale-{size}")
    return _task_rows(runs, direct, api, plan.api_calls)


def _task_rows(runs: list[tasks.Throughput], direct: list[float], api: tasks.ApiLatency,
               calls: int) -> list[Figure]:
    per_task = [r.per_task_s for r in runs]
    floor_s = statistics.median(direct)
    p50, p99 = api.p(50), api.p(99)
    return [
        Figure("submit_tasks_per_s", "1,000 tasks: submission rate", "tasks/s",
               Stat.of([r.submit_per_s for r in runs]), target=Target(">=", 100),
               note="create_tasks of 1,000 `/bin/true` tasks (SDK, 100 per request)"),
        Figure("complete_tasks_per_s", "1,000 tasks: completion rate (4 nodes x 2 slots)",
               "tasks/s", Stat.of([r.complete_per_s for r in runs]), target=Target(">=", 20),
               note="1,000 / seconds from create_tasks start to all completed"),
        Figure("per_task_overhead_ratio", "per-task slot time vs direct launch", "s",
               Stat.of(per_task), Stat.of(direct),
               Stat.of([p / floor_s for p in per_task]),
               note="product: completion wall time x 8 slots / 1,000; floor: `/bin/true` "
                    "run in a node's namespaces with nsenter and waited for, no supervisor "
                    "(median of 20)"),
        Figure("api_p99_ms", "API p99, 1,000 tasks in the job", "ms",
               Stat.of([p99["get_task"], p99["list_tasks"]]), target=Target("<=", 50),
               note=f"{calls} calls each through the SDK; get_task p50 "
                    f"{p50['get_task']:.1f} ms p99 {p99['get_task']:.1f} ms; list_tasks "
                    f"(one page of 100) p50 {p50['list_tasks']:.1f} ms p99 "
                    f"{p99['list_tasks']:.1f} ms, of which the engine's answer alone (the "
                    f"same page as a plain signed request) p50 {p50['list_tasks_raw']:.1f} ms "
                    f"p99 {p99['list_tasks_raw']:.1f} ms and the rest the SDK building 100 "
                    "task models; headline = the worse SDK p99 (value column: the two)",
               extra={"p50": p50, "p99": p99},
               worst=max(p99["get_task"], p99["list_tasks"])),
    ]
