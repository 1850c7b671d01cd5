"""Ingest census files into the store: every row accepted or listed in the report, nothing lost.

`ingest_file` reads a file (`geo.readers`), matches its columns to the data contract (`geo.fields`),
parses and checks every value, converts coordinates to WGS84 (`geo.crs`), joins each record to the
administrative hierarchy (`geo.join`) and upserts the accepted records into the store by id.

The report has one line per problem: ``line`` (the CSV line with the header as line 1, the sheet row,
or the feature number in a vector file), ``id``, ``field``, ``reason``, ``severity`` (rejected | warning).
A row with any "rejected" line is not stored; "warning" rows are stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import Catalogue, load_catalogue
from geo.crs import CrsSpec, parse_crs, to_wgs84
from geo.errors import InputRejected
from geo.fields import TYPE_HINTS, Contract, load_contract, match_columns, parse_column, parsers
from geo.join import Hierarchy, assign_geometries, assign_points
from geo.readers import RawTable, read_table
from geo.store import Store, point_table, split_point_table
from geo.values import arrow_text

REPORT_COLUMNS = ["line", "id", "field", "reason", "severity"]
DERIVED_COLUMNS = {
    "source_file", "source_line", "ingested_at", "industry_code_src", "risk_score", "risk_level", "override",
    "inherent", "control_factor", "dynamic_factor", "method", "computed_level", "veto", "open_dangers",
    "overdue_dangers", "accidents_window", "alarms_window", "basis", "risk_level_zh",
}  # fmt: skip
CRITICAL = {"id", "enterprise_id", "domain", "lon", "lat", "type", "found_date"}


class _Report:
    """Collects problems per row; a row with any rejection is dropped."""

    def __init__(self, positions: np.ndarray, ids: np.ndarray):
        self.positions = positions
        self.ids = ids
        self.rejected = np.zeros(len(positions), dtype=bool)
        self.rows: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray, fieldname: str, reason, severity: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        reasons = reason[mask] if isinstance(reason, np.ndarray | pd.Series | list) else reason
        if isinstance(reasons, pd.Series):
            reasons = reasons.to_numpy()
        self.rows.append(
            pd.DataFrame(
                {
                    "line": self.positions[mask],
                    "id": self.ids[mask],
                    "field": fieldname,
                    "reason": reasons,
                    "severity": severity,
                }
            )
        )
        if severity == "rejected":
            self.rejected |= mask

    def reject(self, mask: np.ndarray, fieldname: str, reason) -> None:
        self.add(mask & ~self.rejected, fieldname, reason, "rejected")

    def warn(self, mask: np.ndarray, fieldname: str, reason) -> None:
        self.add(mask & ~self.rejected, fieldname, reason, "warning")

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=REPORT_COLUMNS)
        out = pd.concat(self.rows, ignore_index=True)
        return out.sort_values(["line", "severity"], kind="stable").reset_index(drop=True)[REPORT_COLUMNS]


@dataclass
class IngestResult:
    path: Path
    kind: str
    rows: int
    accepted: int
    rejected: int
    warnings: int
    inserted: int
    updated: int
    report: pd.DataFrame
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (
            f"{self.path.name}: {self.rows} rows read, {self.accepted} accepted "
            f"({self.inserted} new, {self.updated} replaced), {self.rejected} rejected, "
            f"{self.warnings} rows with warnings"
        )
        lines = [head, *self.notes]
        if len(self.report):
            counts = self.report.groupby(["severity", "field"]).size()
            lines += [f"  {sev:8s} {fld:22s} {n}" for (sev, fld), n in counts.items()]
        if self.report_path:
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


@dataclass(frozen=True)
class IngestOptions:
    crs: str | None = None
    sheet: str | None = None
    tolerance_m: float = 1000.0
    #: Enterprises given as points go through coordinate arrays (`_locate`); False sends them through point
    #: geometries like every other record, the straightforward path the tests compare the fast one with.
    point_arrays: bool = True


def ingest_file(store: Store, path: Path | str, kind: str, options: IngestOptions | None = None) -> IngestResult:
    """Read, validate, join and upsert one file. Raises InputRejected only when the whole file is unusable."""
    options = options or IngestOptions()
    contract = load_contract(kind)
    raw = read_table(Path(path), sheet=options.sheet)
    catalogue = load_catalogue()
    values, rep, mapping = _parse(raw, contract, catalogue)
    notes = [f"columns: {', '.join(f'{c}→{f}' for f, c in mapping.items() if c != f) or 'all canonical'}"]
    if raw.encoding:
        notes.append(f"encoding: {raw.encoding}")
    if kind == "events":
        accepted = _check_events(values, rep, store)
    else:
        hierarchy = _hierarchy(store)
        spec = _source_crs(raw, options.crs)
        notes.append(f"coordinates: {spec.name} → WGS84")
        if kind == "enterprises":
            _check_enterprise_fields(values, rep, catalogue)
        else:
            _check_hazard_fields(values, rep)
        accepted = _locate(raw, values, rep, spec, hierarchy, options.tolerance_m, kind, options.point_arrays)
    inserted, updated = _upsert(store, kind, accepted)
    _add_malformed(rep, raw, mapping, contract.key)
    report = rep.frame()
    accepted_lines = set(raw.positions[~rep.rejected].tolist())
    warned = report.loc[report["severity"] == "warning", "line"] if len(report) else pd.Series([], dtype=int)
    warned_rows = int(warned[warned.isin(accepted_lines)].nunique())
    return IngestResult(
        Path(path), kind, len(raw.frame) + len(raw.malformed), int((~rep.rejected).sum()),
        int(rep.rejected.sum()) + len(raw.malformed),
        int(warned_rows), inserted, updated, report, notes=notes,
    )  # fmt: skip


def _add_malformed(rep: _Report, raw: RawTable, mapping: dict[str, str], key: str) -> None:
    """Rows the reader could not split into the header's fields go into the report as rejected, with the id
    taken from the id column's position when the row reaches it."""
    if not raw.malformed:
        return
    columns = list(raw.frame.columns)
    id_col = mapping.get(key) or mapping.get("enterprise_id")
    pos = columns.index(id_col) if id_col in columns else 0
    ids = [cells[pos] if len(cells) > pos else "" for _, cells, _ in raw.malformed]
    rep.rows.append(pd.DataFrame({"line": [m[0] for m in raw.malformed], "id": ids, "field": "row",
                                  "reason": [m[2] for m in raw.malformed], "severity": "rejected"}))  # fmt: skip


