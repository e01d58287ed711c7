"""Two or more source trees of the CLI side by side on one engine: start-up and mi_overhead.

    sudo .venv/bin/python -m bench.clicompare --reps 7 before=/tmp/old/src after=src

A machine shared with other work drifts by tens of percent within minutes, so a change is
judged by runs taken in turns, not by two runs of ``scripts/bench``. Each rep runs the
by-hand floor (``mi.floor_run``) and, for every tree, ``jobs add --tail`` twice: once
through the timestamping proxy (``clistart.jobs_add``: start-up timeline and CPU) and once
as ``mi_overhead_ratio`` runs it (``mi.product_run``, no proxy), paired with that rep's
floor. The engine and the bench code are the current tree's; only the CLI's ``src`` differs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import clistart, images, mi
from bench.figures import HELLO
from bench.harness import BenchEngine, NodeHandle

log = logging.getLogger("bench")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clicompare", description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("trees", nargs="+", metavar="LABEL=SRC")
    args = parser.parse_args(argv)
    trees = dict(tree.split("=", 1) for tree in args.trees)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s bench: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("azure").setLevel(logging.WARNING)
    images.ensure_all()
    with BenchEngine() as eng:
        config = eng.data_dir / "cfg-mi"
        mi.write_config(config, "mi", 4, mi.RING_IMAGE)
        mi.shipyard(config, eng.data_dir, "pool", "add")
        handles = eng.node_handles("mi")
        eng.netns_seen |= {h.spec.netns for h in handles}
        try:
            for label, summary in compare(eng, config, handles, trees, args.reps).items():
                print(label, json.dumps(summary, sort_keys=True))
        finally:
            eng.delete_pool("mi")
    return 0


def compare(eng: BenchEngine, config: Path, handles: list[NodeHandle],
            trees: dict[str, str], reps: int) -> dict[str, dict[str, float]]:
    keys = eng.data_dir / "keys-mi"
    mi.write_keys(keys, [h.ip for h in handles])
    floor: list[float] = []
    helps: dict[str, list[clistart.Exit]] = {label: [] for label in trees}
    timed: dict[str, list[clistart.AddRun]] = {label: [] for label in trees}
    product: dict[str, list[float]] = {label: [] for label in trees}
    saved = os.environ.get("PYTHONPATH")
    try:
        with clistart.Proxy((eng.settings.host, eng.settings.port)) as proxy:
            view = clistart.view_dir(eng.data_dir, proxy.url, eng.data_dir / "view-cmp")
            for rep in range(reps):
                log.info("compare rep %d", rep)
                floor.append(mi.floor_run(handles, keys, f"cmp-floor-{rep}", HELLO)[0])
                for label in list(trees) if rep % 2 == 0 else list(reversed(trees)):
                    # The CLI subprocesses import this tree's src (mi and clistart pass
                    # the environment on).
                    os.environ["PYTHONPATH"] = f"{trees[label]}:{Path(__file__).parent.parent}"
                    helps[label].append(clistart.help_run(view))
                    timed[label].append(clistart.jobs_add(config, view, proxy, eng.batch,
                                                          f"cmp-{label}-{rep}", 4, HELLO))
                    mi.settle(eng.batch, f"cmp-{label}-{rep}", len(handles))
                    product[label].append(mi.product_run(config, eng.data_dir,
                                                         f"cmpm-{label}-{rep}", 4, HELLO)[0])
                    mi.settle(eng.batch, f"cmpm-{label}-{rep}", len(handles))
    finally:
        os.environ.pop("PYTHONPATH", None)
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
    return {label: _summary(helps[label], timed[label], product[label], floor)
            for label in trees}


def _summary(helps: list[clistart.Exit], runs: list[clistart.AddRun], product: list[float],
             floor: list[float]) -> dict[str, float]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "help_s": med([h.seconds for h in helps]),
        "help_cpu_s": med([h.cpu for h in helps]),
        "first_request_s": med([r.since_start() for r in runs]),
        "first_request_cpu_s": med([r.first().cpu for r in runs]),
        "get_pool_s": med([r.since_start(clistart.SDK_FIRST) for r in runs]),
        "get_pool_cpu_s": med([r.first(clistart.SDK_FIRST).cpu for r in runs]),
        "task_create_s": med([r.since_start(clistart.CREATE) for r in runs]),
        "exit_after_end_s": med([r.end_lag for r in runs]),
        "cli_cpu_s": med([r.exit.cpu for r in runs]),
        "requests": med([float(len(r.arrivals)) for r in runs]),
        "mi_overhead_ratio": med([p / f for p, f in zip(product, floor, strict=True)]),
        "floor_s": med(floor),
    }


if __name__ == "__main__":
    sys.exit(main())
