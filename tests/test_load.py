"""Readers during rebuilds, over real HTTP: every response comes from one snapshot and says which."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import httpx
import pytest

from tests import support

TOKEN = "editor-load-token"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    return support.demo_store(tmp_path_factory.mktemp("load"), 2000, seed=3, as_of=date(2026, 10, 1))


@pytest.fixture(scope="module")
def service(small_store):
    from api.app import create_app
    from api.settings import Settings, hash_token

    settings = Settings(store=small_store.root, editor_token_hashes=(hash_token(TOKEN),))
    with support.serving(create_app(settings)) as base:
        yield base


def _check(path: str, r: httpx.Response) -> str:
    """The one snapshot a response names; its body agrees wherever the body names one too."""
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    served = r.headers["x-riskmap-snapshot"]
    assert "," not in served, (path, served)  # one snapshot, never two
    if path.startswith(("/regions/", "/near", "/explain/")):
        body = r.json()
        named = body["query"]["snapshot"] if path.startswith("/near") else body["snapshot"]
        assert named == served, (path, named, served)
        if path.startswith("/regions/"):
            assert body["trend"][-1]["snapshot"] == served, (path, body["trend"][-1], served)
            assert body["trend"][-1]["as_of"] == body["as_of"]
    return served


def test_every_response_names_one_snapshot_while_builds_publish(service, small_store):
    """Eight readers against four builds published by the serving process (POST /builds): no error, no
    response mixing two snapshots, the header agrees with the body, and readers see the new builds."""
    paths = [
        "/regions/330100",
        "/regions/330106",
        "/near?lon=120.16&lat=30.27&radius_m=3000",
        "/explain/330100",
        "/collections/regions-county/items?limit=20",
        "/collections/enterprises/items?limit=50&county_adcode=330106",
        "/map?level=county&parent=330100",
    ]
    seen: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    def reader(k: int) -> None:
        with httpx.Client(base_url=service, timeout=60) as client:
            i = k
            while not done.is_set():
                path = paths[i % len(paths)]
                i += 1
                try:
                    seen.append(_check(path, client.get(path)))
                except Exception as exc:  # noqa: BLE001 - every failure is reported below
                    failures.append(str(exc)[:300])

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    published = []
    try:
        for n in range(4):
            as_of = date(2026, 10, 2) + timedelta(days=n)
            r = httpx.post(
                service + "/builds",
                params={"as_of": str(as_of), "wait": 120},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=120,
            )
            assert r.status_code == 201, r.text
            published.append(r.json()["result"]["snapshot"])
            after = httpx.get(service + "/regions/330100")  # whoever built reads the build at once
            assert _check("/regions/330100", after) == published[-1]
    finally:
        done.set()
        for t in threads:
            t.join(60)
    assert failures == [], failures[:5]
    assert len(seen) > 50 and set(published) & set(seen), (len(seen), published)


RACE = """
import sys, threading, types
from datetime import date
import numpy as np, pandas as pd
from geo.boundaries import load_bundled
from geo.query import SnapshotReader

boundaries = load_bundled()
regions = pd.DataFrame({"adcode": boundaries["adcode"], "domain": "all", "risk_level": "blue", "risk_index": 1.0})
snap = types.SimpleNamespace(id="s", as_of=date(2026, 1, 1))
w, s, e, n = boundaries.total_bounds
for rnd in range(40):  # each round a new reader: its prepared boundaries build their indexes on first use
    reader = SnapshotReader(snap, snap.as_of, boundaries, regions, pd.DataFrame(), pd.DataFrame())
    start = threading.Barrier(8)
    found = []

    def ask(seed):
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(150):
            found.append(len(reader.regions_at(rng.uniform(w, e), rng.uniform(s, n))))

    threads = [threading.Thread(target=ask, args=(100 * rnd + i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(found) == 8 * 150 and max(found) == 3, (len(found), max(found))
print("ok")
"""


def test_regions_at_a_point_from_many_threads_at_once():
    """The service asks which regions hold a point from many request threads at once. GEOS builds a prepared
    geometry's index on its first test and is not thread-safe doing so: unguarded, this heap-corrupts the process
    (an abort or a segfault, in nearly every run of 40 rounds here) — it took a service process down under load."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", RACE], cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])
