"""Exports of a snapshot's layers: regions, enterprises, hazard sites × geojson, gpkg, shp, kml, csv,
parquet, png, html.

One geometry type per layer (`layers.geomtypes`): regions are MultiPolygon, enterprises Point. Hazard sites are
exported as ``hazards`` (all of them) or as one of ``hazards-points``, ``hazards-lines``, ``hazards-polygons``.
``hazards`` is written as three layers named ``hazards_points`` (Point), ``hazards_lines`` (MultiLineString)
and ``hazards_polygons`` (MultiPolygon), always all three (an empty one too, so the schema never changes):
three layers of one GeoPackage, three Shapefiles in the zip, three KML folders, and for the formats of one
layer per file (GeoJSON, GeoParquet) a zip of three files. CSV is a table, not a GIS layer: one file, every
site, with its full geometry as ``wkt``.

:func:`export_layer` writes one file (atomically: a temporary file in the same directory, then a rename)
and returns the number of features written. The columns of each layer are declared in
`layers/fields.toml` (with the Shapefile short names).

Coordinate systems (``crs``), see docs/maps.md:

* ``wgs84`` (default) — EPSG:4326.
* ``cgcs2000`` or ``EPSG:4490`` — the same coordinates (the two differ by under a metre), labelled EPSG:4490.
* ``gcj02`` (or ``bd09``) — coordinates shifted to GCJ-02 (BD-09) for Amap/Tencent (Baidu) tools; there is no
  EPSG code for them, so the file is *labelled EPSG:4326 although its coordinates are shifted*.
* ``EPSG:<n>`` — reprojected with PROJ and labelled EPSG:<n> (not for GeoJSON or KML, which are
  longitude/latitude by definition).

GIS formats (geojson, gpkg, shp, parquet, kml, csv) carry the full-resolution boundaries; the viewing formats
(png, html) carry the web-simplified ones.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo import configfile
from geo.catalogue import LEVELS
from geo.crs import CrsSpec, geometry_from_wgs84, parse_crs
from geo.csvsafe import write_csv
from geo.errors import ExportRejected
from geo.snapshot import Snapshot
from layers.features import enterprise_table, hazard_table, region_frame
from layers.geomtypes import HAZARD_KINDS, GeometryKind, as_multipolygons, geometry_type_of, split_by_kind
from layers.payload import hazard_domains, read_units
from layers.styles import Styles, load_styles
from layers.view import DEFAULT_VIEW, MapView

__all__ = [
    "FORMATS",
    "LAYERS",
    "ExportRejected",
    "ExportField",
    "export_fields",
    "export_layer",
    "layer_frame",
    "zipped",
]

FORMATS: tuple[str, ...] = ("geojson", "gpkg", "shp", "kml", "csv", "parquet", "png", "html")
FIELD_LAYERS: tuple[str, ...] = ("regions", "enterprises", "hazards", "resources", "coverage")  # of fields.toml
#: layers of the rescue circle (応急資源 and the area reached): no risk level, so no level styles beside them
RESPONSE_LAYERS: tuple[str, ...] = ("resources", "coverage")
#: hazard sites of one geometry kind: ``hazards-points`` … (the same fields as ``hazards``)
HAZARD_LAYERS: dict[str, GeometryKind] = {f"hazards-{k.name}": k for k in HAZARD_KINDS}
LAYERS: tuple[str, ...] = (*FIELD_LAYERS, *HAZARD_LAYERS)
FIELDS_PATH = Path(__file__).parent / "fields.toml"
DBF_TEXT_BYTES = 254
#: GeoPackage 1.2: GDAL 3.6 / QGIS 3.22 (common on intranets) warn that 1.4 files are "partially supported"
GPKG_VERSION = "1.2"
_ONE_LAYER_PER_FILE = ("geojson", "parquet", "shp")  # all hazards in these: a zip of one file per kind


class ExportField(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1)]
    shp: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,9}$")]  # a .dbf field name
    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]


class ExportFieldsFile(BaseModel):
    """`layers/fields.toml`: the columns of each exported layer, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regions: tuple[ExportField, ...]
    enterprises: tuple[ExportField, ...]
    hazards: tuple[ExportField, ...]
    resources: tuple[ExportField, ...]
    coverage: tuple[ExportField, ...]

    @model_validator(mode="after")
    def _unique(self) -> ExportFieldsFile:
        for layer in FIELD_LAYERS:
            fields: tuple[ExportField, ...] = getattr(self, layer)
            for attr in ("name", "shp"):
                names = [getattr(f, attr) for f in fields]
                twice = sorted({n for n in names if names.count(n) > 1})
                if twice:
                    raise ValueError(f"{layer}: {attr} must be unique in a layer ({', '.join(twice)} repeated)")
        return self


