"""Pool readiness against its floor, and what idle nodes cost in memory.

Product: ``create_pool`` of ``n`` nodes with the fat image in ``containerImageNames`` until
every node is idle (polled every 0.1 s). Floor: ``n`` nodes started in parallel with the
node runtime plus the image loaded into one of them. Memory: the resident set of each
node's dockerd and everything below it (containerd, shims), summed, per node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.floor import FloorPool
from bench.harness import BenchEngine
from shipyard.engine.nodes.procs import descendants


def rss_mb(pids: set[int]) -> float:
    """Summed VmRSS of ``pids`` in MB (gone processes count 0)."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def node_rss_mb(eng: BenchEngine, pool_id: str) -> list[float]:
    """Per node of ``pool_id``: RSS of its dockerd and all its descendants."""
    return [rss_mb({h.pid} | descendants({h.pid})) for h in eng.node_handles(pool_id)]


def engine_rss_mb(eng: BenchEngine) -> float:
    assert eng.state is not None
    return rss_mb({eng.state.pid})


def floor_ready(root: Path, count: int, image: str) -> float:
    """Seconds to start ``count`` nodes in parallel plus load ``image`` into one."""
    with FloorPool(root, count) as floor:
        return floor.start() + floor.preload(image)


@dataclass(frozen=True)
class PoolSample:
    """One pool made ready: seconds to idle, per-node RSS once idle, engine RSS."""

    nodes: int
    ready_s: float
    node_rss: list[float]
    engine_rss: float


def product_ready(eng: BenchEngine, pool_id: str, count: int, images: list[str],
                  settle: float = 2.0) -> PoolSample:
    """Create a pool, time it to idle, measure memory once settled, delete it."""
    try:
        seconds = eng.ready_pool(pool_id, count, images)
        time.sleep(settle)
        return PoolSample(count, seconds, node_rss_mb(eng, pool_id), engine_rss_mb(eng))
    finally:
        eng.delete_pool(pool_id)


def paired_ready(eng: BenchEngine, count: int, image: str, reps: int) -> tuple[
        list[float], list[float], list[PoolSample]]:
    """``reps`` product and floor measurements, alternating which goes first."""
    product: list[float] = []
    floor: list[float] = []
    samples: list[PoolSample] = []
    for rep in range(reps):
        for side in (("floor", "product") if rep % 2 == 0 else ("product", "floor")):
            if side == "floor":
                floor.append(floor_ready(eng.data_dir / "f", count, image))
            else:
                samples.append(product_ready(eng, f"ready-{count}-{rep}", count, [image]))
                product.append(samples[-1].ready_s)
    return product, floor, samples
