"""Snapshots are versioned and published atomically: a reader sees the old one or the new one, never half."""

from __future__ import annotations

import threading

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo import snapshot as snapmod
from geo.snapshot import current, publish


def _tables(tag: str):
    units = gpd.GeoDataFrame({"id": [f"{tag}-1"], "risk_level": ["red"]}, geometry=[shapely.Point(120, 30)], crs=4326)
    hazards = gpd.GeoDataFrame({"id": [], "risk_level": []}, geometry=[], crs=4326)
    regions = pd.DataFrame(
        {
            "adcode": ["330106"],
            "domain": ["all"],
            "risk_level": ["red"],
            "tag": [tag],
            "rules": [["r"]],
            "explanation": [{"tag": tag}],
        }
    )
    return units, hazards, regions


def test_publish_makes_new_current_and_keeps_old(store):
    a = publish(store, *_tables("a"), meta={"as_of": "2026-01-01"})
    b = publish(store, *_tables("b"), meta={"as_of": "2026-02-01"})
    assert current(store).id == b.id != a.id
    assert (store.root / "snapshots" / a.id).is_dir()
    snap = current(store)
    assert snap.regions()["tag"].tolist() == ["b"] and snap.regions()["explanation"].iloc[0] == {"tag": "b"}
    assert snap.as_of.isoformat() == "2026-02-01"


def test_failed_publish_leaves_the_old_snapshot_current(store, monkeypatch):
    a = publish(store, *_tables("a"), meta={"as_of": "2026-01-01"})
    real = snapmod._write

    def failing(frame, path):
        if path.name == "regions.parquet":
            raise OSError("disk full")
        real(frame, path)

    monkeypatch.setattr(snapmod, "_write", failing)
    with pytest.raises(OSError, match="disk full"):
        publish(store, *_tables("b"), meta={"as_of": "2026-02-01"})
    assert current(store).id == a.id
    assert not [p for p in (store.root / "snapshots").iterdir() if p.name.startswith(".")]


def test_old_snapshots_are_pruned(store, monkeypatch):
    monkeypatch.setattr(snapmod, "KEEP", 3)
    ids = [publish(store, *_tables(str(i)), meta={"as_of": "2026-01-01"}).id for i in range(5)]
    kept = sorted(p.name for p in (store.root / "snapshots").iterdir())
    assert kept == ids[-3:]


def test_readers_never_see_a_half_written_snapshot(store):
    publish(store, *_tables("0"), meta={"as_of": "2026-01-01"})
    errors: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            snap = current(store)
            tag = snap.regions()["tag"].iloc[0]
            units = snap.units()
            if units["id"].iloc[0] != f"{tag}-1":
                errors.append(f"{snap.id}: regions {tag} but units {units['id'].iloc[0]}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 15):
            publish(store, *_tables(str(i)), meta={"as_of": "2026-01-01"})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


def test_built_snapshot_links_the_records_and_keeps_them(store, counties, tmp_path):
    """A build links the store's records instead of copying them; the snapshot reads as one table equal to
    the in-memory computation, and keeps its records when the store is re-ingested afterwards."""
    from datetime import date

    import numpy as np

    from geo.build import build, compute
    from geo.ingest import IngestOptions, ingest_file
    from synth import generate_demo

    files = generate_demo(tmp_path / "in", counties, n_enterprises=400, seed=5)
    for i, f in enumerate(files["enterprises"]):
        ingest_file(store, f, "enterprises", IngestOptions(crs=[None, "gcj02"][i]))
    ingest_file(store, files["events"][0], "events")
    snap, _ = build(store, date(2026, 11, 1))
    assert (snap.path / "records.parquet").stat().st_ino == store.table_path("enterprises").stat().st_ino
    units = snap.units()
    expected = compute(store, date(2026, 11, 1)).units
    assert isinstance(units, gpd.GeoDataFrame) and units.crs.to_epsg() == 4326
    assert list(units.columns) == snap.unit_columns()

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # one spelling of "missing" (the file has no None/NaN split)
        frame = pd.DataFrame(frame.drop(columns="geometry")).astype(object)
        return frame.where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(units), plain(expected)[units.columns.drop("geometry")])
    assert shapely.equals_exact(units.geometry.values, expected.geometry.values, tolerance=0).all()
    some = snap.units(columns=["risk_level", "id", "geometry"])
    assert list(some.columns) == ["risk_level", "id", "geometry"] and some["id"].equals(units["id"])
    assert list(snap.units(columns=["risk_score"]).columns) == ["risk_score"]
    before = units["id"].copy()
    ingest_file(store, files["enterprises"][0], "enterprises")  # replaces the store file
    assert store.table_path("enterprises").stat().st_ino != (snap.path / "records.parquet").stat().st_ino
    assert np.array_equal(snap.units(columns=["id"])["id"].to_numpy(), before.to_numpy())


def test_stale_score_columns_in_the_records_are_replaced(store, counties, tmp_path):
    """Records that carry score columns (a store written by other means) are rescored, as `compute` does."""
    from datetime import date

    from geo.build import build, compute
    from geo.ingest import ingest_file
    from synth import generate_demo

    files = generate_demo(tmp_path / "in", counties, n_enterprises=200, seed=2)
    ingest_file(store, files["enterprises"][0], "enterprises")
    records = store.read("enterprises")
    store.write("enterprises", records.assign(risk_level="red", risk_score=99.0))
    snap, result = build(store, date(2026, 11, 1))
    units = snap.units(columns=["id", "risk_level", "risk_score"])
    fresh = compute(store, date(2026, 11, 1)).units
    assert units["risk_level"].tolist() == fresh["risk_level"].tolist() != ["red"] * len(fresh)
    assert units["risk_score"].tolist() == fresh["risk_score"].tolist()
    assert (
        snap.meta["unit_levels"]
        == fresh["risk_level"].value_counts().reindex(["red", "orange", "yellow", "blue"], fill_value=0).to_dict()
    )