@functools.lru_cache(maxsize=1)
def export_fields() -> dict[str, tuple[ExportField, ...]]:
    """The declared export fields per layer (validated: Shapefile names unique, ascii, at most 10 characters)."""
    declared = configfile.load(FIELDS_PATH, ExportFieldsFile, "export fields file", ExportRejected)
    out = {layer: getattr(declared, layer) for layer in FIELD_LAYERS}
    return out | {layer: declared.hazards for layer in HAZARD_LAYERS}


def zipped(what: str, fmt: str) -> bool:
    """Whether ``what`` in ``fmt`` is delivered as a zip (a Shapefile always; all hazard sites in a format of
    one layer per file)."""
    return fmt == "shp" or (what == "hazards" and fmt in _ONE_LAYER_PER_FILE)


# -- CRS ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where coordinates go: the conversion spec and the EPSG label written into the file."""

    spec: CrsSpec
    epsg: int
    geographic: bool

    @property
    def label(self) -> str:
        return f"EPSG:{self.epsg}"


def target_crs(crs: str | int) -> Target:
    """Parse an export CRS (see the module docstring)."""
    text = str(crs).strip().lower().replace(" ", "")
    spec = parse_crs(crs)
    if text in ("cgcs2000", "epsg:4490", "4490"):
        return Target(spec, 4490, True)
    if spec.kind in ("wgs84", "gcj02", "bd09"):
        return Target(spec, 4326, True)
    import pyproj

    epsg = int(spec.epsg or 4326)
    return Target(spec, epsg, pyproj.CRS.from_epsg(epsg).is_geographic)


def _to_target(geoms: np.ndarray, target: Target) -> np.ndarray:
    return np.asarray(geometry_from_wgs84(np.asarray(geoms, dtype=object), target.spec), dtype=object)


# -- tables ---------------------------------------------------------------------------------------------
def _joined(items: list) -> str:
    return " | ".join(str(i) for i in items)


def _top_text(units: list[dict], styles: Styles) -> str:
    parts = []
    for u in units:
        lv = u.get("risk_level")
        label = styles.level_label(lv, "zh") if lv in LEVELS else ""
        score = u.get("risk_score")
        parts.append(f"{u.get('name', '')} [{label} {'' if score is None else round(float(score), 1)}]".strip())
    return _joined(parts)


