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
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from report import write_report  # bench/report.py (this directory is on sys.path when run as a script)

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

    from tests.browser import ARGS, CHROMIUM

    times, external = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
  identification:
    {{title: bench, description: bench, keywords: [bench], keywords_type: theme, terms_of_service: none,
      url: http://127.0.0.1}}
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
