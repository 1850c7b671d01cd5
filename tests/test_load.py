"""Readers during rebuilds, over real HTTP: every response comes from one snapshot and says which."""

from __future__ import annotations

import socket
import threading
import time
from datetime import date, timedelta

import httpx
import pytest
import uvicorn

TOKEN = "editor-load-token"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from geo.boundaries import load_bundled
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    root = tmp_path_factory.mktemp("load")
    store = Store.open(root / "store")
    b = load_bundled()
    store.write("boundaries", b)
    files = generate_demo(root / "in", b.loc[b["admin_level"] == "county"], n_enterprises=2000, seed=3)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    build(store, date(2026, 10, 1))
    return store


@pytest.fixture(scope="module")
def service(small_store):
    from api.app import create_app
    from api.settings import Settings, hash_token

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(store=small_store.root, editor_token_hashes=(hash_token(TOKEN),))
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/conformance", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base
    srv.should_exit = True
    thread.join(5)


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