def write_report(report: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens Chinese text correctly


# -- parsing ----------------------------------------------------------------------------------------
def _report_bad_values(rep: _Report, f, text: pd.Series, bad: np.ndarray, kind: str, catalogue: Catalogue) -> None:
    """Unparseable values: rejected for the fields a record cannot do without, else a warning."""
    shown = text[bad].str.slice(0, 40)  # only the bad values: cheap when there are few
    hint = TYPE_HINTS.get(f.type, "")
    if f.name == "domain":
        hint = "one of " + ", ".join(f"{d.code} ({d.zh})" for d in catalogue.domains)
    elif f.name == "type" and kind == "hazards":
        hint = "one of " + ", ".join(f"{t.code} ({t.zh})" for t in catalogue.hazard_types)
    if f.name in ("domain", "type"):
        reason = "unknown value '" + shown + f"'; expected {hint}"
    else:
        reason = "'" + shown + f"' is not {hint}"
    reasons = np.empty(len(text), dtype=object)
    if f.name in CRITICAL:
        reasons[bad] = reason.to_numpy()
        rep.reject(bad, f.name, reasons)
    else:
        reasons[bad] = (reason + "; value ignored").to_numpy()
        rep.warn(bad, f.name, reasons)


def _parse(raw: RawTable, contract: Contract, catalogue: Catalogue) -> tuple[pd.DataFrame, _Report, dict]:
    mapping = match_columns(list(raw.frame.columns), contract)
    missing = [f.name for f in contract.fields if f.required and f.name not in mapping]
    if missing:
        fields = [contract.field(m) for m in missing]
        accepted = "; ".join(f"{f.name}: {', '.join((f.name, *f.aliases))}" for f in fields)
        raise InputRejected(
            f"{raw.path}: no column for required field(s) {', '.join(missing)} (accepted names — {accepted}); "
            f"columns found: {', '.join(raw.frame.columns)}"
            + ("; the header must be the first row (remove title rows above it)"
               if any(str(c).startswith("Unnamed") for c in raw.frame.columns) else "")
        )  # fmt: skip
    key_col = mapping.get(contract.key)
    ids = raw.frame[key_col].to_numpy(dtype=object) if key_col else np.full(len(raw.frame), "", dtype=object)
    if contract.kind == "events":
        ids = np.where(ids == "", raw.frame[mapping["enterprise_id"]].to_numpy(dtype=object), ids)
    rep = _Report(raw.positions, ids)
    parse = parsers(catalogue)
    values = pd.DataFrame(index=raw.frame.index)
    for f in contract.fields:
        if f.name not in mapping:
            continue
        text = raw.frame[mapping[f.name]]
        parsed, bad = parse_column(parse[f.type], text)
        values[f.name] = parsed
        if bad.any():
            _report_bad_values(rep, f, text, bad, contract.kind, catalogue)
    for f in contract.fields:
        if f.required and f.name in values:
            rep.reject(_isnull(values[f.name]), f.name, f"missing {f.name} ({f.aliases[0] if f.aliases else f.name})")
    canonical = set(mapping.values())
    for col in raw.frame.columns:
        if col not in canonical:
            name = col if col not in values.columns else f"{col}_src"
            values[name] = raw.frame[col].where(raw.frame[col] != "", None)
    if contract.kind != "events":
        _reject_duplicates(values, rep, contract.key)
    return values, rep, mapping


def _isnull(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy().copy()
    if series.dtype == "str" or series.dtype == object:
        missing |= series.eq("").to_numpy(dtype=bool, na_value=False)
    return missing


def _reject_duplicates(values: pd.DataFrame, rep: _Report, key: str) -> None:
    """Within a file the first usable row with an id wins; later rows with the same id are rejected."""
    ids = values[key]
    usable = np.flatnonzero(ids.notna().to_numpy() & ~rep.rejected)
    codes, _ = pd.factorize(ids.iloc[usable])  # codes number the ids in order of first appearance
    first = codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]) if len(codes) else np.zeros(0, dtype=bool)
    if first.all():
        return
    first_row = usable[first]  # indexed by code
    dup_rows = usable[~first]
    reasons = np.empty(len(ids), dtype=object)
    first_lines = rep.positions[first_row[codes[~first]]].astype(str).astype(object)
    reasons[dup_rows] = "duplicate id; first seen at line " + first_lines
    mask = np.zeros(len(ids), dtype=bool)
    mask[dup_rows] = True
    rep.reject(mask, key, reasons)


