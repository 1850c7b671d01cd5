"""`/near` and `/incident` by road, end to end over HTTP: the 1M demo store with a 500,000-edge road network
ingested and built (coverage by road), served by `riskmap serve`, asked one request at a time.

    python bench/response_http.py [--enterprises 1000000] [--edges 500000] [--work DIR]

Copies WORK/store-N (the store `bench/load.py` builds, made if missing) to WORK/store-N-roads once, writes the
street grid of `bench/response.py` as a GeoParquet road file (`speed_kmh`, `oneway`, `road_class`), ingests and
builds it with the CLI (timed), then times 200 `/near` and 200 `/incident` (1 km) at random points of the grid
inside Zhejiang (around Hangzhou) after a warm-up, checking that every answer says `method: road`. Prints one
JSON document; run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from load import PY, ROOT, _rss_mb, point_latencies, prepare, serving  # noqa: E402
from response import grid  # noqa: E402

BOX = (119.6, 29.7, 120.9, 30.6)  # inside the grid and the province: Hangzhou, Shaoxing, Jiaxing, Huzhou


def road_store(work: Path, n: int, edges: int) -> tuple[Path, dict]:
    """The demo store with the grid's roads ingested and built (once; reused after)."""
    store = work / f"store-{n}-roads-{edges}"
    timings: dict = {}
    if (store / "roads.parquet").exists():
        return store, timings
    import geopandas as gpd

    base = prepare(work, n)
    if store.exists():
        shutil.rmtree(store)
    shutil.copytree(base, store, ignore=shutil.ignore_patterns("jobs", "demo-input"))
    lines, speed, oneway = grid(edges, np.random.default_rng(0))
    roads = gpd.GeoDataFrame(
        {
            "id": [f"R{i}" for i in range(len(lines))],
            "road_class": np.where(speed >= 60, "省道", "城市道路"),
            "speed_kmh": speed,
            "oneway": np.where(oneway == 1, "yes", "no"),
        },
        geometry=list(lines),
        crs="EPSG:4326",
    )
    path = work / f"roads-{edges}.parquet"
    roads.to_parquet(path)
    cli = [PY, "-m", "cli.main", "--store", str(store)]
    t = time.perf_counter()
    subprocess.run([*cli, "ingest", str(path), "--kind", "roads"], cwd=ROOT, check=True)
    timings["ingest_roads_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    subprocess.run([*cli, "build"], cwd=ROOT, check=True)
    timings["build_s"] = round(time.perf_counter() - t, 1)
    return store, timings


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--enterprises", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=500_000)
    p.add_argument("--work", type=Path, default=Path("/tmp/riskmap-bench"))
    args = p.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    store, timings = road_store(args.work, args.enterprises, args.edges)
    meta = json.loads((store / "manifest.json").read_text())
    t = time.perf_counter()
    with serving(store) as (base, proc):
        result = {
            "enterprises": args.enterprises,
            "edges": args.edges,
            **timings,
            "snapshot": meta.get("snapshot"),
            "service_up_s": round(time.perf_counter() - t, 1),
            "one_at_a_time": point_latencies(base, box=BOX, seed=11),
            "server_rss_mb": round(_rss_mb(proc.pid), 1),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
