"""The service on a national store: how long it takes to be ready, what it holds, and how fast it answers.

    python bench/national.py --store DIR [--n 200]

Serves DIR (for instance the store bench/engines.py --prepare filled over all of China) with `riskmap serve`,
and measures: seconds until it answers from the snapshot, the resident memory of its service processes, then
one at a time `/near` and `/incident` (1 km) at random points of eastern and central China, and enterprise tiles
z4–z12 around them (each a different tile). Prints one JSON document; run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import _tree_rss_mb, point_latencies, serving  # noqa: E402

#: lon/lat box of the densest part of the demo's national census (the east and centre)
EAST = (104.0, 22.5, 122.0, 40.0)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_latencies(base: str, n: int, seed: int = 3) -> dict:
    import httpx

    rng = random.Random(seed)
    ms, sizes = [], []
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(n):
            z = rng.randint(4, 12)
            x, y = tile_of(rng.uniform(EAST[0], EAST[2]), rng.uniform(EAST[1], EAST[3]), z)
            t = time.perf_counter()
            r = client.get(f"/tiles/enterprises/{z}/{x}/{y}.mvt")
            ms.append((time.perf_counter() - t) * 1000)
            if r.status_code not in (200, 204):
                sys.exit(f"tile {z}/{x}/{y}: {r.status_code} {r.text[:300]}")
            sizes.append(len(r.content))
    ms.sort()
    return {
        "n": n,
        "p50_ms": round(ms[n // 2], 1),
        "p99_ms": round(ms[int(n * 0.99) - 1], 1),
        "mean_kb": round(sum(sizes) / n / 1024, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args()
    manifest = json.loads((args.store / "manifest.json").read_text())
    t0 = time.perf_counter()
    with serving(args.store) as (base, proc):
        import httpx

        httpx.get(base + "/collections/enterprises/items", params={"limit": 1}, timeout=600).raise_for_status()
        ready = time.perf_counter() - t0
        doc = {
            "store": str(args.store),
            "units": manifest["tables"]["enterprises"]["rows"],
            "ready_s": round(ready, 1),
            "service_rss_mb": round(_tree_rss_mb(proc.pid)),
            "points": point_latencies(base, args.n, EAST),
            "tiles_z4_12": tile_latencies(base, args.n),
        }
    print(json.dumps(doc, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
