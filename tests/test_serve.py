"""`riskmap serve`'s handover: a new build is served by new service processes while the old ones drain."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest

from geo.build import build
from geo.snapshot import current
from geo.store import Store
from tests import support

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    return support.demo_store(tmp_path_factory.mktemp("serve"), 3000, seed=11)


@contextmanager
def serve(store: Store, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = support.free_port()
    cmd = [sys.executable, "-m", "cli.main", "--store", str(store.root), "serve", "--port", str(port), *options]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        support.wait_until_up(base, 60)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(60)


def service_processes(pid: int) -> set[int]:
    """The supervisor's service processes (serving, standby or draining), not multiprocessing's tracker."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    out = set()
    for kid in found:
        try:
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            out.add(int(kid))
    return out


class Readers:
    """Clients that keep asking over keep-alive connections and record every answer (or failure)."""

    def __init__(self, base: str, n: int = 4):
        self.base = base
        self.stop = threading.Event()
        self.answers: list[tuple[int, str]] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.get("/collections/enterprises/items", params={"limit": 5, "county_adcode": "330106"})
                    self.answers.append((r.status_code, r.headers.get("x-riskmap-snapshot", "")))
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def latest(self) -> str:
        return self.answers[-1][1] if self.answers else ""


def snapshot_of(base: str) -> str:
    r = httpx.get(base + "/collections/enterprises/items", params={"limit": 1}, timeout=30)
    return r.headers.get("x-riskmap-snapshot", "")


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_build_is_served_by_new_processes_with_no_failed_request(small_store):
    """Readers on keep-alive connections while a build is published: every request answered (200), each from
    the old snapshot or the new one, the new one served within seconds, and the old process retired."""
    old = current(small_store).id
    with serve(small_store) as (base, proc):
        wait_for(lambda: len(service_processes(proc.pid)) == 2, 60, "a serving and a standby process")
        before = service_processes(proc.pid)
        with Readers(base) as readers:
            wait_for(lambda: len(readers.answers) > 20, 30, "readers answered")
            new, _ = build(small_store, date(2026, 11, 2))
            published = time.monotonic()
            wait_for(lambda: readers.latest() == new.id, 60, "the new snapshot served")
            switched = time.monotonic() - published
            time.sleep(0.5)
        assert readers.failures == []
        assert {status for status, _ in readers.answers} == {200}
        assert {snap for _, snap in readers.answers} == {old, new.id}
        assert switched < 30
        # the old serving process drains and exits; the standby became the serving one; a new standby waits
        wait_for(lambda: len(before - service_processes(proc.pid)) == 1, 60, "the old service process retired")
        wait_for(lambda: len(service_processes(proc.pid)) == 2, 60, "a new standby process")
        # getting ready ran in a thread niced like the build jobs; the thread that serves kept its priority
        assert {nice(pid) for pid in service_processes(proc.pid)} == {os.nice(0)}


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_a_snapshot_that_fails_to_load_leaves_the_old_one_served(small_store):
    """A published snapshot the service cannot load (a damaged file) is reported on stderr and the running
    processes keep answering from the snapshot they hold; the next good build is served."""
    good = current(small_store)
    with serve(small_store) as (base, proc):
        broken_id = good.id.replace("Z-asof", "Z9-asof")
        shutil.copytree(good.path, good.path.parent / broken_id)
        (good.path.parent / broken_id / "units.parquet").write_bytes(b"not parquet")
        small_store.update_manifest(snapshot=broken_id)
        with Readers(base, n=2) as readers:
            time.sleep(6)  # the supervisor polls twice a second; the load fails in a moment
        assert readers.failures == []
        assert {status for status, _ in readers.answers} == {200}
        assert {snap for _, snap in readers.answers} == {good.id}
        small_store.update_manifest(snapshot=good.id)  # (a build reads the current snapshot's history)
        shutil.rmtree(good.path.parent / broken_id)
        fixed, _ = build(small_store, date(2026, 11, 3))
        wait_for(lambda: snapshot_of(base) == fixed.id, 60, "the next good build served")
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert f"snapshot {broken_id} did not load" in err.decode(), err.decode()[-2000:]


def test_in_process_switch_keeps_one_process(small_store):
    """`--switch in-process`: the old behaviour, one process that loads a new build in the background."""
    with serve(small_store, "--switch", "in-process") as (base, proc):
        assert service_processes(proc.pid) == set()
        new, _ = build(small_store, date(2026, 11, 4))
        wait_for(lambda: snapshot_of(base) == new.id, 60, "served in process")


def test_a_service_process_killed_is_replaced(small_store):
    """kill -9 of the serving process: the standby takes over (the accept queue is the supervisor's socket's,
    so clients wait rather than fail to connect) and a new standby is started."""
    import signal

    with serve(small_store) as (base, proc):
        wait_for(lambda: len(service_processes(proc.pid)) == 2, 60, "a serving and a standby process")
        serving = min(service_processes(proc.pid))  # started first
        os.kill(serving, signal.SIGKILL)
        wait_for(lambda: snapshot_of(base) == current(small_store).id, 60, "answering again")
        wait_for(lambda: len(service_processes(proc.pid) - {serving}) == 2, 60, "a new standby")
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert f"service process {serving} ended; starting another" in err.decode()