def layer_frame(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    what: str,
    *,
    view: MapView = DEFAULT_VIEW,
    styles: Styles | None = None,
) -> gpd.GeoDataFrame:
    """The layer as a WGS84 GeoDataFrame with exactly the declared export columns (see fields.toml)."""
    st = styles or load_styles()
    if what == "regions":
        frame = region_frame(snapshot.regions(), boundaries, view=view, styles=st)
        from layers.response import with_coverage

        frame = with_coverage(frame, snapshot)
        frame["rules"] = [_joined(r) for r in frame["rules"]]
        frame["top_units"] = [_top_text(t, st) for t in frame["top_units"]]
        frame["admin_level"] = view.level
        multi = as_multipolygons(np.asarray(frame.geometry.values, dtype=object))
        frame = frame.set_geometry(gpd.GeoSeries(list(multi), index=frame.index, crs=frame.crs))
    elif what == "enterprises":
        frame = _enterprise_frame(snapshot, view, st)
    elif what in RESPONSE_LAYERS:
        from layers.response import coverage_table, resource_table

        frame = resource_table(snapshot, view=view, styles=st) if what == "resources" else coverage_table(snapshot, st)
    elif what == "hazards" or what in HAZARD_LAYERS:
        hazards = snapshot.hazards()
        if len(hazards) and view.domain != "all":
            hazards = hazards.loc[hazards["type"].map(hazard_domains(snapshot)) == view.domain]
        if what in HAZARD_LAYERS and len(hazards):
            hazards = dict((k.name, f) for k, f in split_by_kind(hazards))[HAZARD_LAYERS[what].name]
        frame = (
            hazard_table(hazards, styles=st)
            if len(hazards)
            else gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        )
    else:
        raise ExportRejected(f"cannot export {what!r}; choose one of {', '.join(LAYERS)}")
    cols = [f.name for f in export_fields()[what]]
    for col in cols:
        if col not in frame.columns:
            frame[col] = None
    out = gpd.GeoDataFrame(frame[cols], geometry=np.asarray(frame.geometry.values, dtype=object), crs="EPSG:4326")
    for col in cols:  # object columns hold text or None (no NaN), for every driver
        if out[col].dtype == object or str(out[col].dtype).startswith("str"):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def _enterprise_frame(snapshot: Snapshot, view: MapView, st: Styles) -> gpd.GeoDataFrame:
    units = read_units(snapshot)
    if view.parent:
        codes = [c for c in ("province_adcode", "city_adcode", "county_adcode") if c in units.columns]
        inside = [units[c] == view.parent for c in codes]
        units = units.loc[np.logical_or.reduce(inside)] if codes else units.iloc[0:0]
    frame = enterprise_table(units, domain=view.domain, styles=st)
    if "rescue_minutes" in frame:  # the snapshot's name for it (the prompt rule reads it); the export's is short
        frame["rescue_min"] = frame["rescue_minutes"]
    frame["domain_zh"] = [
        st.domain_labels.get(d, {}).get("zh") if isinstance(d, str) else None for d in frame["domain"]
    ]
    return gpd.GeoDataFrame(
        frame.drop(columns=[c for c in ("geometry",) if c in frame.columns]),
        geometry=shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)),
        crs="EPSG:4326",
    )


def _projected(frame: gpd.GeoDataFrame, target: Target) -> gpd.GeoDataFrame:
    """The frame with geometry (and lon/lat columns) in the target CRS, labelled with its EPSG code."""
    out = frame.copy()
    geoms = _to_target(frame.geometry.values, target)
    if "lon" in out.columns and "lat" in out.columns:
        pts = shapely.points(out["lon"].to_numpy(float), out["lat"].to_numpy(float))
        moved = _to_target(pts, target)
        out["lon"] = np.round(shapely.get_x(moved), 7 if target.geographic else 2)
        out["lat"] = np.round(shapely.get_y(moved), 7 if target.geographic else 2)
    return gpd.GeoDataFrame(out.drop(columns="geometry"), geometry=geoms, crs=target.label)


# -- writing --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    """A temporary path beside ``out`` (same suffix); moved onto ``out`` when the block succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix or ".tmp", dir=out.parent)
    os.close(fd)
    os.unlink(tmp)  # drivers want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@dataclass(frozen=True)
class Part:
    """One layer of an export: its name (a GeoPackage layer, a file in a zip, a KML folder), its one
    geometry type and its features."""

    name: str
    geometry_type: str
    frame: gpd.GeoDataFrame


