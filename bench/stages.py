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
    """Just reading the CSV build's input: the enterprise CSVs and events.csv with pyarrow.csv (the GBK file
    decoded first), the hazard sites' GeoJSON with pyogrio into Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyogrio

    t = time.perf_counter()
    rows = 0
    for name in ("enterprises.csv", "enterprises_gcj02_gbk.csv", "events.csv"):
        data = (work / "input" / name).read_bytes()
        if "gbk" in name:
            data = data.decode("gb18030").encode("utf-8")
        rows += pacsv.read_csv(pa.py_buffer(data)).num_rows
    _, table = pyogrio.read_arrow(work / "input" / "hazards.geojson")
    rows += table.num_rows
    return {"seconds": time.perf_counter() - t, "rows": rows}


def read_parquet_pyarrow(work: Path) -> dict:
    """Just reading the GeoParquet build's input (enterprises, hazard sites, events) with pyarrow."""
    import pyarrow.parquet as pq

    t = time.perf_counter()
    names = ("enterprises", "hazards", "events")
    rows = sum(pq.read_table(work / "input" / f"{name}.parquet").num_rows for name in names)
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


def _timed_build(work: Path, store_name: str, enterprise_files: list[tuple[str, str | None]], rest: list[str]) -> dict:
    """Ingest the enterprise files, the hazard sites and the events, then build; each part timed."""
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file

    store = _fresh_store(work, store_name)
    t = time.perf_counter()
    for name, crs in enterprise_files:
        ingest_file(store, work / "input" / name, "enterprises", IngestOptions(crs=crs))
    parts = {"ingest_enterprises": time.perf_counter() - t}
    for name, kind in zip(rest, ("hazards", "events"), strict=True):
        t1 = time.perf_counter()
        ingest_file(store, work / "input" / name, kind)
        parts[f"ingest_{kind}"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    build(store, date(2026, 11, 1))
    parts["build"] = time.perf_counter() - t2
    return {"seconds": time.perf_counter() - t, **parts}


def build_from_csv(work: Path) -> dict:
    return _timed_build(
        work,
        "store-csv",
        [("enterprises.csv", None), ("enterprises_gcj02_gbk.csv", "gcj02")],
        ["hazards.geojson", "events.csv"],
    )


def build_from_parquet(work: Path) -> dict:
    return _timed_build(work, "store-parquet", [("enterprises.parquet", None)], ["hazards.parquet", "events.parquet"])


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
