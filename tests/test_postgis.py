"""The PostgreSQL + PostGIS store against the directory store, on a throwaway cluster (`tests.pgcluster`):
the same commands on the same inputs give the same outputs; tables round-trip exactly; the schema migrates;
the database's lock keeps concurrent ingests whole; a build switches the current pointer in one step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-01"


def run(capsys, *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


# ---------------------------------------------------------------------------------------------- tables
def test_tables_round_trip_exactly(pg_url):
    from geo.store import Store

    store = Store.open(pg_url)
    frame = gpd.GeoDataFrame(
        {
            "id": pd.array(["a\tb", "c\\n\nd", "", None], dtype="str"),
            "text": pd.Series(["x", None, "\\N", "引号\"'"], dtype=object),
            "workers": pd.array([1, None, 12345678901234567, -3], dtype="Int64"),
            "count": np.array([1, 2, 3, 4], dtype=np.int64),
            "share": [0.1, np.nan, 1e-300, 123456.789012345678],
            "flag": pd.array([True, None, False, True], dtype="boolean"),
            "veto": np.array([True, False, False, True]),
            "found": pd.to_datetime(["2026-01-02", None, "2025-12-31 13:14:15.5", "2020-02-29"], format="mixed"),
        },
        geometry=[
            shapely.Point(120.1234567891, 30.1),
            shapely.LineString([(120, 30), (121, 31)]),
            shapely.Polygon([(0, 0), (1, 0), (1, 1)]),
            None,
        ],
        crs="EPSG:4326",
    )
    store.write("hazards", frame)
    back = store.read("hazards")
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(frame.drop(columns="geometry"))
    )
    assert list(back.columns) == list(frame.columns)
    assert back.crs.to_epsg() == 4326
    assert shapely.equals_exact(back.geometry.values[:3], frame.geometry.values[:3], tolerance=0).all()
    assert back.geometry.iloc[3] is None
    assert list(store.read("hazards", columns=["flag", "id"]).columns) == ["flag", "id"]
    entry = store.entry("hazards")
    few = store.read_entry(entry, few=True)  # fetched as rows (a page, the units near a point): the same frame
    whole = store.read_entry(entry)
    pd.testing.assert_frame_equal(
        pd.DataFrame(few.drop(columns="geometry")), pd.DataFrame(whole.drop(columns="geometry"))
    )
    assert shapely.equals_exact(few.geometry.values[:3], whole.geometry.values[:3], tolerance=0).all()
    assert few.geometry.iloc[3] is None and few.crs.to_epsg() == 4326


def test_a_table_is_copied_in_blocks_in_order(pg_url, monkeypatch):
    """A table goes to the database in blocks of COPY text (one for 10,000,000 rows outgrew 24 GB); the rows keep
    their order across the blocks' seams."""
    import geo.pgstore
    from geo.store import Store

    monkeypatch.setattr(geo.pgstore, "COPY_BLOCK", 3)
    store = Store.open(pg_url)
    frame = gpd.GeoDataFrame(
        {"id": [f"u{i}" for i in range(10)], "workers": pd.array(range(10), dtype="Int64")},
        geometry=[shapely.Point(120 + i / 10, 30) for i in range(10)],
        crs="EPSG:4326",
    )
    store.write("hazards", frame)
    back = store.read("hazards")
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(frame.drop(columns="geometry"))
    )
    assert shapely.equals_exact(back.geometry.values, frame.geometry.values, tolerance=0).all()
    assert store.entry("hazards").rows == 10


def test_schema_versions_and_errors(pg_url, pg_cluster):
    import psycopg

    from geo.errors import StoreError
    from geo.pgschema import LATEST
    from geo.store import Store

    with pytest.raises(StoreError, match="has no riskmap schema; run `riskmap store init"):
        Store.open(pg_url, create=False)
    assert main(["store", "init", "--store", pg_url]) == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM riskmap.schema_version").fetchone()[0] == LATEST
        conn.execute("DELETE FROM riskmap.schema_version WHERE version = %s", (LATEST,))
        conn.execute("DROP TABLE riskmap.models")  # what the latest migration made
    with pytest.raises(
        StoreError, match=f"schema version {LATEST - 1}, this riskmap needs {LATEST}; run `riskmap store upgrade"
    ):
        Store.open(pg_url)
    assert main(["store", "upgrade", "--store", pg_url]) == 0
    Store.open(pg_url, create=False)
    secret = pg_url.replace("riskmap@", "riskmap:hunter2@").rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreError) as err:
        Store.open(secret)
    assert "hunter2" not in str(err.value) and "no_such_db" in str(err.value) and "check the URL" in str(err.value)


