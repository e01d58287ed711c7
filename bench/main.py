"""``scripts/bench [--quick] [--json]``: run every figure against its floor and report.

Writes ``results.md`` and ``results.json`` (and, in full mode, ``scaling.png``) into the
output directory; progress goes to stderr, and with ``--json`` the last line of stdout is
the summary object (each figure's headline under its key, plus ``met``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import images, report
from bench.figures import Plan, Points, mi_group, pool_group, task_group
from bench.harness import BenchEngine
from bench.stats import Figure

log = logging.getLogger("bench")
OUT = Path(__file__).resolve().parent

PROFILE_NOTE = ("Where a target is missed, `bench/profile.md` has the profile evidence "
                "(py-spy, importtime, task timelines) and the proposed fix in `src/`.")

QUICK = Plan(reps=3, mpi_reps=5, pool_reps=2, task_reps=1, rss_nodes=(2, 4), task_sizes=(1000,),
             api_calls=100, scale_with_image=False)
FULL = Plan(reps=7, mpi_reps=25, pool_reps=5, task_reps=3, rss_nodes=(2, 4, 8, 16),
            task_sizes=(100, 1000, 5000), api_calls=500)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions, no 8/16-node memory, no scaling plot")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on the last stdout line")
    parser.add_argument("--out", type=Path, default=OUT, help="where results go [bench/]")
    parser.add_argument("--reps", type=int, help="override the repetitions per figure")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def plan_for(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    if args.reps is not None:
        plan = dataclasses.replace(plan, reps=args.reps, mpi_reps=args.reps,
                                   pool_reps=args.reps,
                                   task_reps=min(plan.task_reps, args.reps))
    return plan


def measure(plan: Plan, points: Points) -> list[Figure]:
    images.ensure_all()
    with BenchEngine() as eng:
        log.info("engine %s, data dir %s", eng.settings.url, eng.data_dir)
        figures = mi_group(eng, plan)
        figures += pool_group(eng, plan, points)
        figures += task_group(eng, plan, points)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s bench: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("azure").setLevel(logging.WARNING)
    if os.geteuid() != 0:
        log.error("the benchmark starts nodes (namespaces, dockerd): run it as root")
        return 2
    if not args.quick and importlib.util.find_spec("matplotlib") is None:
        log.error("full mode plots bench/scaling.png: install the dev extra (matplotlib)")
        return 2
    command = "scripts/bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    started = time.monotonic()
    points = Points()
    figures = measure(plan_for(args), points)
    run = report.Run(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), command.strip(),
                     args.quick, time.monotonic() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        from bench.plot import scaling_png

        scaling_png(points, args.out / "scaling.png")
    report.write(args.out, figures, run, preamble=PROFILE_NOTE)
    log.info("wrote %s", args.out / "results.md")
    if args.json:
        print(json.dumps(report.summary(figures, run), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
