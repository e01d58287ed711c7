"""Pool readiness against its floor, and what idle nodes cost in memory.

Product: ``create_pool`` of ``n`` nodes with the fat image in ``containerImageNames`` until
every node is idle (polled every 0.1 s), cold: the engine's prepared image store of the
image (nodes/imagestore.py) is evicted first, so the pool pays for preparing it; the warm
case (store present, as for every later pool with that image) is measured separately.
Floor: ``n`` nodes started in parallel with the node runtime plus the image loaded into one
of them. Memory: the resident set of each node's dockerd and everything below it
(containerd, shims), summed, per node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.floor import FloorPool
from bench.harness import BenchEngine
from shipyard.engine.nodes import imagestore
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
                  settle: float = 2.0, cold: bool = True) -> PoolSample:
    """Create a pool, time it to idle, measure memory once settled, delete it.

    ``cold`` first evicts the engine's prepared image stores of ``images`` (the host
    archive stays cached, as it does for the engine across pools).
    """
    if cold:
        for image in images:
            imagestore.evict(eng.settings.images_dir, image)
    try:
        seconds = eng.ready_pool(pool_id, count, images)
        time.sleep(settle)
        return PoolSample(count, seconds, node_rss_mb(eng, pool_id), engine_rss_mb(eng))
    finally:
        eng.delete_pool(pool_id)


@dataclass(frozen=True)
class Paired:
    """Side-by-side pool readiness: cold product, floor and warm product of each rep."""

    product: list[float]
    floor: list[float]
    warm: list[float]
    samples: list[PoolSample]


def paired_ready(eng: BenchEngine, count: int, image: str, reps: int) -> Paired:
    """``reps`` cold product and floor measurements, alternating which goes first; each
    cold product is followed by a warm one (the prepared image store it left behind)."""
    out = Paired([], [], [], [])
    for rep in range(reps):
        for side in (("floor", "product") if rep % 2 == 0 else ("product", "floor")):
            if side == "floor":
                out.floor.append(floor_ready(eng.data_dir / "f", count, image))
            else:
                out.samples.append(product_ready(eng, f"ready-{count}-{rep}", count, [image]))
                out.product.append(out.samples[-1].ready_s)
                warm = product_ready(eng, f"warm-{count}-{rep}", count, [image], cold=False)
                out.warm.append(warm.ready_s)
    return out
