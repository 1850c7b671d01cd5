"""Hard kills: a writer killed with SIGKILL mid-way loses nothing and tears nothing; the next writer (under the
store's lock) removes what it left, and `riskmap store check` says the store is sound.

Each test starts the CLI in a subprocess with $RISKMAP_PAUSE_AT naming a `geo.store.checkpoint`: the process
stops there and says so, and the test kills it with SIGKILL, at exactly that point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from geo.store import PAUSE_ENV
from tests.conftest import inside_point

ROOT = Path(__file__).resolve().parents[1]


def _cli(store, *args: str, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    cmd = [sys.executable, "-m", "cli.main", "--store", str(store.root), *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(store, *args: str) -> subprocess.CompletedProcess:
    proc = _cli(store, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_at(store, pause: str, *args: str) -> int:
    """Run the CLI until it pauses at `pause`, then SIGKILL it; its pid."""
    proc = _cli(store, *args, pause=pause)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline and "paused at" not in line:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.fail(f"the CLI ended before {pause}: {proc.returncode}")
    assert f"paused at {pause}" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


@pytest.fixture()
def census(tmp_path, counties):
    lon, lat = inside_point(counties, "330106")
    path = tmp_path / "e.csv"
    rows = [f"E{i},企业{i},fire,{lon},{lat}" for i in range(50)]
    path.write_text("id,name,domain,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _leftovers(store) -> list[str]:
    temps = [p.name for p in store.root.iterdir() if p.name.startswith(".enterprises.parquet.")]
    snaps = store.root / "snapshots"
    staging = [p.name for p in snaps.iterdir() if p.name.startswith(".building-")] if snaps.exists() else []
    return temps + staging


def test_kill_during_ingest_then_the_next_ingest_cleans_up(store, census):
    pid = _kill_at(store, "store:temp-written", "ingest", str(census), "--kind", "enterprises")
    left = _leftovers(store)
    assert left and all(f".{pid}-" in name for name in left), left
    assert not store.has("enterprises")  # nothing torn: the table was never replaced
    check = _run(store, "store", "check")
    assert check.returncode == 1 and "leftover" in check.stdout and "left by a writer that is gone" in check.stdout

    again = _run(store, "ingest", str(census), "--kind", "enterprises")
    assert again.returncode == 0, again.stderr
    assert _leftovers(store) == []
    assert len(store.read("enterprises")) == 50
    check = _run(store, "store", "check")
    assert check.returncode == 0, check.stdout


def test_kill_during_build_then_the_next_build_cleans_up(store, census):
    assert _run(store, "ingest", str(census), "--kind", "enterprises").returncode == 0
    assert _run(store, "build", "--as-of", "2026-01-01").returncode == 0
    first = store.manifest()["snapshot"]
    pid = _kill_at(store, "build:staged", "build", "--as-of", "2026-02-01")
    left = _leftovers(store)
    assert left == [name for name in left if name.startswith(f".building-{pid}-")] and left
    assert store.manifest()["snapshot"] == first  # the published build is untouched

    check = _run(store, "store", "check")
    assert check.returncode == 1 and ".building-" in check.stdout
    done = _run(store, "build", "--as-of", "2026-03-01")
    assert done.returncode == 0, done.stderr
    assert _leftovers(store) == []
    assert store.manifest()["snapshot"].endswith("asof-2026-03-01")
    assert _run(store, "store", "check").returncode == 0


def test_kill_while_publishing_under_the_lock(store, census):
    assert _run(store, "ingest", str(census), "--kind", "enterprises").returncode == 0
    _kill_at(store, "build:written", "build", "--as-of", "2026-02-01")  # the lock dies with the process
    assert len(_leftovers(store)) == 1
    assert store.manifest().get("snapshot") is None
    again = _run(store, "ingest", str(census), "--kind", "enterprises")  # any writer cleans up
    assert again.returncode == 0 and _leftovers(store) == []
    assert _run(store, "store", "check").returncode == 0


def test_a_live_build_is_not_swept(store):
    staging = store.make_staging()
    with store.lock():
        pass
    assert staging.exists()  # its owner holds the .owner lock
    from geo.snapshot import discard

    discard(staging)
    assert not staging.exists()


def test_store_check_repairs_the_manifest(store, census):
    from geo.ingest import ingest_file
    from geo.store_check import check_store

    ingest_file(store, census, "enterprises")
    manifest = store.manifest()
    manifest["tables"]["enterprises"]["rows"] = 7  # a writer killed between the table and the manifest
    manifest["tables"]["hazards"] = {"file": "hazards.parquet", "rows": 3}
    manifest["snapshot"] = "20990101T000000000000Z-asof-2099-01-01"
    store.update_manifest(**manifest)
    problems = check_store(store)
    assert {(p.what, p.repairable) for p in problems} == {("table", True), ("snapshot", True)}
    assert len(problems) == 3 and not any(p.repaired for p in problems)
    check = _run(store, "store", "check", "--repair")
    assert check.returncode == 0 and check.stdout.count("[repaired]") == 3, check.stdout
    after = store.manifest()
    assert after["tables"]["enterprises"]["rows"] == 50 and "hazards" not in after["tables"]
    assert after["snapshot"] is None
    assert check_store(store) == []
    assert pd.read_parquet(store.table_path("enterprises"))["id"].nunique() == 50
