"""riskmap's ingest + build side by side with the same work done by hand in geopandas and in DuckDB.

    python bench/versus.py [--work /tmp/riskmap-versus] [--source STORE] [--runs 2]

One census CSV of every enterprise of a store (default: the 1M Zhejiang demo store of bench/load.py), the
bundled county boundaries as GeoParquet, and three ways to go from the file to a count per county, each run
as its own process and timed from the outside (imports included, as a user waits for them):

- **riskmap**: `riskmap ingest FILE --kind enterprises` into a store holding only the boundaries, then
  `riskmap build` (validation and the rejection report, CRS checks, the join with its border rule, unit
  scores, regional levels, the snapshot on disk);
- **geopandas**: `pandas.read_csv`, points, `geopandas.sjoin(predicate="within")`, `groupby(county).size()`;
- **duckdb** (pip `duckdb` + `duckdb-ext-spatial`, loaded from the wheel, offline; it reads the GeoParquet
  geometry as GEOMETRY once the extension is loaded): `read_csv`, `ST_Point`,
  a join on `ST_Within`, `GROUP BY`.

Prints one JSON document with the median wall time of each and the ratios. Run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

GEOPANDAS = """
import sys, time
t0 = time.perf_counter()
import geopandas as gpd, pandas as pd
t1 = time.perf_counter()
counties = gpd.read_parquet(sys.argv[2])[["adcode", "geometry"]]
frame = pd.read_csv(sys.argv[1], dtype={"id": str, "county_code": str})
lon = pd.to_numeric(frame["lon"], errors="coerce")
lat = pd.to_numeric(frame["lat"], errors="coerce")
points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
joined = gpd.sjoin(points, counties, predicate="within", how="inner")
counts = joined.groupby("adcode").size()
print(int(counts.sum()), len(counts), round(t1 - t0, 3), round(time.perf_counter() - t1, 3))
"""

DUCKDB = """
import sys, time
t0 = time.perf_counter()
import duckdb, duckdb_ext
t1 = time.perf_counter()
from pathlib import Path
ext = next(Path(duckdb_ext.__path__[0]).rglob("spatial.duckdb_extension"))
con = duckdb.connect()
con.load_extension(str(ext))
con.execute("SET enable_progress_bar = false")
rows = con.execute(f'''
    WITH c AS (SELECT adcode, geometry AS g FROM read_parquet('{sys.argv[2]}')),
         p AS (SELECT ST_Point(TRY_CAST(lon AS DOUBLE), TRY_CAST(lat AS DOUBLE)) AS pt
               FROM read_csv('{sys.argv[1]}', all_varchar = true))
    SELECT c.adcode, count(*) FROM p JOIN c ON ST_Within(p.pt, c.g) GROUP BY c.adcode
''').fetchall()
print(sum(n for _, n in rows), len(rows), round(t1 - t0, 3), round(time.perf_counter() - t1, 3))
"""


def prepare(work: Path, source: Path) -> tuple[Path, Path, Path]:
    """The census CSV (the input columns of every stored enterprise), the counties' GeoParquet, and a store
    holding only the boundaries (copied fresh for each riskmap run)."""
    import geopandas as gpd
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from synth import ENTERPRISE_COLUMNS

    work.mkdir(parents=True, exist_ok=True)
    csv = work / "enterprises.csv"
    if not csv.exists():
        table = pq.read_table(source / "enterprises.parquet")
        table = table.select([c for c in ENTERPRISE_COLUMNS if c in table.schema.names])
        pacsv.write_csv(table, csv)
    counties = work / "counties.parquet"
    base = work / "base-store"
    if not base.exists():
        boundaries = gpd.read_parquet(source / "boundaries.parquet")
        boundaries.loc[boundaries["admin_level"] == "county"].to_parquet(counties)
        subprocess.run([PY, "-m", "cli.main", "--store", str(base), "boundaries", "import"], cwd=ROOT, check=True)
    return csv, counties, base


def _wall(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{out.stderr[-3000:]}")
    return wall, out.stdout


def run_riskmap(work: Path, csv: Path, base: Path) -> dict:
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(base, store)
    cli = [PY, "-m", "cli.main", "--store", str(store)]
    ingest, out = _wall([*cli, "ingest", str(csv), "--kind", "enterprises"])
    build, out2 = _wall([*cli, "build", "--as-of", "2026-11-01"])
    accepted = next((line for line in out.splitlines() if "accepted" in line), "")
    return {
        "seconds": round(ingest + build, 2),
        "ingest_s": round(ingest, 2),
        "build_s": round(build, 2),
        "ingest": accepted,
    }


def run_script(script: str, csv: Path, counties: Path) -> dict:
    wall, out = _wall([PY, "-c", textwrap.dedent(script), str(csv), str(counties)])
    matched, groups, imports, work = out.strip().splitlines()[-1].split()
    return {
        "seconds": round(wall, 2),
        "imports_s": float(imports),
        "work_s": float(work),
        "matched": int(matched),
        "groups": int(groups),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/riskmap-versus"))
    p.add_argument("--source", type=Path, default=Path("/tmp/riskmap-bench/store-1000000"))
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    csv, counties, base = prepare(args.work, args.source)
    runs: dict[str, list[dict]] = {"riskmap": [], "geopandas": [], "duckdb": []}
    for _ in range(args.runs):  # interleaved, so that a slow moment of the machine hits each alike
        runs["riskmap"].append(run_riskmap(args.work, csv, base))
        runs["geopandas"].append(run_script(GEOPANDAS, csv, counties))
        runs["duckdb"].append(run_script(DUCKDB, csv, counties))
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    doc = {
        "file": str(csv),
        "file_mb": round(csv.stat().st_size / 1e6, 1),
        "rows": sum(1 for _ in csv.open("rb")) - 1,
        "median_s": median,
        "riskmap_vs_geopandas": round(median["riskmap"] / median["geopandas"], 2),
        "riskmap_vs_duckdb": round(median["riskmap"] / median["duckdb"], 2),
        "runs": runs,
    }
    print(json.dumps(doc, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
