"""One benchmark stage per process, so that each stage's peak memory is its own.

    python bench/stages.py STAGE WORKDIR

prints one JSON line: {"stage", "seconds", "peak_mb", ...}. Run by bench/run.py.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_csv_pyarrow(work: Path) -> dict:
    import pyarrow.csv as pacsv

    t = time.perf_counter()
    rows = 0
    for name in ("enterprises.csv", "enterprises_gcj02_gbk.csv"):
        path = work / "input" / name
        data = path.read_bytes()
        if "gbk" in name:
            data = data.decode("gb18030").encode("utf-8")
        rows += pacsv.read_csv(__import__("pyarrow").py_buffer(data)).num_rows
    return {"seconds": time.perf_counter() - t, "rows": rows}


def read_parquet_pyarrow(work: Path) -> dict:
    import pyarrow.parquet as pq

    t = time.perf_counter()
    rows = pq.read_table(work / "input" / "enterprises.parquet").num_rows
    return {"seconds": time.perf_counter() - t, "rows": rows}


def _fresh_store(work: Path, name: str):
    import shutil

    from geo.boundaries import load_bundled
    from geo.store import Store

    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    store = Store.open(root)
    store.write("boundaries", load_bundled())
    return store


def _ingest_rest(store, work: Path) -> None:
    from geo.ingest import ingest_file

    ingest_file(store, work / "input" / "hazards.geojson", "hazards")
    ingest_file(store, work / "input" / "events.csv", "events")


def _timed_build(work: Path, store_name: str, enterprise_files: list[tuple[str, str | None]]) -> dict:
    """Ingest the enterprise files (timed on their own), then hazards and events, then build."""
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file

    store = _fresh_store(work, store_name)
    t = time.perf_counter()
    for name, crs in enterprise_files:
        ingest_file(store, work / "input" / name, "enterprises", IngestOptions(crs=crs))
    t_ingest = time.perf_counter() - t
    _ingest_rest(store, work)
    t2 = time.perf_counter()
    build(store, date(2026, 11, 1))
    t_build = time.perf_counter() - t2
    return {"seconds": time.perf_counter() - t, "ingest_enterprises": t_ingest, "build": t_build}


def build_from_csv(work: Path) -> dict:
    return _timed_build(work, "store-csv", [("enterprises.csv", None), ("enterprises_gcj02_gbk.csv", "gcj02")])


def build_from_parquet(work: Path) -> dict:
    return _timed_build(work, "store-parquet", [("enterprises.parquet", None)])


def join_vs_sjoin(work: Path) -> dict:
    import geopandas as gpd
    import numpy as np
    import pyarrow.parquet as pq
    import shapely

    from geo.boundaries import load_bundled
    from geo.join import _covering_unit, _indexes

    table = pq.read_table(work / "input" / "enterprises.parquet", columns=["geometry"])
    pts = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    b = load_bundled()
    counties = b.loc[b["admin_level"] == "county"].reset_index(drop=True)
    t = time.perf_counter()
    _indexes(counties)
    t_index = time.perf_counter() - t
    ours, theirs = [], []
    for _ in range(3):
        t = time.perf_counter()
        idx = _covering_unit(pts, counties)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = gpd.sjoin(gpd.GeoDataFrame(geometry=pts, crs=4326), counties[["adcode", "geometry"]], predicate="within")
        theirs.append(time.perf_counter() - t)
    codes = np.where(idx >= 0, counties["adcode"].to_numpy()[np.maximum(idx, 0)], "-")
    ref_codes = ref.groupby(level=0)["adcode"].min().reindex(range(len(pts))).fillna("-").to_numpy()
    return {
        "seconds": float(np.median(ours)),
        "sjoin_seconds": float(np.median(theirs)),
        "index_build_seconds": t_index,
        "points": len(pts),
        "identical": bool((codes == ref_codes).all()),
    }


STAGES = {
    f.__name__: f for f in (read_csv_pyarrow, read_parquet_pyarrow, build_from_csv, build_from_parquet, join_vs_sjoin)
}

if __name__ == "__main__":
    stage, work = sys.argv[1], Path(sys.argv[2])
    result = STAGES[stage](work)
    result.update({"stage": stage, "peak_mb": round(_peak_mb(), 1)})
    print(json.dumps(result))
