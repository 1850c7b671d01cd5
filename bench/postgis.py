"""The PostgreSQL store beside the directory store, on the same generated census, in this process.

    python bench/postgis.py [--enterprises 200000] [--url postgresql://…] [--work DIR]

Without --url a throwaway cluster is started (tests/pgcluster.py; PostgreSQL + PostGIS installed). Prints
one JSON document: per back-end the seconds to ingest, build and export, the latency of `near` (1 km, 200
points: from the database by an index scan, and from memory once the snapshot is loaded) and the time and
memory it takes to load a snapshot as the service does today. Run by hand; docs/performance.md has a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _fill(location: str, files, as_of: date) -> dict:
    from geo.boundaries import load_bundled
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store

    store = Store.open(location)
    with store.lock():
        store.write("boundaries", load_bundled())
    out: dict = {}
    for kind, paths in files.items():
        t0 = time.perf_counter()
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
        out[f"ingest_{kind}_s"] = round(time.perf_counter() - t0, 2)
    _, out["build_s"] = _timed(lambda: build(store, as_of))
    _, out["second_build_s"] = _timed(lambda: build(store, as_of))
    return out


def _near(reader, points, radius=1000.0) -> dict:
    from geo.query import near_payload

    times = []
    for x, y in points:
        t0 = time.perf_counter()
        near_payload(reader, x, y, radius, "wgs84", 100)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[int(len(times) * 0.99) - 1], 2)}


def main() -> None:
    import numpy as np

    from geo.boundaries import load_bundled
    from synth import generate_demo

    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=200_000)
    ap.add_argument("--url")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="riskmap-bench-pg-"))
    cluster = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from pgcluster import start_cluster

        cluster = start_cluster()
        url = cluster.new_database()
    b = load_bundled()
    files, gen_s = _timed(
        lambda: generate_demo(work / "in", b.loc[b["admin_level"] == "county"], n_enterprises=args.enterprises, seed=1)
    )
    result: dict = {"enterprises": args.enterprises, "generate_s": round(gen_s, 1)}
    print(f"generated in {gen_s:.1f} s", file=sys.stderr)
    try:
        for name, location in (("files", str(work / "store")), ("postgis", url)):
            result[name] = _fill(location, files, date(2026, 11, 1))
            print(name, result[name], file=sys.stderr)
        from geo.export import records_table  # noqa: F401 - the export path below
        from geo.pgquery import PgNearReader
        from geo.query import SnapshotReader
        from geo.snapshot import current
        from geo.store import Store
        from layers.export import export_layer

        for name, location in (("files", str(work / "store")), ("postgis", url)):
            store = Store.open(location)
            snap = current(store)
            out, bounds = work / f"{name}.csv", store.read("boundaries")
            _, result[name]["export_csv_s"] = _timed(
                lambda s=snap, b=bounds, o=out: export_layer(s, b, "enterprises", "csv", o)
            )
            rng = np.random.default_rng(0)
            pts = snap.units(["geometry"]).geometry.iloc[rng.choice(snap.meta["units"], 200, replace=False)]
            points = [(p.x + 0.0005, p.y) for p in pts]
            if name == "postgis":
                reader, open_s = _timed(lambda s=snap: PgNearReader.open(s))
                result[name]["near_sql_open_s"] = round(open_s, 2)
                result[name]["near_sql_1km"] = _near(reader, points)
            reader, load_s = _timed(lambda s=snap: SnapshotReader.open(s))
            result[name]["snapshot_load_s"] = round(load_s, 2)
            result[name]["near_memory_1km"] = _near(reader, points)
        same = (work / "files.csv").read_bytes() == (work / "postgis.csv").read_bytes()
        result["exports_identical"] = same
    finally:
        if cluster is not None:
            from geo.pgstore import close_pools

            close_pools()
            cluster.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
