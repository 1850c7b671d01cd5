"""Province-scale benchmark: generate demo data, run each stage in its own process, measure the service on
loopback, and write the results table to docs/performance.md.

    python bench/run.py [--enterprises 1000000] [--hazards 20000] [--events 200000] [--runs 3] [--work DIR]

Run by hand (it takes minutes and gigabytes), never by the test suite: after `bash scripts/test.sh` (which
sets up `.venv` and the system packages), `.venv/bin/python bench/run.py`. Inputs are generated into WORK on
the first run and reused; pygeoapi is installed from PyPI into WORK/pygeoapi-venv on first use.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def _stage(stage: str, work: Path) -> dict:
    out = subprocess.run([PY, str(HERE / "stages.py"), stage, str(work)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_runs(stage: str, work: Path, runs: int) -> dict:
    results = [_stage(stage, work) for _ in range(runs)]
    best = dict(results[0])
    for key in results[0]:
        if isinstance(results[0][key], float):
            best[key] = statistics.median(r[key] for r in results)
    best["peak_mb"] = max(r["peak_mb"] for r in results)
    best["runs"] = runs
    return best


def prepare(work: Path, n: int, hazards: int, events: int) -> None:
    import geopandas as gpd
    import pandas as pd

    from geo.boundaries import load_bundled
    from synth import generate_demo

    inp = work / "input"
    if not (inp / "events.parquet").exists() and (inp / "events.csv").exists():
        _parquet_rest(inp)
    if (inp / "enterprises.parquet").exists():
        return
    b = load_bundled()
    generate_demo(inp, b.loc[b["admin_level"] == "county"], n_enterprises=n, seed=1, n_hazards=hazards, n_events=events)
    from geo.crs import gcj02_to_wgs84
    from geo.fields import load_contract, match_columns

    frame = pd.read_csv(inp / "enterprises.csv", dtype=str, keep_default_na=False)
    gbk = pd.read_csv(inp / "enterprises_gcj02_gbk.csv", dtype=str, keep_default_na=False, encoding="gb18030")
    mapping = match_columns(list(gbk.columns), load_contract("enterprises"))
    gbk = gbk.rename(columns={col: name for name, col in mapping.items()})
    glon, glat = gcj02_to_wgs84(pd.to_numeric(gbk["lon"]).to_numpy(), pd.to_numeric(gbk["lat"]).to_numpy())
    gbk["lon"], gbk["lat"] = [f"{v:.7f}" for v in glon], [f"{v:.7f}" for v in glat]
    frame = pd.concat([frame, gbk], ignore_index=True).fillna("")
    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    ok = lon.notna() & lat.notna()
    gdf = gpd.GeoDataFrame(
        frame[ok].drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=4326
    )
    gdf.to_parquet(inp / "enterprises.parquet")
    _parquet_rest(inp)


def _parquet_rest(inp: Path) -> None:
    """The hazard sites and events as (Geo)Parquet too, so the GeoParquet build reads only Parquet."""
    import geopandas as gpd
    import pandas as pd

    gpd.read_file(inp / "hazards.geojson").to_parquet(inp / "hazards.parquet")
    pd.read_csv(inp / "events.csv", dtype=str, keep_default_na=False).to_parquet(inp / "events.parquet")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _latencies(client, url: str, n: int, params=None) -> dict:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url, params=params)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "bytes": len(r.content),
    }


def _wait_ready(client, base: str, seconds: float = 60.0) -> None:
    """Poll a freshly started server until it answers."""
    import httpx

    for _ in range(int(seconds * 10)):
        try:
            client.get(base + "/conformance")
            return
        except httpx.HTTPError:
            time.sleep(0.1)


def _summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2),
        "n": len(ms),
    }


def _tiles_around(lon: float, lat: float, z: int, count: int) -> list[tuple[int, int]]:
    """`count` distinct tiles spiralling out from the tile holding (lon, lat)."""
    import math

    nt = 2**z
    cx = int((lon + 180) / 360 * nt)
    cy = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * nt)
    out, r = [], 0
    while len(out) < count:
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                if max(abs(dx), abs(dy)) == r and len(out) < count:
                    out.append((cx + dx, cy + dy))
        r += 1
    return out


def browser_first_view(base: str, runs: int = 3) -> dict:
    """Headless chromium (Debian's), every non-local request blocked: time until the map reports its first
    full view (regions drawn and the first enterprise clusters fetched: window.riskmapReady)."""
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    times, external = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1920, "height": 1080})

            def route(r):
                if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
                    r.continue_()
                else:
                    external.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            t = time.perf_counter()
            page.goto(base + "/map?level=county")
            page.wait_for_function("window.riskmapReady === true", timeout=60_000)
            times.append(time.perf_counter() - t)
            page.close()
        browser.close()
    import httpx

    size = len(httpx.get(base + "/map?level=county").content)
    return {"first_view_s": round(statistics.median(times), 2), "page_bytes": size, "external_requests": len(external)}


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def service(work: Path, n: int) -> dict:
    import httpx
    import numpy as np

    port = _free_port()
    proc = subprocess.Popen(
        [PY, "-m", "cli.main", "--store", str(work / "store-parquet"), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=60) as client:
            _wait_ready(client, base)
            t = time.perf_counter()
            client.get(base + "/collections").raise_for_status()  # loads and indexes the snapshot
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            client.get(base + "/collections/regions-county/items", params={"limit": 100}).raise_for_status()
            first = (time.perf_counter() - t) * 1000
            out = {"county_geojson": _latencies(client, base + "/collections/regions-county/items", n, {"limit": 100})}
            out["county_geojson"]["first_request_ms"] = round(first, 1)
            out["snapshot_load_s"] = round(load_s, 2)
            # the very same layer (simplified geometry, same properties) is what pygeoapi is given to serve
            layer = client.get(base + "/collections/regions-county/items", params={"limit": 1000}).json()
            layer.pop("links", None)
            (work / "counties.geojson").write_text(json.dumps(layer, ensure_ascii=False), encoding="utf-8")
            rng = np.random.default_rng(0)
            near = []
            for lon, lat in zip(rng.uniform(119.5, 121.5, n), rng.uniform(28.5, 30.5, n), strict=True):
                t = time.perf_counter()
                client.get(base + "/near", params={"lon": lon, "lat": lat, "radius_m": 1000}).raise_for_status()
                near.append((time.perf_counter() - t) * 1000)
            out["near_1km"] = {
                "p50_ms": round(statistics.median(near), 2),
                "p99_ms": round(sorted(near)[int(n * 0.99) - 1], 2),
            }
            cold, warm = [], []
            for z in range(8, 13):
                for x, y in _tiles_around(120.4, 29.6, z, max(1, n // 5)):
                    for bucket in (cold, warm):  # first request renders the tile, the second is served cached
                        t = time.perf_counter()
                        client.get(f"{base}/tiles/enterprises/{z}/{x}/{y}.mvt").raise_for_status()
                        bucket.append((time.perf_counter() - t) * 1000)
            out["mvt_z8_12"] = _summary(cold)
            out["mvt_z8_12_cached"] = _summary(warm)
            out["browser"] = browser_first_view(base)
            out["server_peak_mb"] = _peak_rss_mb(proc.pid)  # over all of the above
            return out
    finally:
        proc.terminate()
        proc.wait(10)


PYGEOAPI_CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: en-US
  limits: {{default_items: 100, max_items: 10000}}
  map: {{url: "http://127.0.0.1/{{z}}/{{x}}/{{y}}.png", attribution: none}}
logging: {{level: ERROR}}
metadata:
  identification: {{title: bench, description: bench, keywords: [bench], keywords_type: theme, terms_of_service: none, url: http://127.0.0.1}}
  license: {{name: none, url: http://127.0.0.1}}
  provider: {{name: bench, url: http://127.0.0.1}}
  contact: {{name: bench, email: none@example.org}}
resources:
  regions-county:
    type: collection
    title: county risk levels
    description: county risk levels
    keywords: [risk]
    extents:
      spatial: {{bbox: [118, 27, 123, 31.5], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}}
    providers:
      - type: feature
        name: GeoJSON
        data: {data}
        id_field: adcode
  enterprises:
    type: collection
    title: enterprises
    description: scored enterprises
    keywords: [risk]
    extents:
      spatial: {{bbox: [118, 27, 123, 31.5], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}}
    providers:
      - type: feature
        name: Parquet
        data: {{source: {points}}}
        id_field: id
        x_field: lon
        y_field: lat
"""


def _pygeoapi_points(work: Path) -> Path:
    """The served enterprises (1M points with their levels) as GeoParquet with lon/lat, for pygeoapi's Parquet
    provider."""
    import geopandas as gpd

    from geo.snapshot import current
    from geo.store import Store

    path = work / "enterprises-pygeoapi.parquet"
    units = current(Store.open(work / "store-parquet")).units(
        columns=["id", "name", "domain", "risk_level", "risk_score", "lon", "lat", "geometry"]
    )
    gpd.GeoDataFrame(units, geometry="geometry", crs=4326).to_parquet(path, index=False)
    return path


def pygeoapi_service(work: Path, n: int) -> dict:
    """The same county layer served by pygeoapi (PyPI) under uvicorn, in its own virtualenv; and the same
    enterprises through its Parquet provider, queried by a 2 km box around the points /near is asked about."""
    import httpx
    import numpy as np

    venv = work / "pygeoapi-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(py), "-c", "import pygeoapi, s3fs, geopandas, pyarrow, uvicorn, starlette"]).returncode:
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "pygeoapi", "starlette", "uvicorn", "geopandas", "pyarrow", "s3fs"],
            check=True,
        )
    data = work / "counties.geojson"  # written by service(): exactly the features riskmap serves
    points = _pygeoapi_points(work)
    port = _free_port()
    cfg = work / "pygeoapi.yml"
    cfg.write_text(PYGEOAPI_CONFIG.format(port=port, data=data, points=points), encoding="utf-8")
    openapi = work / "pygeoapi-openapi.yml"
    env = {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi), "PATH": str(venv / "bin")}
    subprocess.run(
        [str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [
            str(py),
            "-m",
            "uvicorn",
            "pygeoapi.starlette_app:APP",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=60) as client:
            _wait_ready(client, base)
            url = base + "/collections/regions-county/items"
            out = _latencies(client, url, n, {"limit": 100, "f": "json"})
            # the nearest analogue of /near pygeoapi offers: the items in a 2 km box around the same points
            rng = np.random.default_rng(0)
            box = []
            for lon, lat in zip(rng.uniform(119.5, 121.5, n), rng.uniform(28.5, 30.5, n), strict=True):
                dx, dy = 1000 / (111320 * np.cos(np.radians(lat))), 1000 / 110574
                t = time.perf_counter()
                client.get(
                    base + "/collections/enterprises/items",
                    params={"bbox": f"{lon - dx},{lat - dy},{lon + dx},{lat + dy}", "limit": 100, "f": "json"},
                ).raise_for_status()
                box.append((time.perf_counter() - t) * 1000)
            out["bbox_1km"] = _summary(box)
            return out
    finally:
        proc.terminate()
        proc.wait(10)


def _versions() -> str:
    import geopandas
    import pandas
    import pyarrow
    import pyogrio
    import pyproj
    import shapely

    return (
        f"Python {platform.python_version()}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
        f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), geopandas {geopandas.__version__}, "
        f"pyogrio {pyogrio.__version__} (GDAL {pyogrio.__gdal_version_string__}), pyproj {pyproj.__version__}"
    )


def _parts(b: dict) -> str:
    names = {
        "ingest_enterprises": "enterprises",
        "ingest_hazards": "sites",
        "ingest_events": "events",
        "build": "build",
    }
    return ", ".join(f"{label} {b[key]:.2f} s" for key, label in names.items() if key in b)


def write_report(results: dict, args, out: Path) -> str:
    import os

    r = results
    read_csv, read_pq = r["read_csv_pyarrow"]["seconds"], r["read_parquet_pyarrow"]["seconds"]
    csv_b, pq_b, join = r["build_from_csv"], r["build_from_parquet"], r["join_vs_sjoin"]
    svc = r.get("service", {})

    def ok(flag: bool) -> str:
        return "met" if flag else "**missed**"

    rows = [
        (
            "Spatial join, 1 point per enterprise → county",
            f"{join['seconds']:.3f} s vs sjoin {join['sjoin_seconds']:.3f} s "
            f"= {join['sjoin_seconds'] / join['seconds']:.1f}× (identical: {join['identical']})",
            "≥ 3× sjoin",
            ok(join["sjoin_seconds"] / join["seconds"] >= 3 and join["identical"]),
        ),
        (
            "Full build from GeoParquet",
            f"{pq_b['seconds']:.1f} s ({_parts(pq_b)}) vs read {read_pq:.2f} s = {pq_b['seconds'] / read_pq:.1f}×",
            "≤ 3× read",
            ok(pq_b["seconds"] <= 3 * read_pq),
        ),
        (
            "Full build from CSV",
            f"{csv_b['seconds']:.1f} s ({_parts(csv_b)}) vs read {read_csv:.2f} s = {csv_b['seconds'] / read_csv:.1f}×",
            "≤ 3× read",
            ok(csv_b["seconds"] <= 3 * read_csv),
        ),
        ("Peak memory, build from CSV", f"{csv_b['peak_mb']:.0f} MB", "< 3 GB", ok(csv_b["peak_mb"] < 3072)),
        ("Peak memory, build from GeoParquet", f"{pq_b['peak_mb']:.0f} MB", "< 3 GB", ok(pq_b["peak_mb"] < 3072)),
    ]
    if svc:
        cg, nr, mv = svc["county_geojson"], svc["near_1km"], svc["mvt_z8_12"]
        rows += [
            (
                "County layer GeoJSON (90 features)",
                f"p50 {cg['p50_ms']} ms, p99 {cg['p99_ms']} ms (first request "
                f"{cg['first_request_ms']} ms, {cg['bytes'] / 1e6:.2f} MB)",
                "p50 ≤ 5, p99 ≤ 20 ms",
                ok(cg["p50_ms"] <= 5 and cg["p99_ms"] <= 20),
            ),
            ("/near, 1 km", f"p50 {nr['p50_ms']} ms, p99 {nr['p99_ms']} ms", "p50 ≤ 10 ms", ok(nr["p50_ms"] <= 10)),
            (
                "Enterprise MVT z8–12, each tile rendered",
                f"p50 {mv['p50_ms']} ms, p99 {mv['p99_ms']} ms ({mv['n']} tiles)",
                "p50 ≤ 30 ms",
                ok(mv["p50_ms"] <= 30),
            ),
            ("Enterprise MVT z8–12, cached", f"p50 {svc['mvt_z8_12_cached']['p50_ms']} ms", "", ""),
        ]
        if "snapshot_load_s" in svc:
            rows.append(
                (
                    "Service: load and index a snapshot (first request after start or after a build)",
                    f"{svc['snapshot_load_s']} s; server peak memory {svc.get('server_peak_mb')} MB",
                    "",
                    "",
                )
            )
    if svc and "browser" in svc:
        bw = svc["browser"]
        rows.append(
            (
                "Browser: served county map, first full view",
                f"{bw['first_view_s']} s, page {bw['page_bytes'] / 1e6:.2f} MB, "
                f"{bw['external_requests']} external requests",
                "≤ 3 s, < 1.5 MB",
                ok(bw["first_view_s"] <= 3 and bw["page_bytes"] < 1.5e6),
            )
        )
    pg = r.get("pygeoapi", {})
    if svc and "p50_ms" in pg:
        cg = svc["county_geojson"]
        rows += [
            (
                "pygeoapi 0.21 (GeoJSON provider, uvicorn), same county layer",
                f"p50 {pg['p50_ms']} ms, p99 {pg['p99_ms']} ms; riskmap is {pg['p50_ms'] / cg['p50_ms']:.0f}× faster at p50",
                "side by side",
                "",
            ),
        ]
        if "bbox_1km" in pg:
            bb, nr = pg["bbox_1km"], svc["near_1km"]
            rows.append(
                (
                    f"pygeoapi Parquet provider, {args.enterprises:,} enterprises, items in a 2 km box "
                    "(nearest analogue of /near)",
                    f"p50 {bb['p50_ms']} ms, p99 {bb['p99_ms']} ms; riskmap /near is "
                    f"{bb['p50_ms'] / nr['p50_ms']:.0f}× faster at p50",
                    "side by side",
                    "",
                )
            )
    table = "| stage | measured | target | |\n|---|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows
    )
    text = (
        f"# Performance\n\nMeasured by `python bench/run.py --enterprises {args.enterprises} --hazards {args.hazards} "
        f"--events {args.events} --runs {args.runs}` on {time.strftime('%Y-%m-%d')}.\n\n"
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.platform()}.\n\n{_versions()}.\n\n"
        f"Each stage runs in its own process; times are the median of {args.runs} runs, peak memory the maximum RSS.\n\n"
        f"{table}\n\nRaw results:\n\n```json\n{json.dumps(results, indent=2)}\n```\n"
    )
    notes = NOTES.replace("{pq:.1f}", f"{pq_b['seconds']:.1f}").replace("{csv:.1f}", f"{csv_b['seconds']:.1f}")
    out.write_text(text + notes, encoding="utf-8")
    return table


