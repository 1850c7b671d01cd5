"""`riskmap build --engine dask`: the units scored per spatial partition on a `distributed.LocalCluster` give the
same snapshot as the in-memory engine; a worker lost mid-build is retried, and one lost for good publishes
nothing."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geo.build import build
from geo.engine import DaskEngine, EngineError, spatial_partitions
from geo.pointgrid import DEPTH, morton, owner_tiles
from geo.scoring.units import score_enterprises
from geo.snapshot import current
from tests import support

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 5)
TABLES = ("units", "regions", "hazards", "rescue_regions", "rescue_zones")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    return support.demo_store(tmp_path_factory.mktemp("engine"), 6000, seed=21)


@pytest.fixture()
def two_stores(base_store, tmp_path):
    """Two copies of one store: one for each engine."""
    from geo.store import Store

    copies = []
    for name in ("memory", "dask"):
        shutil.copytree(base_store.root, tmp_path / name, symlinks=True)
        copies.append(Store.open(tmp_path / name))
    return copies


def snapshot_tables(store) -> dict[str, pd.DataFrame]:
    snap = current(store)
    return {
        t: pq.read_table(snap.path / f"{t}.parquet").to_pandas()
        for t in TABLES
        if (snap.path / f"{t}.parquet").exists()
    }


def test_dask_build_equals_the_in_memory_build(two_stores):
    """Every column of every table of the snapshot, and the computed frames, equal the in-memory engine's."""
    memory_store, dask_store = two_stores
    _, reference = build(memory_store, AS_OF)
    engine = DaskEngine(workers=2, partitions=5)
    _, result = build(dask_store, AS_OF, engine=engine)
    assert engine.stats["workers"] == 2
    assert len(engine.stats["partitions"]) == 5 and sum(engine.stats["partitions"]) == len(reference.units)
    assert len(engine.stats["task_s"]) == 5  # each partition scored on a worker
    assert engine.stats["tallied"] and engine.stats["timed"]  # and timed and tallied into the regions there
    pd.testing.assert_frame_equal(result.units, reference.units)
    pd.testing.assert_frame_equal(result.regions, reference.regions)
    pd.testing.assert_frame_equal(pd.DataFrame(result.hazards), pd.DataFrame(reference.hazards))
    expected, got = snapshot_tables(memory_store), snapshot_tables(dask_store)
    assert set(got) == set(expected) and {"units", "regions", "hazards"} <= set(got)
    for table in expected:
        pd.testing.assert_frame_equal(got[table], expected[table], obj=table)
    assert current(dask_store).meta["unit_levels"] == current(memory_store).meta["unit_levels"]


def test_with_the_coping_term_the_workers_time_the_units_first(two_stores, tmp_path):
    """The coping term weighs units not reached in 15 minutes, so the workers time their units from the nearest
    responder before tallying them: the regions (their coping loads included) equal the in-memory engine's."""
    from geo.scoring.model import DEFAULT_PATH

    model = tmp_path / "coping.toml"
    model.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace("lack = 0.0 ", "lack = 0.5 "), encoding="utf-8")
    memory_store, dask_store = two_stores
    _, reference = build(memory_store, AS_OF, model)
    coping = [e["inputs"]["coping_load"] for e in reference.regions["explanation"]]
    assert max(coping) > 0  # the term is on, and some units are not reached
    engine = DaskEngine(workers=2, partitions=3)
    _, result = build(dask_store, AS_OF, model, engine=engine)
    assert engine.stats["tallied"] and engine.stats["timed"]
    pd.testing.assert_frame_equal(result.regions, reference.regions)
    pd.testing.assert_frame_equal(result.units, reference.units)


def test_spatial_partitions_are_equal_runs_of_the_morton_curve(rng):
    lon = rng.uniform(118, 123, 10_001)
    lat = rng.uniform(27, 31.2, 10_001)
    lon[5] = np.nan  # a unit without coordinates goes somewhere, once
    parts = spatial_partitions(lon, lat, 4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10_001))
    assert {len(p) for p in parts} <= {2500, 2501}
    x, y = owner_tiles(np.nan_to_num(lon, nan=180.0), np.nan_to_num(lat, nan=-85.0), DEPTH)
    codes = morton(x, y)
    spans = [(codes[p].min(), codes[p].max()) for p in parts]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # consecutive runs of the curve


def lose_worker_once(marker: str, *args):
    """Score, except the first time anywhere: then the worker process dies (as if its machine went away)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return score_enterprises(*args)
    os.close(fd)
    os._exit(1)


def lose_worker_always(*args):
    os._exit(1)


def test_a_worker_lost_mid_build_is_retried(two_stores, tmp_path):
    memory_store, dask_store = two_stores
    _, reference = build(memory_store, AS_OF)
    marker = tmp_path / "lost-once"
    engine = DaskEngine(workers=2, partitions=4, score=functools.partial(lose_worker_once, str(marker)))
    _, result = build(dask_store, AS_OF, engine=engine)
    assert marker.exists()  # a worker did die
    pd.testing.assert_frame_equal(result.units, reference.units)
    pd.testing.assert_frame_equal(result.regions, reference.regions)


def test_workers_lost_for_good_publish_nothing(two_stores):
    _, dask_store = two_stores
    before = current(dask_store).id
    with pytest.raises(EngineError, match="nothing was published"):
        build(dask_store, AS_OF, engine=DaskEngine(workers=2, partitions=2, score=lose_worker_always))
    assert current(dask_store).id == before
    assert not list((dask_store.root / "snapshots").glob(".building-*"))


def test_cli_build_with_the_dask_engine(two_stores):
    _, dask_store = two_stores
    cmd = [sys.executable, "-m", "cli.main", "--store", str(dask_store.root), "build", "--as-of", "2026-11-06"]
    out = subprocess.run([*cmd, "--engine", "dask", "--partitions", "3"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "engine: dask, 2 workers, 3 partitions of 2000–2001 units; scoring" in out.stdout
    assert current(dask_store).as_of == date(2026, 11, 6)
    bad = subprocess.run(
        [*cmd, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in bad.stderr and "Traceback" not in bad.stderr