def _check_enterprise_fields(values: pd.DataFrame, rep: _Report, catalogue: Catalogue) -> None:
    if "industry" in values:
        names = values["industry"]
        ids, uniques = pd.factorize(names)  # a few dozen distinct names: resolve each once
        resolved = [catalogue.industry(u) for u in uniques]
        known = np.array([ind.code if ind else None for ind in resolved] + [None], dtype=object)
        codes = known[ids]  # code -1 (missing name) picks the trailing None
        values["industry_code"] = codes
        unknown = (ids >= 0) & pd.isna(codes)
        reasons = np.empty(len(names), dtype=object)
        reasons[unknown] = ("industry '" + names[unknown] + "' is not in the catalogue; "
                            "the domain's default weight applies").to_numpy()  # fmt: skip
        rep.warn(unknown, "industry", reasons)
        missing = names.isna().to_numpy()
        rep.warn(missing, "industry", "no industry given; the domain's default weight applies")
    else:
        values["industry_code"] = None


def _check_hazard_fields(values: pd.DataFrame, rep: _Report) -> None:
    for col in ("level", "population", "scale"):
        if col not in values:
            values[col] = None


# -- coordinates and the join -------------------------------------------------------------------------
def _hierarchy(store: Store) -> Hierarchy:
    from geo.boundaries import load_bundled

    if not store.has("boundaries"):
        store.write("boundaries", load_bundled())
    return Hierarchy.from_boundaries(store.read("boundaries"))


