"""The service over a PostgreSQL store: two `riskmap serve` instances on one database, measured as a command
centre uses them.

    python bench/pgserve.py [--url postgresql://…] [--enterprises 1000000] [--clients 32] [--seconds 60]
                            [--files DIR] [--pygeoapi PYTHON] [--no-load] [--switches N]

Without --url a throwaway cluster is started (tests/pgcluster.py). A database without a build gets the demo
census (`riskmap demo --no-serve --enterprises N`). Then, on this machine:

1. two instances start (`riskmap serve`, each with its own work directory): seconds until each answers, and the
   resident memory of each process (the supervisor, the serving process, its standby);
2. one request at a time on one instance: county items (100 a page), `/near` 1 km, vector tiles z8–12, a bbox
   page, `/clusters` of a city view (p50 / p90 / p99 ms); with `--files DIR` the same on the directory store DIR
   (the same census built into files) for comparison;
3. CLIENTS loopback clients (wrk, half on each instance) for SECONDS against county items, `/near` and tiles,
   with a build submitted to the first instance REBUILD_AT seconds in (`--rebuild-at`): errors, responses naming
   more than one snapshot, latencies, and how long after the new snapshot is published each instance serves it;
4. with `--pygeoapi PYTHON` (an interpreter with pygeoapi, its PostgreSQL provider and uvicorn installed),
   pygeoapi serving the same snapshot table: county items and bbox pages one at a time, side by side.

Prints one JSON document. Run by hand; docs/performance.md has a run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from load import PY, TOKEN, _free_port, _rss_mb, _tile, serving  # noqa: E402

CITY = (119.9, 30.1, 120.4, 30.45)  # a view over Hangzhou


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    n = len(ms)
    return {
        "n": n,
        "p50_ms": round(ms[n // 2], 1),
        "p90_ms": round(ms[int(n * 0.9) - 1], 1),
        "p99_ms": round(ms[max(int(n * 0.99) - 1, 0)], 1),
    }


def _ensure_built(url: str, n: int) -> float:
    """Seconds spent making the demo census (0 when the database has a build already)."""
    from geo.store import Store

    if Store.open(url).current_id():
        return 0.0
    t = time.perf_counter()
    subprocess.run([PY, "-m", "cli.main", "--store", url, "demo", "--no-serve", "--enterprises", str(n)], cwd=ROOT)
    return time.perf_counter() - t


def _counties(base: str) -> list[str]:
    import httpx

    page = httpx.get(base + "/collections/regions-county/items", params={"limit": 1000}, timeout=120).json()
    return [f["properties"]["adcode"] for f in page["features"]]


def _opening_map(base: str) -> float:
    """Seconds until the opening `/map` is answered (a request during its render waits for it)."""
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "300", f"{base}/map"], check=True)
    return round(time.perf_counter() - t0, 1)


def one_at_a_time(base: str, counties: list[str], n: int = 200, seed: int = 3) -> dict[str, Any]:
    import httpx

    rng = random.Random(seed)

    def near() -> tuple[str, dict]:
        return "/near", {"lon": rng.uniform(119.5, 121.5), "lat": rng.uniform(28.5, 30.5), "radius_m": 1000}

    def tile() -> tuple[str, dict]:
        z = rng.randint(8, 12)
        x, y = _tile(rng.uniform(119.5, 121.5), rng.uniform(28.5, 30.5), z)
        return f"/tiles/enterprises/{z}/{x}/{y}.mvt", {}

    def bbox() -> tuple[str, dict]:
        lon, lat = rng.uniform(119.5, 121.4), rng.uniform(28.5, 30.4)
        return "/collections/enterprises/items", {
            "bbox": f"{lon:.5f},{lat:.5f},{lon + 0.1:.5f},{lat + 0.1:.5f}",
            "limit": 100,
        }

    def clusters() -> tuple[str, dict]:
        dx, dy = rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1)
        box = (CITY[0] + dx, CITY[1] + dy, CITY[2] + dx, CITY[3] + dy)
        return "/clusters/enterprises", {"bbox": ",".join(f"{v:.4f}" for v in box), "zoom": 11}

    kinds = {
        "county_items": lambda: (
            "/collections/enterprises/items",
            {"county_adcode": rng.choice(counties), "limit": 100},
        ),
        "near_1km": near,
        "tiles_z8_12": tile,
        "bbox_items": bbox,
        "clusters_city_z11": clusters,
    }
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        for name, make in kinds.items():
            for _ in range(5):  # warm-up
                path, params = make()
                client.get(path, params=params).raise_for_status()
            ms = []
            for _ in range(n):
                path, params = make()
                t = time.perf_counter()
                client.get(path, params=params).raise_for_status()
                ms.append((time.perf_counter() - t) * 1000)
            out[name] = _stats(ms)
    return out


def _processes(pid: int) -> dict[str, Any]:
    """Resident MB of the supervisor and of each process it runs (the serving one and its standby, which has
    imported and waits), and of each the private part (USS: not shared library code or pages)."""
    out: dict[str, Any] = {"supervisor": round(_rss_mb(pid), 1)}
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for i, kid in enumerate(sorted(kids, key=int)):
        try:
            out[f"child_{i}"] = {"rss": round(_rss_mb(int(kid)), 1), "uss": round(_uss_mb(int(kid)), 1)}
        except OSError:  # ended meanwhile (a generation retired)
            pass
    return out


def _uss_mb(pid: int) -> float:
    private = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(line.split()[1])
    return private / 1024


def _served(base: str) -> str:
    import httpx

    r = httpx.get(base + "/collections/enterprises/items", params={"limit": 1}, timeout=30)
    return r.headers.get("x-riskmap-snapshot", "")


def _watch(bases: list[str], seen: dict[str, dict[str, float]], stop: threading.Event) -> None:
    """Record when each instance first serves each snapshot (wall clock)."""
    while not stop.is_set():
        for base in bases:
            try:
                snap = _served(base)
            except Exception:  # noqa: BLE001 - a refused poll is counted by the load, not here
                continue
            seen.setdefault(base, {}).setdefault(snap, time.time())
        time.sleep(0.1)


def _publish(base: str, as_of: str) -> tuple[dict[str, Any], float]:
    """Submit a build to `base` and wait for it: the job document and the seconds it took."""
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    t = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30) as client:
        doc = client.post("/builds", params={"as_of": as_of}, headers=auth).json()
        while doc["status"] not in ("succeeded", "failed"):
            time.sleep(0.5)
            doc = client.get(f"/jobs/{doc['id']}", headers=auth).json()
    return doc, time.perf_counter() - t


def _switch_delays(
    url: str, bases: list[str], seen: dict[str, dict[str, float]], new: str | None, stop: threading.Event
) -> dict[str, float]:
    """Once every instance serves `new` (or a minute passed): seconds from its publication to each one's first
    answer from it."""
    from geo.pgstore import SCHEMA
    from geo.store import Store

    for _ in range(600):
        if all(new in seen.get(base, {}) for base in bases):
            break
        time.sleep(0.1)
    stop.set()
    switched = Store.open(url).query(f"SELECT extract(epoch FROM switched) FROM {SCHEMA}.current")[0][0]
    return {base: round(seen.get(base, {}).get(str(new), float("nan")) - float(switched), 2) for base in bases}


def load_two(
    url: str, bases: list[str], counties: list[str], clients: int, seconds: float, rebuild_at: float
) -> dict[str, Any]:
    """wrk against both instances (`bench/load.lua`), a build submitted to the first `rebuild_at` seconds in."""

    from geo.store import Store

    kinds = ("county_items", "near", "tile")
    jobs = [(base, kind) for base in bases for kind in kinds]
    share = [clients // len(jobs) + (1 if k < clients % len(jobs) else 0) for k in range(len(jobs))]
    procs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{n}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(HERE / "load.lua"), base]
            + ["--", kind, *counties],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for (base, kind), n in zip(jobs, share, strict=True)
    ]
    seen: dict[str, dict[str, float]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(bases, seen, stop), daemon=True)
    watcher.start()
    time.sleep(rebuild_at)
    current = Store.open(url).current_id() or ""
    doc, build_s = _publish(bases[0], "2026-12-02" if not current.endswith("2026-12-02") else "2026-12-03")
    new = (doc.get("result") or {}).get("snapshot")
    results = [json.loads(p.communicate(timeout=seconds + 300)[0].strip().splitlines()[-1]) for p in procs]
    delays = _switch_delays(url, bases, seen, new, stop)  # to its end, even when the load ended first
    watcher.join()
    summary: dict[str, Any] = {
        "clients": clients,
        "seconds": seconds,
        "requests": sum(r["requests"] for r in results),
        "errors": sum(r["socket_errors"] + r["bad_status"] for r in results),
        "torn": sum(r["torn"] for r in results),
        "rebuild": {
            "status": doc["status"],
            "submitted_at_s": rebuild_at,
            "build_s": round(build_s, 1),
            "snapshot": new,
        },
        "served_after_publish_s": delays,
    }
    summary["throughput_rps"] = round(summary["requests"] / seconds, 1)
    for (base, kind), r in zip(jobs, results, strict=True):
        r.pop("snapshots", None)
        summary[f"{kind}@{base.rsplit(':', 1)[1]}"] = r
    return summary


def switch_idle(url: str, bases: list[str], as_of: str) -> dict[str, Any]:
    """A build submitted to the first instance with no other load: seconds from its publication until each
    instance serves it."""
    seen: dict[str, dict[str, float]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(bases, seen, stop), daemon=True)
    watcher.start()
    doc, build_s = _publish(bases[0], as_of)
    delays = _switch_delays(url, bases, seen, (doc.get("result") or {}).get("snapshot"), stop)
    watcher.join()
    return {"build_s": round(build_s, 1), "served_after_publish_s": delays}


def pygeoapi_side_by_side(python: str, url: str, ours: str, counties: list[str], work: Path, n: int = 200) -> dict:
    """pygeoapi (PostgreSQL provider) on the current snapshot's unit table, and riskmap, one request at a time."""
    from urllib.parse import urlsplit

    import httpx

    from geo.pgstore import SCHEMA
    from geo.snapshot import current
    from geo.store import Store

    snap = current(Store.open(url))
    table = snap.entry("units").physical  # type: ignore[attr-defined]
    u = urlsplit(url)
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 0},
            "url": "http://127.0.0.1",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 100, "max_items": 1000},
            "map": {"url": "", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "bench",
                "description": "bench",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": "http://127.0.0.1",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": "http://127.0.0.1"},
            "contact": {"name": "bench", "url": "http://127.0.0.1", "email": "bench@example.org"},
        },
        "resources": {
            "enterprises": {
                "type": "collection",
                "title": "enterprises",
                "description": "the snapshot's units",
                "keywords": ["bench"],
                "links": [],
                "extents": {"spatial": {"bbox": [118, 27, 123, 31.5]}},
                "providers": [
                    {
                        "type": "feature",
                        "name": "PostgreSQL",
                        "data": {
                            "host": u.hostname,
                            "port": u.port,
                            "dbname": u.path.lstrip("/"),
                            "user": u.username,
                            "password": u.password or "",
                            "search_path": [SCHEMA],
                        },
                        "id_field": "id",
                        "table": table,
                        "geom_field": "geometry",
                    }
                ],
            }
        },
    }
    import yaml

    cfg = work / "pygeoapi.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True))
    openapi = work / "pygeoapi-openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(Path(python).parent / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [python, "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port), "--log-level", "error"], env=env
    )
    theirs = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(theirs + "/collections", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        out: dict[str, Any] = {"table": f"{SCHEMA}.{table}"}
        for label, base, prefix in (("riskmap", ours, "enterprises"), ("pygeoapi", theirs, "enterprises")):
            rng = random.Random(5)
            with httpx.Client(base_url=base, timeout=120) as client:
                for kind in ("county_items", "bbox_items"):
                    ms, got = [], 0
                    for i in range(n + 5):
                        if kind == "county_items":
                            params: dict[str, Any] = {
                                "county_adcode": rng.choice(counties),
                                "limit": 100,
                                "offset": rng.randrange(0, 1000),
                            }
                        else:
                            lon, lat = rng.uniform(119.5, 121.4), rng.uniform(28.5, 30.4)
                            params = {"bbox": f"{lon},{lat},{lon + 0.1},{lat + 0.1}", "limit": 100}
                        params["f"] = "json"
                        t = time.perf_counter()
                        r = client.get(f"/collections/{prefix}/items", params=params)
                        took = (time.perf_counter() - t) * 1000
                        r.raise_for_status()
                        if i >= 5:
                            ms.append(took)
                            got += len(r.json()["features"])
                    out.setdefault(label, {})[kind] = {**_stats(ms), "features": got}
        for kind in ("county_items", "bbox_items"):
            out[f"{kind}_p50_ratio_pygeoapi_over_riskmap"] = round(
                out["pygeoapi"][kind]["p50_ms"] / out["riskmap"][kind]["p50_ms"], 2
            )
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--enterprises", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rebuild-at", type=float, default=20, help="seconds into the load the build is submitted")
    p.add_argument("--files", type=Path, help="a directory store of the same census, measured one at a time too")
    p.add_argument("--pygeoapi", help="a Python with pygeoapi + uvicorn installed, for the side-by-side run")
    p.add_argument("--no-load", action="store_true", help="leave out the two-instance load (step 3)")
    p.add_argument(
        "--switches", type=int, default=1, help="builds published with no other load, one after another (0: none)"
    )
    args = p.parse_args()
    cluster = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from pgcluster import start_cluster

        cluster = start_cluster()
        url = cluster.new_database()
    work = Path(tempfile.mkdtemp(prefix="riskmap-pgserve-"))
    result: dict[str, Any] = {"enterprises": args.enterprises, "demo_s": round(_ensure_built(url, args.enterprises), 1)}
    import hashlib

    tokens = json.dumps([hashlib.sha256(TOKEN.encode()).hexdigest()])
    try:
        envs = [
            {**os.environ, "RISKMAP_EDITOR_TOKEN_HASHES": tokens, "RISKMAP_WORKDIR": str(work / name)}
            for name in ("a", "b")
        ]
        t0 = time.perf_counter()
        with serving(url, env=envs[0]) as (a, proc_a):  # type: ignore[arg-type]
            up_a = time.perf_counter() - t0
            t1 = time.perf_counter()
            with serving(url, env=envs[1]) as (b, proc_b):  # type: ignore[arg-type]
                up_b = time.perf_counter() - t1
                counties = _counties(a)
                result["started_s"] = {"a": round(up_a, 1), "b": round(up_b, 1)}
                # each instance renders its opening map page as it takes over (9-18 s for all of China): wait
                # for both, or the first requests measured share the two cores with a render
                result["opening_map_s"] = {name: _opening_map(base) for name, base in (("a", a), ("b", b))}
                result["rss_mb_after_start"] = {"a": _processes(proc_a.pid), "b": _processes(proc_b.pid)}
                result["one_at_a_time_postgis"] = one_at_a_time(a, counties)
                result["rss_mb_after_one_at_a_time"] = {"a": _processes(proc_a.pid)}
                if not args.no_load:
                    result["load_two_instances"] = load_two(
                        url, [a, b], counties, args.clients, args.seconds, args.rebuild_at
                    )
                    result["rss_mb_after_load"] = {"a": _processes(proc_a.pid), "b": _processes(proc_b.pid)}
                if args.switches:
                    result["switch_idle"] = [
                        switch_idle(url, [a, b], f"2026-12-{5 + i:02d}") for i in range(args.switches)
                    ]
                    result["rss_mb_after_idle_switch"] = {"a": _processes(proc_a.pid), "b": _processes(proc_b.pid)}
                if args.pygeoapi:
                    result["pygeoapi"] = pygeoapi_side_by_side(args.pygeoapi, url, a, counties, work)
        if args.files:
            with serving(args.files) as (f, proc_f):
                result["one_at_a_time_files"] = one_at_a_time(f, _counties(f))
                result["rss_mb_files"] = _processes(proc_f.pid)
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