NOTES = """
## Notes

* The **spatial join** settles points by an array lookup in a grid of cells that lie wholly inside one county
  (`geo.join.CellIndex`, about 1 km cells, built in under 0.1 s); only points in cells a border crosses are tested,
  by querying each (prepared) county polygon against an STRtree of those points. Assignments are identical to
  `geopandas.sjoin(predicate="within")` (with the lowest-adcode rule for points on shared borders).
* **The read baseline** is every input the build reads, read with pyarrow and nothing else: for the GeoParquet
  build `enterprises.parquet`, `hazards.parquet` and `events.parquet`; for the CSV build the two enterprise CSVs
  (the GBK one decoded first) and `events.csv` with `pyarrow.csv`, and `hazards.geojson` with pyogrio into Arrow.
  The full build is ingest of all of them (parse and check every value, report every bad one, convert
  coordinates, join, upsert into the store) plus `build` (score, regional levels, publish a snapshot).

### Full build: missed, before and after

| 1M enterprises, 20k sites, 200k events | GeoParquet | CSV |
|---|---|---|
| before (previous release) | 17.1 s | 20.1 s |
| after (this run) | {pq:.1f} s | {csv:.1f} s |

What was slow, and what fixed it (1M rows, one process; each figure measured before and after the change):

| cause (profile) | fix | before → after |
|---|---|---|
| every value parsed as text, one regex pass per column | parse each distinct value once (`geo.fields.parse_column`; census fields hold a handful of values), cast plain numbers with one Arrow kernel | parsing 3.9 → 0.7 s |
| duplicate ids found through pandas `duplicated` + reindex | `factorize` codes (first appearance order) | 0.40 → 0.11 s |
| a million shapely points made, joined, written as WKB and read back | point records stay coordinate arrays: GeoParquet points decoded straight from WKB/GeoArrow bytes, the join looks up the cell grid from coordinates (point objects only for the few border-cell points), the store column is GeoArrow points built from the arrays | enterprise ingest 5.2 → 2.5 s (GeoParquet), 6.2 → 4.2 s (CSV, two files) |
| text trimmed by pandas, column by column | the Arrow trim kernel, columns in a thread pool | 0.70 → 0.28 s |
| regional levels sorted every member on five keys for the top contributors, and summed over an array of every (member, region) pair | only members that can reach a region's top N are sorted (a lighter member than the region's N-th heaviest never can); counts per (region, kind, level) by one `bincount` per admin level, the load as count × weight; region codes looked up once per distinct code | 2.6 → 0.4 s, output identical |
| every line/polygon site intersected with every county it touches | a site whose bounding box lies in interior cells of one county is settled by the cell grid (54% of them); overlaps measured only for sites touching several counties | 20k sites 1.5 → 0.46 s |
| events and enterprises matched by hashing a million enterprise ids | hash the events' distinct ids (the small side) and look the enterprises up in them | events 1.9 → 0.27 s, unit scoring 1.2 → 0.5 s |
| join codes made as a million Python strings per level, converted back to text for the store | codes taken as Arrow text from the 90 counties' codes | −0.25 s |
| build read the store into geometries and wrote them back into the snapshot | build scores the attribute columns only; the snapshot hard-links the store's (immutable) enterprise file and writes just the score columns | build 6.4 → 1.4 s |

Every fast path is checked against the straightforward one in tests: `tests/test_fields.py` (each parser,
distinct-value path vs direct), `test_point_arrays_equal_the_geometry_path` (store and report identical through
the coordinate arrays and through point geometries, CSV and GeoParquet), `test_top_contributors_equal_a_full_sort`,
`test_built_snapshot_links_the_records_and_keeps_them` (snapshot equals the in-memory computation, and keeps its
records after the store is re-ingested).

**Where the time goes now** (GeoParquet, pyinstrument, one run): enterprise ingest 2.9 s = reading 0.37 s
(pyarrow 0.21, trimming text 0.14), parsing and checking 0.7 s (factorize, parse the distinct values, take),
join 0.3 s, copying the accepted rows 0.5 s (`iloc` over 20 columns, the text ones copying their bytes), store
write 0.75 s (Parquet encoding of 1M × 30 columns, 0.6 s; normalising column types 0.13 s); sites 0.46 s; events
0.27 s; build 1.4 s = reading the records 0.3 s, unit scoring 0.5 s, regional levels 0.4 s, snapshot 0.2 s.
A fresh process pays for first use of every code path and for first-touch page faults on new buffers: the same
steps run twice in one process take about half as long the second time; the benchmark (and the CLI) runs each
build in a fresh process. Run to run the total varies by about ±0.3 s on this machine.

**What would close the gap, and why 3× is out of reach for this design.** The pyarrow read of the GeoParquet
input takes about 0.35 s with both cores; 3× is about 1.05 s. Writing the ingested table once as Parquet already
takes 0.6 s, and the store must be written (it is what later builds, uploads and upserts read) before a snapshot
can be published; reading the records back for scoring costs another 0.3 s. What could still shrink:
(1) validation and row selection on Arrow arrays end to end (dictionary-encode, validate the dictionary, filter
the table) instead of pandas columns: about −0.8 s; (2) an append-only store (one file per ingest, read as one
dataset), so a second file does not rewrite the first (the CSV build rewrites a million rows for its GBK file:
about −0.7 s on that build); (3) scoring straight from the ingested arrays when ingest and build run in one
process: about −0.3 s. With all three the GeoParquet build would take about 4 s, still over 10× the read:
every value is parsed, checked and reported with its line, every point converted and joined, the store written
and a snapshot published. Meeting 3× would take a compiled single-pass ingest.
* **pygeoapi side by side**: the county layer is the same GeoJSON riskmap serves, through pygeoapi's GeoJSON
  provider; for `/near` pygeoapi has no radius query, so its Parquet provider serves the same million scored
  enterprises and is asked for the items in a 2 km box around the same random points (a cheaper query than a
  1 km radius sorted by distance; its answers were checked against the data). pygeoapi serves vector tiles only
  from pre-generated tile sets (tippecanoe) or Elasticsearch/PostGIS, so there is no like-for-like run for
  tiles rendered on request from files; riskmap's cached tile (p50 above) is the comparable figure for
  pre-generated tiles.
* **Loading a snapshot into the service** (the first request after start, or after a build publishes a new
  one) read the units and then made a million point objects a second time for the `/near` index: it now
  reuses the units' points (4.5 → 2.5–2.9 s at 1M; the server's memory right after loading 2.1 → 1.8 GB).
* /near runs on the event loop (its ~3 ms of numpy work costs less than a threadpool hop); tiles and builds
  run in the threadpool.
"""


