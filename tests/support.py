"""What many test modules need: a built demo store, and an ASGI app served over real HTTP on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_store(
    root: Path, n_enterprises: int, seed: int, as_of: date = date(2026, 11, 1), location: str | None = None
) -> Any:
    """A store (a directory under `root`, or `location`: a PostgreSQL URL) with the demo census
    (`n_enterprises`, `seed`) ingested and built as of `as_of`."""
    from geo.boundaries import load_bundled
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    store = Store.open(location or root / "store")
    b = load_bundled()
    store.write("boundaries", b)
    files = generate_demo(root / "in", b.loc[b["admin_level"] == "county"], n_enterprises=n_enterprises, seed=seed)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    build(store, as_of)
    return store


def wait_until_up(base: str, seconds: float = 30.0) -> None:
    """Wait until the service at `base` answers (a server just started in a thread or a process)."""
    for _ in range(int(seconds * 10)):
        try:
            httpx.get(base + "/conformance", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the base URL once it answers."""
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{srv.config.port}"
    wait_until_up(base)
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(5)