def _geoms(frame: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(frame.geometry.values, dtype=object)


def layer_parts(frame: gpd.GeoDataFrame, what: str) -> list[Part]:
    """``frame`` (a `layer_frame`) as the layers it is written as: one per geometry kind for ``hazards``."""
    if what == "hazards":
        return [
            Part(f"hazards_{k.name}", geometry_type_of(k, _geoms(f)), f.reset_index(drop=True))
            for k, f in split_by_kind(frame)
        ]
    if what in HAZARD_LAYERS:
        return [Part(what.replace("-", "_"), geometry_type_of(HAZARD_LAYERS[what], _geoms(frame)), frame)]
    return [Part(what, "MultiPolygon" if what in ("regions", "coverage") else "Point", frame)]


def _write_files(parts: list[Part], out: Path, suffix: str, write_one, readme: str) -> None:
    """One part: its file at ``out``. Several: a zip at ``out`` of one file per part and a README."""
    if len(parts) == 1:
        with _atomic(out) as tmp:
            write_one(parts[0], tmp)
        return
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmpdir, _atomic(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for part in parts:
                path = Path(tmpdir) / f"{part.name}{suffix}"
                write_one(part, path)
                zf.write(path, path.name)
            zf.writestr("README.txt", readme)


def _lonlat_only(target: Target, fmt: str) -> None:
    if not target.geographic or target.epsg not in (4326, 4490):
        raise ExportRejected(
            f"{fmt} is longitude/latitude WGS84 by definition; {target.label} cannot be written as {fmt}: "
            "use --format gpkg (or shp) for a projected CRS"
        )


def _kinds_readme(what: str, fmt: str, parts: list[Part], target: Target) -> str:
    files = "".join(f"  {p.name}: {p.geometry_type}, {len(p.frame)} features\n" for p in parts)
    return f"{what}: {fmt}, CRS {target.label}, one file per geometry type (one type per layer):\n{files}"


def _write_geojson(parts: list[Part], out: Path, target: Target, what: str) -> None:
    import pyogrio

    _lonlat_only(target, "GeoJSON (RFC 7946)")

    def write_one(part: Part, path: Path) -> None:
        frame = part.frame.set_crs("EPSG:4326", allow_override=True)  # RFC 7946 carries no CRS: WGS84
        pyogrio.write_dataframe(
            frame,
            path,
            driver="GeoJSON",
            layer=part.name,
            geometry_type=part.geometry_type,
            RFC7946="YES",
            COORDINATE_PRECISION=7,
            WRITE_NAME="NO",
        )

    _write_files(parts, out, ".geojson", write_one, _kinds_readme(what, "GeoJSON", parts, target))


def _write_gpkg(parts: list[Part], out: Path, target: Target, what: str) -> None:
    import pyogrio

    with _atomic(out) as tmp:
        for part in parts:  # each part a layer of the one file
            pyogrio.write_dataframe(
                part.frame,
                tmp,
                driver="GPKG",
                layer=part.name,
                geometry_type=part.geometry_type,
                promote_to_multi=False,
                dataset_options={"VERSION": GPKG_VERSION},
            )


def _truncate_utf8(value: object, limit: int = DBF_TEXT_BYTES) -> object:
    if not isinstance(value, str):
        return value
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", errors="ignore")  # cut on a character boundary, never mid-character


def _fields_csv(what: str) -> str:
    buf = io.StringIO()
    table = pd.DataFrame([f.__dict__ for f in export_fields()[what]]).rename(
        columns={"name": "field", "shp": "shapefile_field"}
    )[["shapefile_field", "field", "zh", "en"]]
    write_csv(table, buf)
    return "\ufeff" + buf.getvalue()


def _write_shp(parts: list[Part], out: Path, target: Target, what: str) -> None:
    import pyogrio

    mapping = {f.name: f.shp for f in export_fields()[what]}
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmpdir, _atomic(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for part in parts:
                frame = part.frame.rename(columns=mapping)
                for col in frame.columns:
                    if frame[col].dtype == object:
                        frame[col] = frame[col].map(_truncate_utf8)
                path = Path(tmpdir) / f"{part.name}.shp"
                pyogrio.write_dataframe(
                    frame,
                    path,
                    driver="ESRI Shapefile",
                    encoding="UTF-8",
                    layer=part.name,
                    geometry_type=part.geometry_type,
                )
                for f in sorted(Path(tmpdir).glob(f"{part.name}.*")):
                    zf.write(f, f.name)
            zf.writestr("FIELDS.csv", _fields_csv(what))
            layers = "".join(f"  {p.name}.shp: {p.geometry_type}, {len(p.frame)} features\n" for p in parts)
            zf.writestr(
                "README.txt",
                f"{what}: ESRI Shapefile, UTF-8 attributes (.cpg), CRS {target.label}, one geometry type per file:\n"
                f"{layers}"
                "Field names are shortened to 10 characters; FIELDS.csv maps them to the full names.\n"
                "Text longer than 254 bytes is cut (on a character boundary).\n",
            )


def _write_csv(parts: list[Part], out: Path, target: Target, what: str) -> None:
    frame = pd.concat([p.frame for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].frame
    table = pd.DataFrame(frame.drop(columns="geometry"))
    geoms = _geoms(frame)
    reps = shapely.point_on_surface(geoms)
    decimals = 7 if target.geographic else 2
    if "lon" not in table.columns:
        table["lon"] = np.round(shapely.get_x(reps), decimals)
        table["lat"] = np.round(shapely.get_y(reps), decimals)
    if not target.geographic:
        table = table.rename(columns={"lon": "x", "lat": "y"})
    if what == "hazards" or what in HAZARD_LAYERS:
        table["wkt"] = shapely.to_wkt(geoms, rounding_precision=decimals)
    with _atomic(out) as tmp:
        write_csv(table, tmp)  # text that would start a formula is escaped (geo.csvsafe)


def _write_parquet(parts: list[Part], out: Path, target: Target, what: str) -> None:
    def write_one(part: Part, path: Path) -> None:
        part.frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=True)

    _write_files(parts, out, ".parquet", write_one, _kinds_readme(what, "GeoParquet", parts, target))


def _write_kml(parts: list[Part], out: Path, target: Target, what: str, styles: Styles, lang: str) -> None:
    from layers.kml import kml_document

    _lonlat_only(target, "KML")
    data = kml_document([(p.name, p.frame) for p in parts], what, styles=styles, lang=lang)
    with _atomic(out) as tmp:
        tmp.write_bytes(data)


_VECTOR_WRITERS = {
    "geojson": _write_geojson,
    "gpkg": _write_gpkg,
    "shp": _write_shp,
    "csv": _write_csv,
    "parquet": _write_parquet,
}


def export_layer(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    what: str,
    fmt: str,
    out: Path | str,
    *,
    view: MapView = DEFAULT_VIEW,
    crs: str = "wgs84",
    styles: Styles | None = None,
) -> int:
    """Write layer ``what`` (one of `LAYERS`) as ``fmt`` to ``out``; return the feature count.

    The view's ``level`` (province | city | county) applies to regions, and to the map drawn by png/html; its
    ``domain`` filters every layer; its ``parent`` (an adcode) keeps what lies inside it; its ``lang`` labels
    kml, png and html. ``boundaries`` are the store's (WGS84). A Shapefile is written as a zip (UTF-8 ``.cpg``,
    FIELDS.csv mapping the short field names); so are all hazard sites in GeoJSON or GeoParquet (`zipped`):
    one geometry type per layer, see the module docstring.
    """
    st = styles or load_styles()
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ExportRejected(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if what not in LAYERS:
        raise ExportRejected(f"cannot export {what!r}; choose one of {', '.join(LAYERS)}")
    view.check_domain(st, ExportRejected)
    out = Path(out)
    target = target_crs(crs)
    if fmt in ("png", "html"):
        if what in HAZARD_LAYERS:
            raise ExportRejected(f"--format {fmt} draws every hazard site: export hazards, not {what}")
        return _export_view(snapshot, boundaries, what, fmt, out, view=view, styles=st, target=target)
    frame = _projected(layer_frame(snapshot, boundaries, what, view=view, styles=st), target)
    parts = layer_parts(frame, what)
    if fmt == "kml":
        _write_kml(parts, out, target, what, st, view.lang)
    else:
        _VECTOR_WRITERS[fmt](parts, out, target, what)
    if what in RESPONSE_LAYERS:
        return sum(len(p.frame) for p in parts)
    from layers.gisstyles import write_sidecars  # .qml/.sld beside, or a GeoPackage's layer_styles

    write_sidecars(fmt, out, [(p.name, p.frame) for p in parts], what, st, view.lang)
    return sum(len(p.frame) for p in parts)


def _export_view(
    snapshot: Snapshot,
    boundaries: gpd.GeoDataFrame,
    what: str,
    fmt: str,
    out: Path,
    *,
    view: MapView,
    styles: Styles,
    target: Target,
) -> int:
    if target.spec.kind not in ("wgs84",):
        raise ExportRejected(f"--format {fmt} draws a map in WGS84; drop --crs (got {target.spec.name})")
    frame = layer_frame(snapshot, boundaries, what, view=view, styles=styles)
    if fmt == "png":
        from layers.printmap import render_png

        data = render_png(snapshot, boundaries, what=what, view=view, styles=styles)
        with _atomic(out) as tmp:
            tmp.write_bytes(data)
        return len(frame)
    from layers.maps import render_map

    html = render_map(snapshot, boundaries, view=view, mode="inline", styles=styles, layer=what)
    with _atomic(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return len(frame)