# ---------------------------------------------------------------------------------------------- parity
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from geo.boundaries import load_bundled
    from synth import generate_demo

    b = load_bundled()
    out = tmp_path_factory.mktemp("pg-in")
    files = generate_demo(out, b.loc[b["admin_level"] == "county"], n_enterprises=1500, seed=5, end=date(2026, 11, 1))
    return [(kind, p) for kind, paths in files.items() for p in paths]


def _fill(store: str, inputs, capsys) -> None:
    run(capsys, "boundaries", "import", "--store", store)
    for kind, p in inputs:
        extra = ["--crs", "gcj02"] if "gcj02" in p.name else []
        run(capsys, "ingest", str(p), "--kind", kind, "--store", store, *extra)
    for as_of in ("2026-10-01", AS_OF):
        run(capsys, "build", "--as-of", as_of, "--store", store)


@pytest.fixture(scope="module")
def both(tmp_path_factory, inputs, pg_cluster):
    """A directory store and a PostgreSQL store filled by the same commands from the same files."""
    capsys = _NoCapture()
    files = str(tmp_path_factory.mktemp("pg-files") / "store")
    url = pg_cluster.new_database()
    _fill(files, inputs, capsys)
    _fill(url, inputs, capsys)
    return files, url


class _NoCapture:
    def readouterr(self):
        return "", ""


EXPORTS = [
    ("enterprises", "csv", []),
    ("enterprises", "parquet", []),
    ("regions", "csv", ["--level", "county"]),
    ("regions", "geojson", ["--level", "city", "--domain", "hazchem"]),
    ("hazards", "geojson", []),
    ("hazards-points", "kml", []),
]


def _contents(path: Path) -> dict[str, bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in sorted(z.namelist())}
    return {path.name: path.read_bytes()}


@pytest.mark.parametrize(("what", "fmt", "extra"), EXPORTS)
def test_exports_are_identical(both, tmp_path, capsys, what, fmt, extra):
    files, url = both
    outs = []
    for tag, store in (("files", files), ("pg", url)):
        out = tmp_path / tag / f"{what}.{fmt}"
        out.parent.mkdir()
        text = run(capsys, "export", what, "--format", fmt, "--out", str(out), "--store", store, *extra)
        written = Path(re.search(r" to (\S+)$", text.strip()).group(1))
        outs.append(_contents(written))
    assert outs[0] == outs[1] and outs[0]


def _without_ids(text: str) -> str:
    return re.sub(r"\d{8}T\d{6}\d{6}Z-asof-", "SNAP-", text)


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "330106", "--json"],
        ["explain", "330106", "--json", "--as-of", "2026-06-01"],
        ["trend", "--from", "2026-05-01", "--to", AS_OF],
        ["near", "--lon", "120.13", "--lat", "30.26", "--radius", "3000", "--json"],
        ["alerts", "--json"],
    ],
)
def test_reports_are_identical(both, capsys, args):
    files, url = both
    a = _without_ids(run(capsys, *args, "--store", files))
    b = _without_ids(run(capsys, *args, "--store", url))
    assert a == b and len(a) > 100


def test_near_from_the_database_equals_near_in_memory(both):
    from geo.pgquery import PgNearReader
    from geo.query import SnapshotReader, near_payload
    from geo.snapshot import current
    from geo.store import Store

    snap = current(Store.open(both[1]))
    sql, memory = PgNearReader.open(snap), SnapshotReader.open(snap)
    units = snap.units(["geometry"])
    rng = np.random.default_rng(11)
    for i in rng.choice(len(units), 8, replace=False):
        point = units.geometry.iloc[i]
        for radius, limit in ((300.0, 100), (5000.0, 7), (40000.0, 1000)):
            a = near_payload(sql, point.x + 0.0004, point.y, radius, "wgs84", limit)
            b = near_payload(memory, point.x + 0.0004, point.y, radius, "wgs84", limit)
            assert a == b and a["total"]["enterprises"] > 0


def test_map_is_identical(both, tmp_path, capsys):
    files, url = both
    pages = []
    for tag, store in (("f", files), ("p", url)):
        out = tmp_path / f"{tag}.html"
        run(capsys, "map", "--level", "county", "--out", str(out), "--store", store)
        pages.append(_without_ids(out.read_text(encoding="utf-8")))
    assert pages[0] == pages[1]