def _source_crs(raw: RawTable, crs: str | None) -> CrsSpec:
    if crs:
        return parse_crs(crs)
    if raw.crs is not None:
        epsg = raw.crs.to_epsg()
        if epsg is None:
            raise InputRejected(f"{raw.path}: its CRS has no EPSG code ({raw.crs.name}); pass --crs EPSG:<n>")
        return parse_crs(f"EPSG:{epsg}")
    return parse_crs("wgs84")


def _geometries(raw: RawTable, values: pd.DataFrame, rep: _Report, kind: str) -> np.ndarray:
    """Geometries in the source CRS: from the file, else a WKT column, else lon/lat points."""
    n = len(values)
    geoms = np.full(n, None, dtype=object)
    if raw.geometry is not None:
        geoms = np.asarray(raw.geometry, dtype=object).copy()
    if "wkt" in values and values["wkt"].notna().any():
        has = values["wkt"].notna().to_numpy()
        text = values["wkt"].to_numpy(dtype=object, na_value=None)
        parsed = shapely.from_wkt(text, on_invalid="ignore")
        rep.reject(has & (parsed == None), "wkt", "geometry text is not valid WKT")  # noqa: E711
        geoms = np.where(has, parsed, geoms)
    need = shapely.is_missing(geoms)
    if need.any() and (got := _lonlat(raw, values, rep, need, raw.geometry is not None)) is not None:
        lon, lat, ok = got
        geoms[ok] = shapely.points(lon[ok], lat[ok])
    rep.reject(shapely.is_missing(geoms), "geometry", "no geometry and no coordinates")
    return geoms


def _lonlat(raw: RawTable, values: pd.DataFrame, rep: _Report, need: np.ndarray, has_geometry: bool):
    """The lon/lat columns and which rows needing coordinates have them (the others are rejected); None when
    the file has no lon/lat columns but geometries of its own."""
    if "lon" not in values or "lat" not in values:
        if not has_geometry:
            raise InputRejected(f"{raw.path}: no lon/lat (经度/纬度) columns and no geometry; add coordinates")
        return None
    lon, lat = values["lon"].to_numpy(dtype="float64"), values["lat"].to_numpy(dtype="float64")
    missing = need & (np.isnan(lon) | np.isnan(lat))
    rep.reject(missing, "lon/lat", "missing coordinates (经度/纬度)")
    return lon, lat, need & ~missing


def _repair(geoms: np.ndarray, rep: _Report) -> np.ndarray:
    present = ~shapely.is_missing(geoms)
    valid = np.ones(len(geoms), dtype=bool)
    valid[present] = shapely.is_valid(geoms[present])
    broken = present & ~valid
    if broken.any():
        fixed = shapely.make_valid(geoms[broken])
        dims_before = shapely.get_dimensions(geoms[broken])
        parts_ok = np.array([
            (not shapely.is_empty(f)) and max(shapely.get_dimensions(shapely.get_parts(f)), default=-1) == d
            for f, d in zip(fixed, dims_before, strict=True)
        ])  # fmt: skip
        idx = np.flatnonzero(broken)
        rep.reject(
            np.isin(np.arange(len(geoms)), idx[~parts_ok]),
            "geometry",
            "invalid geometry that cannot be repaired",
        )
        rep.warn(
            np.isin(np.arange(len(geoms)), idx[parts_ok]),
            "geometry",
            "invalid geometry repaired (make_valid)",
        )
        keep = idx[parts_ok]
        geoms = geoms.copy()
        for i, f, d in zip(keep, fixed[parts_ok], dims_before[parts_ok], strict=True):
            parts = [p for p in shapely.get_parts(f) if shapely.get_dimensions(p) == d]
            geoms[i] = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    empty = present & shapely.is_empty(geoms)
    rep.reject(empty, "geometry", "empty geometry")
    return geoms


