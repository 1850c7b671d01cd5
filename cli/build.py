"""`riskmap build`: score units and regions as of a date and publish a snapshot, in this process or with the
units scored on a Dask cluster (`--engine dask`, `geo.engine`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo.store import Store


def add_parser(sub: Any, store_arg: Callable, date_type: Callable, handler: Callable) -> None:
    bd = sub.add_parser("build", help="score units and regions as of a date and publish a snapshot")
    bd.add_argument("--as-of", type=date_type, help="date YYYY-MM-DD (default: today)")
    bd.add_argument(
        "--model",
        type=Path,
        help="scoring model TOML (default: the store's calibrated model (riskmap calibrate), else the shipped one)",
    )
    bd.add_argument("--alerts", type=Path, help="prompt rules TOML (default: the shipped geo/data/alerts.toml)")
    bd.add_argument(
        "--engine",
        choices=("memory", "dask"),
        default="memory",
        help="score units in this process (default, the reference) or on a Dask cluster (pip install riskmap[dask])",
    )
    bd.add_argument("--scheduler", help="with --engine dask: the scheduler, tcp://host:8786 (default: a local cluster)")
    bd.add_argument(
        "--workers", type=int, default=2, help="with --engine dask and no scheduler: local worker processes (2)"
    )
    bd.add_argument(
        "--partitions", type=int, help="with --engine dask: spatial partitions (default 4 per worker, ≥10,000 units)"
    )
    store_arg(bd)
    bd.set_defaults(func=handler)


def run(args: argparse.Namespace, store: Store, as_of: date) -> int:
    from cli.calibrate import print_hints
    from geo.build import build, level_counts

    t0 = time.perf_counter()
    engine = None
    if getattr(args, "engine", "memory") == "dask":
        from geo.engine import DaskEngine

        engine = DaskEngine(scheduler=args.scheduler, workers=args.workers, partitions=args.partitions)
    snap, result = build(store, as_of, args.model, alerts_path=args.alerts, engine=engine)
    elapsed = time.perf_counter() - t0
    units = snap.meta["unit_levels"]
    print(f"snapshot {snap.id} (as of {as_of}, model {result.model_path})")
    print(
        f"units: {snap.meta['units']} ({', '.join(f'{k} {v}' for k, v in units.items())}); "
        f"hazard sites: {snap.meta['hazards']}"
    )
    for level in ("country", "province", "city", "county"):
        counts = level_counts(result.regions, level)
        if sum(counts.values()):
            print(f"{level:8s} regions: {', '.join(f'{k} {v}' for k, v in counts.items())}")
    prompts = snap.meta["prompts"]
    print(f"prompts: {sum(prompts['open'].values())} open ({prompts['new']} new), {prompts['closed']} closed")
    if engine is not None:
        sizes = engine.stats.get("partitions", [])
        span = f"{min(sizes, default=0)}–{max(sizes, default=0)}"
        tasks = engine.stats.get("task_s", [])
        print(
            f"engine: dask, {engine.stats.get('workers')} workers, {len(sizes)} partitions of {span} units; "
            f"scoring {engine.stats.get('scoring_s')} s ({len(tasks)} tasks: {sum(tasks):.2f} s of work, "
            f"the longest {max(tasks, default=0)} s)"
        )
    print(f"time: {elapsed:.2f} s")
    print_hints(result.regions, result.model)
    return 0
