"""The benchmark report: docs/performance.md written from bench/run.py's results (the figures, the machine and
library versions, and the notes on causes and fixes)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path


def _versions() -> str:
    import geopandas
    import pandas
    import pyarrow
    import pyogrio
    import pyproj
    import shapely

    return (
        f"Python {platform.python_version()}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
        f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), geopandas {geopandas.__version__}, "
        f"pyogrio {pyogrio.__version__} (GDAL {pyogrio.__gdal_version_string__}), pyproj {pyproj.__version__}"
    )


def _parts(b: dict) -> str:
    names = {
        "ingest_enterprises": "enterprises",
        "ingest_hazards": "sites",
        "ingest_events": "events",
        "build": "build",
    }
    return ", ".join(f"{label} {b[key]:.2f} s" for key, label in names.items() if key in b)


def write_report(results: dict, args, out: Path) -> str:
    import os

    r = results
    read_csv, read_pq = r["read_csv_pyarrow"]["seconds"], r["read_parquet_pyarrow"]["seconds"]
    csv_b, pq_b, join = r["build_from_csv"], r["build_from_parquet"], r["join_vs_sjoin"]
    svc = r.get("service", {})

    def ok(flag: bool) -> str:
        return "met" if flag else "**missed**"

    rows = [
        (
            "Spatial join, 1 point per enterprise → county",
            f"{join['seconds']:.3f} s vs sjoin {join['sjoin_seconds']:.3f} s "
            f"= {join['sjoin_seconds'] / join['seconds']:.1f}× (identical: {join['identical']})",
            "≥ 3× sjoin",
            ok(join["sjoin_seconds"] / join["seconds"] >= 3 and join["identical"]),
        ),
        (
            "Full build from GeoParquet",
            f"{pq_b['seconds']:.1f} s ({_parts(pq_b)}) vs read {read_pq:.2f} s = {pq_b['seconds'] / read_pq:.1f}×",
            "≤ 3× read",
            ok(pq_b["seconds"] <= 3 * read_pq),
        ),
        (
            "Full build from CSV",
            f"{csv_b['seconds']:.1f} s ({_parts(csv_b)}) vs read {read_csv:.2f} s = {csv_b['seconds'] / read_csv:.1f}×",
            "≤ 3× read",
            ok(csv_b["seconds"] <= 3 * read_csv),
        ),
        ("Peak memory, build from CSV", f"{csv_b['peak_mb']:.0f} MB", "< 3 GB", ok(csv_b["peak_mb"] < 3072)),
        ("Peak memory, build from GeoParquet", f"{pq_b['peak_mb']:.0f} MB", "< 3 GB", ok(pq_b["peak_mb"] < 3072)),
    ]
    if svc:
        cg, nr, mv = svc["county_geojson"], svc["near_1km"], svc["mvt_z8_12"]
        rows += [
            (
                "County layer GeoJSON (90 features)",
                f"p50 {cg['p50_ms']} ms, p99 {cg['p99_ms']} ms (first request "
                f"{cg['first_request_ms']} ms, {cg['bytes'] / 1e6:.2f} MB)",
                "p50 ≤ 5, p99 ≤ 20 ms",
                ok(cg["p50_ms"] <= 5 and cg["p99_ms"] <= 20),
            ),
            ("/near, 1 km", f"p50 {nr['p50_ms']} ms, p99 {nr['p99_ms']} ms", "p50 ≤ 10 ms", ok(nr["p50_ms"] <= 10)),
            (
                "Enterprise MVT z8–12, each tile rendered",
                f"p50 {mv['p50_ms']} ms, p99 {mv['p99_ms']} ms ({mv['n']} tiles)",
                "p50 ≤ 30 ms",
                ok(mv["p50_ms"] <= 30),
            ),
            ("Enterprise MVT z8–12, cached", f"p50 {svc['mvt_z8_12_cached']['p50_ms']} ms", "", ""),
        ]
        if "snapshot_load_s" in svc:
            rows.append(
                (
                    "Service: load and index a snapshot (first request after start or after a build)",
                    f"{svc['snapshot_load_s']} s; server peak memory {svc.get('server_peak_mb')} MB",
                    "",
                    "",
                )
            )
    if svc and "browser" in svc:
        bw = svc["browser"]
        rows.append(
            (
                "Browser: served county map, first full view",
                f"{bw['first_view_s']} s, page {bw['page_bytes'] / 1e6:.2f} MB, "
                f"{bw['external_requests']} external requests",
                "≤ 3 s, < 1.5 MB",
                ok(bw["first_view_s"] <= 3 and bw["page_bytes"] < 1.5e6),
            )
        )
    pg = r.get("pygeoapi", {})
    if svc and "p50_ms" in pg:
        cg = svc["county_geojson"]
        rows += [
            (
                "pygeoapi 0.21 (GeoJSON provider, uvicorn), same county layer",
                f"p50 {pg['p50_ms']} ms, p99 {pg['p99_ms']} ms; riskmap is {pg['p50_ms'] / cg['p50_ms']:.0f}× faster at p50",
                "side by side",
                "",
            ),
        ]
        if "bbox_1km" in pg:
            bb, nr = pg["bbox_1km"], svc["near_1km"]
            rows.append(
                (
                    f"pygeoapi Parquet provider, {args.enterprises:,} enterprises, items in a 2 km box "
                    "(nearest analogue of /near)",
                    f"p50 {bb['p50_ms']} ms, p99 {bb['p99_ms']} ms; riskmap /near is "
                    f"{bb['p50_ms'] / nr['p50_ms']:.0f}× faster at p50",
                    "side by side",
                    "",
                )
            )
    table = "| stage | measured | target | |\n|---|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows
    )
    text = (
        f"# Performance\n\nMeasured by `python bench/run.py --enterprises {args.enterprises} --hazards {args.hazards} "
        f"--events {args.events} --runs {args.runs}` on {time.strftime('%Y-%m-%d')}.\n\n"
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.platform()}.\n\n{_versions()}.\n\n"
        f"Each stage runs in its own process; times are the median of {args.runs} runs, peak memory the maximum RSS.\n\n"
        f"{table}\n\nRaw results:\n\n```json\n{json.dumps(results, indent=2)}\n```\n"
    )
    notes = NOTES.replace("{pq:.1f}", f"{pq_b['seconds']:.1f}").replace("{csv:.1f}", f"{csv_b['seconds']:.1f}")
    out.write_text(text + notes, encoding="utf-8")
    return table


NOTES = """
## Notes