ALL_STAGES = (
    "read_csv_pyarrow",
    "read_parquet_pyarrow",
    "join_vs_sjoin",
    "build_from_csv",
    "build_from_parquet",
    "service",
    "pygeoapi",
)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--enterprises", type=int, default=1_000_000)
    p.add_argument("--hazards", type=int, default=20_000)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--work", type=Path, default=Path("/tmp/riskmap-bench"))
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    p.add_argument(
        "--stages",
        nargs="*",
        choices=ALL_STAGES,
        help="rerun only these (others from WORK/results.json); none: rewrite the report",
    )
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    t = time.perf_counter()
    prepare(args.work, args.enterprises, args.hazards, args.events)
    print(f"input ready in {time.perf_counter() - t:.0f} s", flush=True)
    saved = args.work / "results.json"
    results = json.loads(saved.read_text()) if args.stages is not None and saved.exists() else {}
    wanted = set(ALL_STAGES) if args.stages is None else set(args.stages)  # `--stages` alone: report only
    for stage in ALL_STAGES[:5]:
        if stage in wanted:
            results[stage] = _median_runs(stage, args.work, args.runs)
            print(stage, results[stage], flush=True)
    if "service" in wanted:
        results["service"] = service(args.work, args.requests)
        print("service", results["service"], flush=True)
    if "pygeoapi" in wanted:
        try:
            results["pygeoapi"] = pygeoapi_service(args.work, args.requests)
        except (subprocess.CalledProcessError, OSError) as exc:
            results["pygeoapi"] = {"error": str(exc)}
        print("pygeoapi", results["pygeoapi"], flush=True)
    saved.write_text(json.dumps(results, indent=2))
    print(write_report(results, args, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