def test_store_copy_both_ways(both, tmp_path, capsys, pg_cluster):
    files, url = both
    copied_db = pg_cluster.new_database()
    back = str(tmp_path / "back")
    run(capsys, "store", "copy", files, copied_db)
    run(capsys, "store", "copy", copied_db, back)
    from geo.snapshot import current, kept
    from geo.store import Store

    src, mid, end = (Store.open(s) for s in (files, copied_db, back))
    assert [s.id for s in kept(src)] == [s.id for s in kept(mid)] == [s.id for s in kept(end)]
    assert current(src).id == current(mid).id == current(end).id
    for store in (copied_db, back):
        out = tmp_path / f"{abs(hash(store))}.csv"
        run(capsys, "export", "enterprises", "--format", "csv", "--out", str(out), "--store", store)
        ref = tmp_path / "ref.csv"
        run(capsys, "export", "enterprises", "--format", "csv", "--out", str(ref), "--store", files)
        assert out.read_bytes() == ref.read_bytes()
    assert current(end).prompts().equals(current(src).prompts())


# ---------------------------------------------------------------------------------------------- writers
def test_concurrent_ingests_lose_no_rows(pg_url, tmp_path, counties):
    from geo.store import Store

    store = Store.open(pg_url)
    store.write("boundaries", counties)
    rng = np.random.default_rng(1)
    paths = []
    for part in range(3):
        pts = counties.geometry.representative_point()
        n = 400
        pick = rng.integers(0, len(pts), n)
        frame = pd.DataFrame(
            {
                "id": [f"P{part}-{i}" for i in range(n)],
                "name": [f"企业{part}-{i}" for i in range(n)],
                "domain": "hazchem",
                "industry": "危险化学品生产",
                "lon": pts.x.to_numpy()[pick],
                "lat": pts.y.to_numpy()[pick],
            }
        )
        path = tmp_path / f"part{part}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "ingest", str(p), "--kind", "enterprises", "--store", pg_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in paths
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    ids = store.read("enterprises", columns=["id"])["id"]
    assert len(ids) == 1200 and ids.is_unique
    assert store.manifest()["tables"]["enterprises"]["rows"] == 1200


def test_publish_switches_pointer_and_keeps_the_last_n(pg_url, counties, monkeypatch):
    import psycopg

    import geo.pgsnapshot
    from geo.build import build
    from geo.snapshot import current, kept
    from geo.store import Store
    from synth import generate_demo

    store = Store.open(pg_url)
    store.write("boundaries", counties)
    files = generate_demo(Path(store.root) / "in", counties, n_enterprises=300, seed=2)
    from geo.ingest import IngestOptions, ingest_file

    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    monkeypatch.setattr(geo.pgsnapshot, "KEEP", 3)
    first, _ = build(store, date(2026, 1, 1))
    reader = current(store)  # a request that resolved the pointer before the next builds
    ids = [first.id] + [build(store, date(2026, m, 1))[0].id for m in (2, 3, 4)]
    assert current(store).id == ids[-1] and [s.id for s in kept(store)] == ids[1:]
    with pytest.raises(Exception, match="pruned"):
        reader.units()
    kept_reader = kept(store)[0]
    build(store, date(2026, 5, 1))
    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'riskmap'")}
        assert not any(t.startswith("b") for t in tables if t[1:2].isdigit())  # no staging left
        prompts = conn.execute("SELECT count(*) FROM riskmap.tables WHERE name LIKE '%:prompts'").fetchone()[0]
    assert prompts == 5  # prompts outlive their snapshots (riskmap alerts --build)
    with pytest.raises(Exception, match="pruned"):
        kept_reader.hazards()
    assert json.dumps(current(store).history("330106"))  # history across the kept snapshots
    assert len(current(store).history(current(store).regions()["adcode"].iloc[0])) == 3


def test_store_check_drops_a_dead_build(pg_url, capsys):
    import psycopg

    from geo.store import Store

    store = Store.open(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE riskmap.b999_records (x int)")  # what a build killed mid-way leaves
    assert main(["store", "check", "--store", pg_url]) == 1
    assert "riskmap.b999_records" in capsys.readouterr().out
    assert main(["store", "check", "--repair", "--store", pg_url]) == 0
    assert store.leftovers() == []
