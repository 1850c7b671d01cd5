"""What evaluating the prompt rules adds to a build: generate a census, ingest it, build twice (a month
apart, so the second build compares with the first, as every daily build does) and time the prompt stage
(`geo.prompts.stage`: read the previous build, evaluate every rule, reconcile; then `geo.prompts.ledger.write`,
the table into the snapshot) against the rest.

    python bench/alerts.py [--enterprises 200000] [--work DIR] [--no-prompts]

Run by hand, never by the test suite. Prints one JSON line; the figures go into docs/performance.md. A `--work`
directory of an earlier run is reused (generating 1M units takes minutes): its census is kept, its builds and
prompts are removed first, so every run builds the same two snapshots from scratch. `--no-prompts` builds with
the prompt stage replaced by one that evaluates nothing: the build without prompts, for comparison.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=200_000)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--no-prompts", action="store_true", help="build without evaluating the prompt rules")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="riskmap-bench-alerts-"))

    import pandas as pd

    import geo.build as build_module
    from geo.boundaries import load_bundled
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    store = Store.open(work / "store")
    for kept in ("snapshots", "prompts"):  # an earlier run's builds: start again from no build
        shutil.rmtree(store.root / kept, ignore_errors=True)
    store.update_manifest(snapshot=None)
    if not store.has("enterprises"):
        b = load_bundled()
        store.write("boundaries", b)
        files = generate_demo(work / "input", b.loc[b["admin_level"] == "county"], n_enterprises=args.enterprises)
        for kind, paths in files.items():
            for p in paths:
                ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))

    timings: list[float] = []  # per build: the prompt stage, then writing its table
    real_stage, real_write = build_module.stage_prompts, build_module.write_prompts
    if args.no_prompts:

        def real_stage(*a, **kw):
            return pd.DataFrame({"id": pd.Series(dtype=object)}), {"open": {}, "closed": 0}

    def timed_stage(*a, **kw):
        t0 = time.perf_counter()
        try:
            return real_stage(*a, **kw)
        finally:
            timings.append(time.perf_counter() - t0)

    def timed_write(*a, **kw):
        t0 = time.perf_counter()
        try:
            return real_write(*a, **kw)
        finally:
            timings[-1] += time.perf_counter() - t0

    build_module.stage_prompts = timed_stage
    build_module.write_prompts = timed_write
    results = []
    for as_of in (date(2026, 10, 1), date(2026, 11, 1)):
        t0 = time.perf_counter()
        snap, _ = build_module.build(store, as_of)
        total = time.perf_counter() - t0
        prompts = timings[-1]
        results.append(
            {
                "as_of": as_of.isoformat(),
                "build_s": round(total, 2),
                "prompts_s": round(prompts, 2),
                "added_pct": round(100 * prompts / (total - prompts), 1),
                "open": sum(snap.meta["prompts"]["open"].values()),
                "closed": snap.meta["prompts"]["closed"],
            }
        )
    print(json.dumps({"units": snap.meta["units"], "prompts": not args.no_prompts, "builds": results}))


if __name__ == "__main__":
    main()
