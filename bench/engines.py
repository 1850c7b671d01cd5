"""The build on each engine: in memory (one process) and Dask (a LocalCluster of N worker processes).

    python bench/engines.py --store DIR [--as-of 2026-11-01] [--workers 2] [--prepare N --provinces all]

With `--prepare N`, first fills DIR: all of China's boundaries (`riskmap boundaries import --province all`, or
the `--provinces` list), N demo units spread by the declared province weights (`riskmap demo-data`), ingested
file by file, and calibrated. Then runs `riskmap build` once per engine as a separate process, sampling the
resident memory of every process of its tree four times a second, and prints one JSON document: wall time,
peak memory of the driver and of each worker, the partitions' scoring times and, from them, what 4 and 16
workers would take (a projection: the driver's serial part plus the summed partition time divided by the
workers; labelled so). Run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def riskmap(store: Path, *args: str) -> str:
    cmd = [PY, "-m", "cli.main", "--store", str(store), *args]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def prepare(store: Path, n: int, provinces: str) -> dict:
    t = {}
    t0 = time.perf_counter()
    riskmap(store, "boundaries", "import", "--province", provinces)
    t["boundaries_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    riskmap(store, "demo-data", "--out", str(store / "demo-input"), "--enterprises", str(n))
    t["generate_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    for kind, name in (
        ("enterprises", "enterprises.csv"),
        ("enterprises", "enterprises_gcj02_gbk.csv"),
        ("hazards", "hazards.geojson"),
        ("events", "events.csv"),
        ("resources", "resources.csv"),
    ):
        extra = ["--crs", "gcj02"] if "gcj02" in name else []
        riskmap(store, "ingest", str(store / "demo-input" / name), "--kind", kind, *extra)
    t["ingest_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    riskmap(store, "calibrate")
    t["calibrate_s"] = round(time.perf_counter() - t0, 1)
    return t


def _tree(pid: int) -> list[int]:
    """Every descendant of `pid` (children started by any of its threads)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    return "worker" if b"spawn_main" in cmd or b"distributed" in cmd else "other"


def timed_build(store: Path, as_of: str, *engine: str) -> dict:
    cmd = [PY, "-m", "cli.main", "--store", str(store), "build", "--as-of", as_of, *engine]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, tuple[str, float]] = {}
    total_peak = 0.0

    def sample() -> None:
        nonlocal total_peak
        while proc.poll() is None:
            pids = [proc.pid, *_tree(proc.pid)]
            now = 0.0
            for pid in pids:
                mb = _rss_mb(pid)
                now += mb
                role = peaks.get(pid, (_role(pid, proc.pid), 0.0))[0]
                peaks[pid] = (role, max(mb, peaks.get(pid, (role, 0.0))[1]))
            total_peak = max(total_peak, now)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{err[-3000:]}")
    reported = float(re.search(r"^time: ([\d.]+) s", out, re.M).group(1))  # type: ignore[union-attr]
    workers = sorted((mb for role, mb in peaks.values() if role == "worker"), reverse=True)
    return {
        "wall_s": round(wall, 1),
        "build_s": reported,  # inside the process, after its imports
        "driver_peak_mb": round(max((mb for role, mb in peaks.values() if role == "driver"), default=0.0)),
        "worker_peaks_mb": [round(mb) for mb in workers[:8]],
        "tree_peak_mb": round(total_peak),
        "engine_line": next((line for line in out.splitlines() if line.startswith("engine:")), ""),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--as-of", default="2026-11-01")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--partitions", type=int, help="default: the engine's (4 per worker)")
    p.add_argument("--prepare", type=int, metavar="N", help="fill the store first with N demo units")
    p.add_argument("--provinces", default="all", help="with --prepare: the boundaries to import (default all)")
    args = p.parse_args()
    doc: dict = {"store": str(args.store)}
    if args.prepare:
        args.store.mkdir(parents=True, exist_ok=True)
        doc["prepare"] = prepare(args.store, args.prepare, args.provinces)
    manifest = json.loads((args.store / "manifest.json").read_text())
    doc["units"] = manifest["tables"]["enterprises"]["rows"]
    doc["memory"] = timed_build(args.store, args.as_of)
    dask = ["--engine", "dask", "--workers", str(args.workers)]
    if args.partitions:
        dask += ["--partitions", str(args.partitions)]
    doc["dask"] = timed_build(args.store, args.as_of, *dask)
    doc["dask"]["workers"] = args.workers
    m = re.search(
        r"scoring ([\d.]+) s \((\d+) tasks: ([\d.]+) s of work, the longest ([\d.]+) s\)", doc["dask"]["engine_line"]
    )
    if m:
        scoring, work, longest = float(m.group(1)), float(m.group(3)), float(m.group(4))
        serial = doc["dask"]["build_s"] - scoring  # read, hazards, rescue, regions, prompts, publish: the driver
        doc["projection"] = {
            "note": "projection, not measured: the driver's serial part + the partitions' work ÷ workers",
            "serial_s": round(serial, 1),
            **{f"{n}_workers_s": round(serial + max(work / n, longest), 1) for n in (4, 16)},
        }
    print(json.dumps(doc, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
