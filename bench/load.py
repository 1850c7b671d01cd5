"""Load during a rebuild, and upload abuse: what a busy command centre and an attacker do to one service.

    python bench/load.py [--enterprises 1000000] [--clients 32] [--seconds 60] [--work DIR]

Builds a store of N demo enterprises in WORK (reused), serves it with `riskmap serve` (one serving process;
`--switch`), and runs
CLIENTS concurrent loopback clients for SECONDS against county items, `/near` (1 km) and vector tiles z8–12,
while a rebuild is submitted a third of the way in (`POST /builds`: a job in the service's worker process).
Every response is checked: 200, one snapshot named in `X-Riskmap-Snapshot`, and (for `/near`) the body naming
the same snapshot. Then a claimed 2 GB upload without a token is sent and the server's memory and temporary
disk are compared before and after. Prints one JSON document; run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
TOKEN = "bench-editor-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path, n: int) -> Path:
    """A built store of `n` demo enterprises (generated, ingested and built once; reused after)."""
    store = work / f"store-{n}"
    if (store / "manifest.json").exists():
        return store
    cli = [PY, "-m", "cli.main", "--store", str(store)]
    subprocess.run([*cli, "demo", "--no-serve", "--enterprises", str(n)], cwd=ROOT, check=True)
    return store


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tree_rss_mb(pid: int) -> float:
    """The resident memory of a process and its children (a service with several workers; job workers)."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return _rss_mb(pid) + sum(_tree_rss_mb(int(k)) for k in kids)


def _tmp_mb() -> float:
    root = Path(tempfile.gettempdir())
    total = 0
    for p in root.glob("riskmap-upload-*/**/*"):
        if p.is_file():
            total += p.stat().st_size
    return total / 2**20


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _requests(counties: list[str], rng: random.Random) -> tuple[str, str, dict]:
    kind = rng.choice(("county_items", "near", "tile"))
    if kind == "county_items":
        params = {"county_adcode": rng.choice(counties), "limit": 100}
        return kind, "/collections/enterprises/items", params
    lon, lat = rng.uniform(119.5, 121.5), rng.uniform(28.5, 30.5)
    if kind == "near":
        return kind, "/near", {"lon": lon, "lat": lat, "radius_m": 1000}
    z = rng.randint(8, 12)
    x, y = _tile(lon, lat, z)
    return kind, f"/tiles/enterprises/{z}/{x}/{y}.mvt", {}


async def _client(base: str, counties: list[str], until: float, seed: int, out: list) -> None:
    import httpx

    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.perf_counter() < until:
            kind, path, params = _requests(counties, rng)
            t = time.perf_counter()
            try:
                r = await client.get(path, params=params)
                ms = (time.perf_counter() - t) * 1000
                served = r.headers.get("x-riskmap-snapshot", "")
                torn = "," in served or not served
                if kind == "near" and r.status_code == 200:
                    torn = torn or r.json()["query"]["snapshot"] != served
                out.append((kind, ms, r.status_code, served, torn, t))
            except httpx.HTTPError as exc:
                out.append((kind, (time.perf_counter() - t) * 1000, type(exc).__name__, "", True, t))