@dataclass
class _Points:
    """Accepted point records with their WGS84 coordinates (no point objects: see `_locate_points`)."""

    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def _point_coordinates(raw: RawTable, values: pd.DataFrame, rep: _Report) -> tuple[np.ndarray, np.ndarray]:
    """`_geometries` for a file of points or lon/lat columns, as coordinates in the source CRS (NaN: none)."""
    n = len(values)
    if raw.points is not None:
        x, y = raw.points[0].copy(), raw.points[1].copy()
    else:
        x, y = np.full(n, np.nan), np.full(n, np.nan)
    need = np.isnan(x)
    if need.any() and (got := _lonlat(raw, values, rep, need, raw.points is not None)) is not None:
        lon, lat, ok = got
        x[ok], y[ok] = lon[ok], lat[ok]
    rep.reject(np.isnan(x) | np.isnan(y), "geometry", "no geometry and no coordinates")
    return x, y


def _locate(raw, values, rep, spec, hierarchy, tolerance_m, kind, point_arrays) -> gpd.GeoDataFrame | _Points:
    """Geometries to WGS84, joined to the hierarchy; rows outside are rejected, near misses warned.

    Enterprises given as points (lon/lat columns, or a file of points) go through coordinate arrays only: a
    million point objects would cost more than everything else done with them."""
    has_wkt = "wkt" in values and values["wkt"].notna().any()
    if point_arrays and kind == "enterprises" and raw.geometry is None and not has_wkt:
        x, y = _point_coordinates(raw, values, rep)
        live = np.flatnonzero(~rep.rejected)
        sx, sy = x[live], y[live]
        wx, wy = to_wgs84(sx, sy, spec) if len(live) else (sx, sy)
        wx, wy = np.asarray(wx, dtype=np.float64), np.asarray(wy, dtype=np.float64)
        bad_range = ~((wx >= -180) & (wx <= 180) & (wy >= -90) & (wy <= 90))
        joined = assign_points(wx, wy, hierarchy, tolerance_m)
        n = len(values)

        def source(mask: np.ndarray) -> np.ndarray:
            return shapely.points(sx[mask], sy[mask])

        frame, keep_local = _judge(raw, values, rep, spec, hierarchy, tolerance_m, kind, n, live, joined,
                                   bad_range, source)  # fmt: skip
        frame["lon"] = np.round(wx[keep_local], 7)
        frame["lat"] = np.round(wy[keep_local], 7)
        return _Points(frame, wx[keep_local], wy[keep_local])
    raw_geoms = raw.geometries()
    if raw_geoms is not None and raw.geometry is None:
        raw = dataclasses.replace(raw, geometry=raw_geoms)
    geoms = _geometries(raw, values, rep, kind)
    geoms = _repair(geoms, rep)
    live = np.flatnonzero(~rep.rejected)
    src = geoms[live]
    if kind == "enterprises":
        not_point = shapely.get_type_id(src) != 0
        if not_point.any():
            rep.warn(np.isin(np.arange(len(geoms)), live[not_point]), "geometry",
                     "enterprise geometry is not a point; its representative point is used")  # fmt: skip
            src = np.where(not_point, shapely.point_on_surface(src), src)
    wgs = _to_wgs84_geoms(src, spec)
    bad_range = _out_of_range(wgs)
    joined = (
        assign_geometries(wgs, hierarchy, tolerance_m)
        if kind == "hazards"
        else _assign_pts(wgs, hierarchy, tolerance_m)
    )
    frame, keep_local = _judge(raw, values, rep, spec, hierarchy, tolerance_m, kind, len(geoms), live, joined,
                               bad_range, lambda mask: src[mask])  # fmt: skip
    geometry = wgs[keep_local]
    if kind == "enterprises":
        frame["lon"] = np.round(shapely.get_x(geometry), 7)
        frame["lat"] = np.round(shapely.get_y(geometry), 7)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _judge(raw, values, rep, spec, hierarchy, tolerance_m, kind, n, live, joined, bad_range, source):
    """Reject what lies outside (with the reason), warn of near misses and of a declared county the location
    contradicts; return the accepted rows' records with their codes, and which live rows they are."""
    outside = (joined["join_status"] == "outside").to_numpy() | bad_range
    if outside.any():
        reasons = _outside_reasons(
            source(outside), spec, hierarchy, tolerance_m, joined["join_distance_m"].to_numpy()[outside]
        )
        full = np.zeros(n, dtype=bool)
        full[live[outside]] = True
        all_reasons = np.empty(n, dtype=object)
        all_reasons[live[outside]] = reasons
        field_name = "lon/lat" if kind == "enterprises" or raw.geometry is None else "geometry"
        rep.reject(full, field_name, all_reasons)
    near = (joined["join_status"] == "nearest").to_numpy() & ~outside
    if near.any():
        full = np.zeros(n, dtype=bool)
        full[live[near]] = True
        msg = np.empty(n, dtype=object)
        msg[live[near]] = [
            f"outside every boundary by {d:.0f} m; assigned to the nearest region {c} (tolerance {tolerance_m:.0f} m)"
            for d, c in zip(
                joined["join_distance_m"].to_numpy()[near],
                joined["county_adcode"].to_numpy()[near],
                strict=True,
            )
        ]
        rep.warn(full, "lon/lat", msg)
    if kind == "enterprises" and "county_code" in values:
        declared = values["county_code"].to_numpy(dtype=object)[live]
        found = joined["county_adcode"].to_numpy(dtype=object)
        disagree = pd.notna(declared) & (declared != found) & ~outside
        full = np.zeros(n, dtype=bool)
        full[live[disagree]] = True
        msg = np.empty(n, dtype=object)
        msg[live[disagree]] = [
            f"declared county {d} but the location is in {f}; the location's county is used"
            for d, f in zip(declared[disagree], found[disagree], strict=True)
        ]
        rep.warn(full, "county_code", msg)
    keep_local = ~outside
    rows = live[keep_local]
    frame = values.iloc[rows].reset_index(drop=True)
    frame = frame.drop(columns=[c for c in ("wkt",) if c in frame.columns])
    codes = joined.loc[keep_local].reset_index(drop=True)
    # columns the join (and scoring) compute are recomputed, never taken from the file (e.g. a re-ingested export)
    derived = set(codes.columns) | DERIVED_COLUMNS
    frame = frame.drop(columns=[c for c in frame.columns if c in derived])
    frame = pd.concat([frame, codes], axis=1)
    frame["source_file"] = raw.path.name
    frame["source_line"] = raw.positions[rows]
    frame["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame, keep_local


def _assign_pts(wgs: np.ndarray, hierarchy: Hierarchy, tolerance_m: float) -> pd.DataFrame:
    return assign_points(shapely.get_x(wgs), shapely.get_y(wgs), hierarchy, tolerance_m, points=wgs)


def _to_wgs84_geoms(geoms: np.ndarray, spec: CrsSpec) -> np.ndarray:
    from geo.crs import geometry_to_wgs84

    if len(geoms) == 0:
        return geoms
    return np.asarray(geometry_to_wgs84(geoms, spec), dtype=object)


def _out_of_range(geoms: np.ndarray) -> np.ndarray:
    if len(geoms) == 0:
        return np.zeros(0, dtype=bool)
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    return ~((xmin >= -180) & (xmax <= 180) & (ymin >= -90) & (ymax <= 90))


def _outside_reasons(
    src: np.ndarray, spec: CrsSpec, hierarchy: Hierarchy, tolerance_m: float, dist: np.ndarray
) -> list[str]:
    """Why each point is outside: swapped lat/lon (if swapping lands inside), else how far off it is."""
    swapped_src = shapely.transform(src, lambda xy: xy[:, ::-1])
    swapped_ok = np.zeros(len(src), dtype=bool)
    in_range = ~_out_of_range(swapped_src)
    if in_range.any():
        try:
            wgs = _to_wgs84_geoms(swapped_src[in_range], spec)
            status = assign_geometries(wgs, hierarchy, tolerance_m)["join_status"].to_numpy()
            swapped_ok[np.flatnonzero(in_range)[status != "outside"]] = True
        except Exception:  # noqa: BLE001 - a failed swap test only means "not swapped"
            pass
    x, y = shapely.get_x(shapely.point_on_surface(src)), shapely.get_y(shapely.point_on_surface(src))
    out = []
    xmin, ymin, xmax, ymax = hierarchy.units.total_bounds
    for sw, d, lon, lat in zip(swapped_ok, dist, x, y, strict=True):
        if sw:
            out.append(f"latitude and longitude appear swapped (经度={lon:g}, 纬度={lat:g}); "
                       "swap the lon/lat (经度/纬度) values or columns")  # fmt: skip
        elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
            out.append(
                f"coordinates out of range (经度={lon:g}, 纬度={lat:g}); longitude is -180..180, latitude -90..90"
            )
        elif np.isfinite(d):
            out.append(f"outside the loaded boundaries by {d:.0f} m (tolerance {tolerance_m:.0f} m)")
        else:
            out.append(
                f"outside the loaded boundaries (经度={lon:g}, 纬度={lat:g}; boundaries cover "
                f"{xmin:.2f}..{xmax:.2f} E, {ymin:.2f}..{ymax:.2f} N); check the coordinates and --crs"
            )
    return out


# -- events --------------------------------------------------------------------------------------------
def _check_events(values: pd.DataFrame, rep: _Report, store: Store) -> pd.DataFrame:
    ent = values["enterprise_id"]
    known = store.read("enterprises", columns=["id"])["id"] if store.has("enterprises") else pd.Series([], dtype="str")
    unknown = ent.notna().to_numpy() & ~_isin_text(ent, known)
    reasons = np.empty(len(ent), dtype=object)
    reasons[unknown] = ("no enterprise with id '" + ent[unknown] + "' in the store; "
                        "ingest the enterprises first").to_numpy()  # fmt: skip
    rep.reject(unknown, "enterprise_id", reasons)
    for col in ("severity", "due_date", "closed_date", "deaths", "injuries", "id"):
        if col not in values:
            values[col] = None if col not in ("due_date", "closed_date") else pd.NaT
    closed_early = (values["closed_date"] < values["found_date"]).fillna(False).to_numpy()
    rep.reject(closed_early, "closed_date", "closed (销号) before it was found (发现); check the dates")
    danger = (values["type"] == "hidden_danger").to_numpy()
    no_grade = danger & values["severity"].isna().to_numpy()
    rep.warn(no_grade, "severity", "hidden danger without a grade (隐患等级); treated as general (一般)")
    values.loc[no_grade, "severity"] = "general"
    values.loc[~danger, "severity"] = None
    for col in ("deaths", "injuries"):
        values[col] = values[col].astype("Int64").fillna(0)
    derived = values["id"].isna().to_numpy()
    if derived.any():

        def text(col: str) -> pd.Series:
            series = values[col]
            if pd.api.types.is_datetime64_any_dtype(series):
                series = series.dt.strftime("%Y-%m-%d")
            return series.astype(object).where(series.notna(), "").astype(str)

        basis = text("enterprise_id")
        for col in ("type", "found_date", "severity", "due_date", "closed_date", "deaths", "injuries"):
            basis = basis + "|" + text(col)
        # identical rows are distinct events (two same-day dangers at one unit): number them in file order
        basis = basis + "#" + basis.groupby(basis).cumcount().astype(str)
        values.loc[derived, "id"] = ["EV" + hashlib.sha1(b.encode("utf-8")).hexdigest()[:14] for b in basis[derived]]
    _reject_duplicates(values, rep, "id")
    keep = ~rep.rejected
    return values.loc[keep].reset_index(drop=True)


# -- store ---------------------------------------------------------------------------------------------
def _upsert(store: Store, kind: str, accepted: pd.DataFrame | _Points) -> tuple[int, int]:
    with store.lock():
        existing = _existing(store, kind, accepted)
        records = accepted.frame if isinstance(accepted, _Points) else accepted
        if existing is not None:
            old = existing.frame if isinstance(existing, _Points) else existing
            replaced = _isin_text(old["id"], records["id"])
            updated = int(replaced.sum())
            combined = pd.concat([old.loc[~replaced], records], ignore_index=True)
        else:
            updated, replaced, combined = 0, None, records
        if isinstance(accepted, _Points):
            keep = slice(None) if replaced is None else ~replaced
            x = accepted.x if existing is None else np.r_[existing.x[keep], accepted.x]
            y = accepted.y if existing is None else np.r_[existing.y[keep], accepted.y]
            store.write(kind, point_table(_stable_types(combined), x, y))
        else:
            if isinstance(accepted, gpd.GeoDataFrame):
                combined = gpd.GeoDataFrame(combined, geometry="geometry", crs="EPSG:4326")
            store.write(kind, _stable_types(combined))
    return len(records) - updated, updated


def _existing(store: Store, kind: str, accepted: pd.DataFrame | _Points) -> pd.DataFrame | _Points | None:
    """The stored table in the shape of `accepted`: coordinates for points (no point objects when the store
    holds GeoArrow points), else a (Geo)DataFrame."""
    if not store.has(kind):
        return None
    if isinstance(accepted, _Points):
        split = split_point_table(store.read_arrow(kind))
        if split is not None:
            return _Points(*split)
        return _Points(*_frame_and_xy(store.read(kind)))
    return store.read(kind)


def _frame_and_xy(gdf: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), shapely.get_x(pts), shapely.get_y(pts)


def _isin_text(series: pd.Series, values: pd.Series) -> np.ndarray:
    """`series.isin(values)` for text columns, as one Arrow hash lookup (pandas builds a Python list of
    `values` first, which costs seconds for a million ids)."""
    import pyarrow.compute as pc

    probe, value_set = arrow_text(series), arrow_text(values)
    if probe is None or value_set is None:  # not text (ids from elsewhere): pandas semantics
        return series.isin(values).to_numpy(dtype=bool)
    if len(values) <= 2 * len(series):
        return pc.is_in(probe, value_set=value_set).to_numpy(zero_copy_only=False)
    # far more values than probes (events against a million enterprise ids): hash the probes' distinct ids
    # and look each value up in them, instead of hashing every value
    codes, uniques = pd.factorize(series)
    if not len(uniques):
        return np.zeros(len(series), dtype=bool)
    pos = pc.index_in(value_set, value_set=arrow_text(uniques)).drop_null().to_numpy()
    present = np.zeros(len(uniques) + 1, dtype=bool)  # the last slot answers for missing probes (code -1)
    present[pos] = True
    return present[codes]


def _stable_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns become text columns (missing stays missing) so Parquet keeps one type per column."""
    for col in frame.columns:
        if frame[col].dtype == object and col != "geometry":
            frame[col] = frame[col].astype("str")
    return frame
