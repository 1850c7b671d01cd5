"""Two `riskmap serve` processes on one PostgreSQL store: a build published by anyone is served by both
within 5 s, without a restart, and every response names one snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx

from tests import support

ROOT = Path(__file__).resolve().parents[1]


def _snapshot_of(base: str) -> str | None:
    try:
        r = httpx.get(base + "/regions/330106", timeout=5)
    except httpx.HTTPError:
        return None
    return r.headers.get("x-riskmap-snapshot") if r.status_code == 200 else None


def test_two_services_switch_to_a_new_build(pg_url, counties, tmp_path):
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    store = Store.open(pg_url)
    store.write("boundaries", counties)
    for kind, paths in generate_demo(tmp_path / "in", counties, n_enterprises=800, seed=4).items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    first, _ = build(store, date(2026, 10, 1))
    ports = [support.free_port(), support.free_port()]
    env = {**os.environ, "RISKMAP_WORKDIR": str(tmp_path / "work")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--store", pg_url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 120
        while any(_snapshot_of(b) != first.id for b in bases):
            assert time.monotonic() < deadline, [p.poll() for p in procs]
            time.sleep(0.2)
        second, _ = build(store, date(2026, 11, 1))
        published = time.monotonic()
        seen: set[str | None] = set()
        while True:
            now = [_snapshot_of(b) for b in bases]
            seen |= set(now)
            if all(s == second.id for s in now):
                break
            assert time.monotonic() - published < 5, f"still serving {now} 5 s after {second.id} was published"
            time.sleep(0.1)
        assert seen <= {first.id, second.id}  # every response from one snapshot or the other
        body = httpx.get(bases[1] + "/regions/330106").json()
        assert body["snapshot"] == second.id and body["as_of"] == "2026-11-01"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