* The **spatial join** settles points by an array lookup in a grid of cells that lie wholly inside one county
  (`geo.join.CellIndex`, about 1 km cells, built in under 0.1 s); only points in cells a border crosses are tested,
  by querying each (prepared) county polygon against an STRtree of those points. Assignments are identical to
  `geopandas.sjoin(predicate="within")` (with the lowest-adcode rule for points on shared borders).
* **The read baseline** is every input the build reads, read with pyarrow and nothing else: for the GeoParquet
  build `enterprises.parquet`, `hazards.parquet` and `events.parquet`; for the CSV build the two enterprise CSVs
  (the GBK one decoded first) and `events.csv` with `pyarrow.csv`, and `hazards.geojson` with pyogrio into Arrow.
  The full build is ingest of all of them (parse and check every value, report every bad one, convert
  coordinates, join, upsert into the store) plus `build` (score, regional levels, publish a snapshot).

### Full build: missed, before and after

| 1M enterprises, 20k sites, 200k events | GeoParquet | CSV |
|---|---|---|
| before (previous release) | 17.1 s | 20.1 s |
| after (this run) | {pq:.1f} s | {csv:.1f} s |

What was slow, and what fixed it (1M rows, one process; each figure measured before and after the change):

| cause (profile) | fix | before → after |
|---|---|---|
| every value parsed as text, one regex pass per column | parse each distinct value once (`geo.fields.parse_column`; census fields hold a handful of values), cast plain numbers with one Arrow kernel | parsing 3.9 → 0.7 s |
| duplicate ids found through pandas `duplicated` + reindex | `factorize` codes (first appearance order) | 0.40 → 0.11 s |
| a million shapely points made, joined, written as WKB and read back | point records stay coordinate arrays: GeoParquet points decoded straight from WKB/GeoArrow bytes, the join looks up the cell grid from coordinates (point objects only for the few border-cell points), the store column is GeoArrow points built from the arrays | enterprise ingest 5.2 → 2.5 s (GeoParquet), 6.2 → 4.2 s (CSV, two files) |
| text trimmed by pandas, column by column | the Arrow trim kernel, columns in a thread pool | 0.70 → 0.28 s |
| regional levels sorted every member on five keys for the top contributors, and summed over an array of every (member, region) pair | only members that can reach a region's top N are sorted (a lighter member than the region's N-th heaviest never can); counts per (region, kind, level) by one `bincount` per admin level, the load as count × weight; region codes looked up once per distinct code | 2.6 → 0.4 s, output identical |
| every line/polygon site intersected with every county it touches | a site whose bounding box lies in interior cells of one county is settled by the cell grid (54% of them); overlaps measured only for sites touching several counties | 20k sites 1.5 → 0.46 s |
| events and enterprises matched by hashing a million enterprise ids | hash the events' distinct ids (the small side) and look the enterprises up in them | events 1.9 → 0.27 s, unit scoring 1.2 → 0.5 s |
| join codes made as a million Python strings per level, converted back to text for the store | codes taken as Arrow text from the 90 counties' codes | −0.25 s |
| build read the store into geometries and wrote them back into the snapshot | build scores the attribute columns only; the snapshot hard-links the store's (immutable) enterprise file and writes just the score columns | build 6.4 → 1.4 s |