async def _load(base: str, counties: list[str], clients: int, seconds: float, rebuild_as_of: str) -> dict:
    import httpx

    out: list = []
    start = time.perf_counter()
    until = start + seconds
    tasks = [asyncio.create_task(_client(base, counties, until, k, out)) for k in range(clients)]
    await asyncio.sleep(seconds / 3)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        submitted = time.perf_counter()
        job = (
            await client.post("/builds", params={"as_of": rebuild_as_of}, headers={"Authorization": f"Bearer {TOKEN}"})
        ).json()
        while True:
            doc = (await client.get(f"/jobs/{job['id']}", headers={"Authorization": f"Bearer {TOKEN}"})).json()
            if doc["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.5)
        built = time.perf_counter()
    await asyncio.gather(*tasks)
    new = doc.get("result", {}).get("snapshot")
    first_new = min((t for *_, served, _torn, t in out if served == new), default=None)
    summary: dict = {
        "requests": len(out),
        "errors": sum(1 for r in out if r[2] != 200),
        "torn": sum(1 for r in out if r[4]),
        "rebuild": {
            "status": doc["status"],
            "build_s": round(built - submitted, 2),
            "new_snapshot_served_after_s": None if first_new is None else round(first_new - built, 2),
        },
    }
    for kind in ("county_items", "near", "tile"):
        ms = sorted(r[1] for r in out if r[0] == kind)
        during = sorted(r[1] for r in out if r[0] == kind and submitted <= r[5] <= built)
        if ms:
            summary[kind] = {
                "n": len(ms),
                "p50_ms": round(ms[len(ms) // 2], 1),
                "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1),
                "p99_during_rebuild_ms": round(during[int(len(during) * 0.99) - 1], 1) if during else None,
            }
    summary["throughput_rps"] = round(len(out) / seconds, 1)
    return summary


def _load_wrk(base: str, counties: list[str], clients: int, seconds: float, rebuild_as_of: str | None) -> dict:
    """The same load with wrk (C, one event loop) instead of Python clients: on a 2-core machine 32 asyncio
    clients spend about a core of their own, which the service then does not have. One wrk per kind of request
    (`bench/load.lua` checks status and snapshot of every response), the clients split between them."""
    import httpx

    kinds = ("county_items", "near", "tile")
    share = [clients // 3 + (1 if k < clients % 3 else 0) for k in range(3)]
    procs = {
        kind: subprocess.Popen(
            ["wrk", "-t1", f"-c{n}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(HERE / "load.lua"), base]
            + ["--", kind, *counties],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for kind, n in zip(kinds, share, strict=True)
    }
    time.sleep(seconds / 3)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    doc: dict = {"status": "not asked"}
    submitted = built = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30) as client:
        while rebuild_as_of:
            if "id" not in doc:
                doc = client.post("/builds", params={"as_of": rebuild_as_of}, headers=auth).json()
            doc = client.get(f"/jobs/{doc['id']}", headers=auth).json()
            if doc["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        built = time.perf_counter()
    summary: dict = {"client": "wrk"}
    new = doc.get("result", {}).get("snapshot")
    for kind, proc in procs.items():
        text, _ = proc.communicate(timeout=seconds + 120)
        summary[kind] = json.loads(text.strip().splitlines()[-1])
    served = {s for kind in kinds for s in summary[kind].pop("snapshots").split()}
    summary["requests"] = sum(summary[k]["requests"] for k in kinds)
    summary["errors"] = sum(summary[k]["socket_errors"] + summary[k]["bad_status"] for k in kinds)
    summary["torn"] = sum(summary[k]["torn"] for k in kinds)
    summary["throughput_rps"] = round(summary["requests"] / seconds, 1)
    summary["rebuild"] = {
        "status": doc["status"],
        "build_s": round(built - submitted, 2),
        "new_snapshot_served": new in served,
        "snapshots_served": len(served),
    }
    return summary


PROVINCE = (119.5, 28.5, 121.5, 30.5)  # where the random points fall: west, south, east, north


def point_latencies(base: str, n: int = 200, box: tuple[float, ...] = PROVINCE, seed: int = 7) -> dict:
    """`/near` (1 km, with the nearest resources) and `/incident` (1 km, JSON) one at a time at random points of
    `box`, after a warm-up: p50, p90 and p99 in ms, and every travel-time `method` the answers named."""
    import httpx

    rng = random.Random(seed)
    out = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        for path in ("/near", "/incident"):
            client.get(path, params={"lon": 120.2, "lat": 30.25, "radius_m": 1000}).raise_for_status()
            ms, methods = [], set()
            for _ in range(n):
                params = {"lon": rng.uniform(box[0], box[2]), "lat": rng.uniform(box[1], box[3]), "radius_m": 1000}
                t = time.perf_counter()
                r = client.get(path, params=params)
                ms.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                methods |= _methods(r.json())
            ms.sort()
            out[path] = {
                "n": n,
                "p50_ms": round(ms[n // 2], 1),
                "p90_ms": round(ms[int(n * 0.9) - 1], 1),
                "p99_ms": round(ms[int(n * 0.99) - 1], 1),
                "methods": sorted(methods),
            }
    return out


def _methods(body: object) -> set[str]:
    """Every `method` named anywhere in a response (the travel-time method of each resource list)."""
    if isinstance(body, dict):
        return set().union(*({v} if k == "method" and isinstance(v, str) else _methods(v) for k, v in body.items()))
    if isinstance(body, list):
        return set().union(*(_methods(v) for v in body))
    return set()


@contextlib.contextmanager
def serving(store: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`riskmap serve` on `store` (with `options`) on a free loopback port, once it answers: (base URL, process);
    stopped on the way out."""
    import httpx

    port = _free_port()
    cmd = [PY, "-m", "cli.main", "--store", str(store), "serve", "--port", str(port), *options]
    logs = os.environ.get("RISKMAP_BENCH_LOGS")  # a directory: each service's output kept there
    out = open(Path(logs) / f"serve-{port}.log", "wb") if logs else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                httpx.get(base + "/conformance", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(30)


def upload_abuse(base: str, pid: int, claimed: int = 2 * 1024**3) -> dict:
    """Send a claimed 2 GB upload without a token, pushing bytes until the server answers."""
    host, port = base.removeprefix("http://").split(":")
    rss0, tmp0 = _tree_rss_mb(pid), _tmp_mb()
    head = (
        f"POST /datasets/enterprises HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {claimed}\r\n\r\n"
    ).encode()
    sent = 0
    t = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        reply = b""
        chunk = b"\0" * 65536
        while sent < claimed and not reply:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                pass
        sock.setblocking(True)
        reply = reply or sock.recv(4096)
    took = time.perf_counter() - t
    return {
        "status": int(reply.split(b" ", 2)[1]),
        "answered_after_s": round(took, 3),
        "bytes_sent_before_answer": sent,
        "server_rss_delta_mb": round(_tree_rss_mb(pid) - rss0, 1),
        "server_tmp_delta_mb": round(_tmp_mb() - tmp0, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--enterprises", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--work", type=Path, default=Path("/tmp/riskmap-bench"))
    p.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (apt install wrk; the default when installed) or asyncio httpx clients",
    )
    p.add_argument("--serve-workers", type=int, default=1, help="`riskmap serve --workers` (default 1)")
    p.add_argument(
        "--switch",
        choices=("handover", "in-process"),
        default="handover",
        help="`riskmap serve --switch`: new service processes per build (default) or a load in the serving one",
    )
    p.add_argument("--no-rebuild", action="store_true", help="the same load without a rebuild (a baseline)")
    args = p.parse_args()
    import httpx

    args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    store = prepare(args.work, args.enterprises)
    prepared = time.perf_counter() - t
    env = {**os.environ, "RISKMAP_EDITOR_TOKEN_HASHES": json.dumps([hashlib.sha256(TOKEN.encode()).hexdigest()])}
    options = ("--workers", str(args.serve_workers), "--switch", args.switch)
    with serving(store, *options, env=env) as (base, proc):
        regions = httpx.get(base + "/collections/regions-county/items", params={"limit": 1000}, timeout=300).json()
        counties = [f["properties"]["adcode"] for f in regions["features"]]
        meta = json.loads((store / "manifest.json").read_text())
        as_of = "2026-12-02" if "2026-12-02" not in json.dumps(meta) else "2026-12-03"
        result = {
            "enterprises": args.enterprises,
            "store_prepared_s": round(prepared, 1),
            "clients": args.clients,
            "serve_workers": args.serve_workers,
            "switch": args.switch,
            "seconds": args.seconds,
            "load": (
                _load_wrk(base, counties, args.clients, args.seconds, None if args.no_rebuild else as_of)
                if args.client == "wrk"
                else asyncio.run(_load(base, counties, args.clients, args.seconds, as_of))
            ),
            "one_at_a_time": point_latencies(base),
            "upload_2gb_unauthenticated": upload_abuse(base, proc.pid),
            "server_rss_mb": round(_tree_rss_mb(proc.pid), 1),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