Every fast path is checked against the straightforward one in tests: `tests/test_fields.py` (each parser,
distinct-value path vs direct), `test_point_arrays_equal_the_geometry_path` (store and report identical through
the coordinate arrays and through point geometries, CSV and GeoParquet), `test_top_contributors_equal_a_full_sort`,
`test_built_snapshot_links_the_records_and_keeps_them` (snapshot equals the in-memory computation, and keeps its
records after the store is re-ingested).

**Where the time goes now** (GeoParquet, pyinstrument, one run): enterprise ingest 2.9 s = reading 0.37 s
(pyarrow 0.21, trimming text 0.14), parsing and checking 0.7 s (factorize, parse the distinct values, take),
join 0.3 s, copying the accepted rows 0.5 s (`iloc` over 20 columns, the text ones copying their bytes), store
write 0.75 s (Parquet encoding of 1M × 30 columns, 0.6 s; normalising column types 0.13 s); sites 0.46 s; events
0.27 s; build 1.4 s = reading the records 0.3 s, unit scoring 0.5 s, regional levels 0.4 s, snapshot 0.2 s.
A fresh process pays for first use of every code path and for first-touch page faults on new buffers: the same
steps run twice in one process take about half as long the second time; the benchmark (and the CLI) runs each
build in a fresh process. Run to run the total varies by about ±0.3 s on this machine.

**What would close the gap, and why 3× is out of reach for this design.** The pyarrow read of the GeoParquet
input takes about 0.35 s with both cores; 3× is about 1.05 s. Writing the ingested table once as Parquet already
takes 0.6 s, and the store must be written (it is what later builds, uploads and upserts read) before a snapshot
can be published; reading the records back for scoring costs another 0.3 s. What could still shrink:
(1) validation and row selection on Arrow arrays end to end (dictionary-encode, validate the dictionary, filter
the table) instead of pandas columns: about −0.8 s; (2) an append-only store (one file per ingest, read as one
dataset), so a second file does not rewrite the first (the CSV build rewrites a million rows for its GBK file:
about −0.7 s on that build); (3) scoring straight from the ingested arrays when ingest and build run in one
process: about −0.3 s. With all three the GeoParquet build would take about 4 s, still over 10× the read:
every value is parsed, checked and reported with its line, every point converted and joined, the store written
and a snapshot published. Meeting 3× would take a compiled single-pass ingest.
* **pygeoapi side by side**: the county layer is the same GeoJSON riskmap serves, through pygeoapi's GeoJSON
  provider; for `/near` pygeoapi has no radius query, so its Parquet provider serves the same million scored
  enterprises and is asked for the items in a 2 km box around the same random points (a cheaper query than a
  1 km radius sorted by distance; its answers were checked against the data). pygeoapi serves vector tiles only
  from pre-generated tile sets (tippecanoe) or Elasticsearch/PostGIS, so there is no like-for-like run for
  tiles rendered on request from files; riskmap's cached tile (p50 above) is the comparable figure for
  pre-generated tiles.
* **Loading a snapshot into the service** (the first request after start, or after a build publishes a new
  one) read the units and then made a million point objects a second time for the `/near` index: it now
  reuses the units' points (4.5 → 2.5–2.9 s at 1M; the server's memory right after loading 2.1 → 1.8 GB).
* /near runs on the event loop (its ~3 ms of numpy work costs less than a threadpool hop); tiles and builds
  run in the threadpool.
"""
