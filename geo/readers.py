"""Read census files of every supported format into one raw shape, keeping each row's origin.

Formats: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, detected), XLSX, GeoJSON, GeoPackage, Shapefile
(``.shp`` or a ``.zip`` holding one; the ``.cpg`` is honoured, else UTF-8 or GB18030 is detected from the
``.dbf``), GeoParquet (and plain Parquet with lon/lat columns).

Every value comes back as text (``""`` for empty) so that parsing, and its error reporting, happens in one
place (`geo.fields`). Cells lose their surrounding spaces (`BLANKS`) and nothing else: a leading tab or
carriage return is kept, since it is part of what was filed (it is how a spreadsheet user keeps a name from
being read as a formula); the parsers of typed fields trim every kind of whitespace (`trim`).

CSV files are read by `geo.csvfiles`. Each row keeps its position: the line in a CSV (header = line 1), the
row in a sheet (header = row 1), or the feature number (1-based) in a vector file.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputFormatUnknown, InputRejected
from geo.textfiles import HEADER_SEARCH_ROWS, HeaderScore, find_header, title_note

TABLE_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
VECTOR_SUFFIXES = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shp",
    ".zip": "shp-zip",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".osm": "osm",  # OpenStreetMap XML, through GDAL's OSM driver
    ".pbf": "osm",  # .osm.pbf
}
#: An OpenStreetMap extract is read from this layer of GDAL's OSM driver (ways: roads, rivers, …), and these
#: tags are taken out of its ``other_tags`` column into columns of their own.
OSM_LAYER = "lines"
OSM_TAGS = ("maxspeed", "oneway", "ref")
#: Every file suffix `read_table` accepts (lower case; matching ignores case). A ``.shp`` needs its ``.shx`` and
#: ``.dbf`` beside it, so a single uploaded file is better sent as a ``.zip``.
SUFFIXES: tuple[str, ...] = tuple(sorted({*TABLE_SUFFIXES, *VECTOR_SUFFIXES}))
#: What readers trim from both ends of every cell: spaces (ASCII, no-break, ideographic), never tabs or line ends.
BLANKS = " \u00a0\u3000"


@dataclass
class RawTable:
    """One input file, as text columns plus (for vector files) geometries in the file's CRS.

    A file of 2D points only (GeoParquet) comes with `points` (x and y arrays) and no `geometry`: a million
    point objects would cost more than everything else done with them; `geometries()` makes them on demand."""

    path: Path
    format: str
    frame: pd.DataFrame  # original column names, every value a str ("" when empty)
    positions: np.ndarray  # int64: CSV line / sheet row / feature number of each row
    position_label: str  # "line", "row" or "feature"
    geometry: np.ndarray | None = None  # shapely geometries (None entries allowed), in `crs`
    crs: CRS | None = None
    encoding: str | None = None
    malformed: list[tuple[int, tuple[str, ...], str]] = field(default_factory=list)  # (line, cells, reason)
    warned: list[tuple[int, str]] = field(default_factory=list)  # (position of a kept row, reason): warnings
    notes: list[str] = field(default_factory=list)  # how the file was read (e.g. title rows skipped)
    points: tuple[np.ndarray, np.ndarray] | None = None  # instead of `geometry` when every one is a 2D point

    def geometries(self) -> np.ndarray | None:
        """`geometry`, made from `points` when the file came as coordinates."""
        if self.geometry is None and self.points is not None:
            import shapely

            return shapely.points(*self.points)
        return self.geometry


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    fmt = TABLE_SUFFIXES.get(suffix) or VECTOR_SUFFIXES.get(suffix)
    if fmt is None:
        known = ", ".join(SUFFIXES)
        raise InputFormatUnknown(f"{path}: cannot tell the format from '{suffix or path.name}'; use one of {known}")
    return fmt


def read_table(path: Path | str, *, sheet: str | None = None, header_score: HeaderScore | None = None) -> RawTable:
    """Read any supported file. Raises `InputRejected` when the file as a whole cannot be read.

    `sheet` names the XLSX sheet, or the layer of a multi-layer vector file (GeoPackage). `header_score` finds
    the header of a CSV or XLSX below title rows (`geo.textfiles.find_header`); without it the header is the
    first row."""
    path = Path(path)
    if not path.exists():
        raise InputRejected(f"{path}: no such file")
    fmt = detect_format(path)
    if fmt == "csv":
        from geo.csvfiles import read_csv

        return read_csv(path, header_score)
    if fmt == "xlsx":
        return _read_xlsx(path, sheet, header_score)
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_vector(path, fmt, layer=sheet)


# -- XLSX --------------------------------------------------------------------------------------------
def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        out.append(name if n == 0 else f"{name}.{n}")
        seen[name] = n + 1
    return out


def _read_xlsx(path: Path, sheet: str | None, header_score: HeaderScore | None = None) -> RawTable:
    from geo.archive import open_zip

    with open_zip(path, "an XLSX workbook"):  # a workbook is a zip: its declared sizes checked first
        pass
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable workbook
        raise InputRejected(f"{path}: not a readable XLSX workbook ({exc})") from exc
    if sheet is not None and sheet not in book.sheet_names:
        raise InputRejected(f"{path}: no sheet named {sheet!r}; sheets are {', '.join(book.sheet_names)}")
    name = sheet if sheet is not None else book.sheet_names[0]
    grid = pd.read_excel(book, sheet_name=name, dtype=str, keep_default_na=False, header=None)
    top = [[str(v) for v in grid.iloc[i].tolist()] for i in range(min(HEADER_SEARCH_ROWS, len(grid)))]
    head = find_header(top, header_score)  # the sheet's row head + 1 (title rows above it skipped)
    names = [str(v).strip() or f"Unnamed: {j}" for j, v in enumerate(top[head])] if top else []
    frame = grid.iloc[head + 1 :].set_axis(_unique(names), axis=1) if top else pd.DataFrame()
    raw_rows = np.arange(head + 2, head + 2 + len(frame), dtype=np.int64)
    keep = ~(frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.ones(len(frame), bool)
    frame = frame.loc[keep].reset_index(drop=True)
    out = RawTable(path, "xlsx", _as_text(frame), raw_rows[keep], "row")
    if head:
        out.notes.append(title_note(head, "row"))
    return out


def trim(text: pd.Series, chars: str | None = BLANKS) -> pd.Series:
    """`text.fillna("").str.strip(chars)` (`chars` None: every Unicode whitespace) for an Arrow-backed text
    column, done by one Arrow kernel without pandas' per-call overhead; other columns via pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if text.dtype == "str":
        arr = pa.array(text, from_pandas=True)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr = pc.fill_null(arr, "")
            out = pc.utf8_trim_whitespace(arr) if chars is None else pc.utf8_trim(arr, characters=chars)
            return pd.Series(out.to_pandas().array, index=text.index, name=text.name).astype("str")
    return text.fillna("").astype("str").str.strip(chars)


def _trimmed(table: Any) -> Any:
    """An Arrow table's text columns with surrounding `BLANKS` trimmed, column by column in Arrow (before the
    table becomes a DataFrame: no round trip through pandas per column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def trim_one(col: Any) -> Any:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return pc.utf8_trim(pc.fill_null(col, ""), characters=BLANKS)
        return col

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # the Arrow kernel frees the GIL
        columns = list(pool.map(trim_one, table.columns))
    return pa.table(columns, names=table.column_names)


def _as_text(frame: pd.DataFrame, trimmed: bool = False) -> pd.DataFrame:
    """Every column as str, '' for missing, surrounding spaces trimmed (`BLANKS`; `trimmed`: the text columns
    already are, `_trimmed`); column names stripped."""
    out = {}
    text_cols = [col for col in frame.columns if frame[col].dtype == "str" and not trimmed]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # the Arrow kernel frees the GIL
        stripped = dict(zip(text_cols, pool.map(lambda c: trim(frame[c]), text_cols), strict=True))
    for col in frame.columns:
        series = frame[col]
        if col in stripped:
            out[str(col).strip()] = stripped[col].reset_index(drop=True)
            continue
        if trimmed and series.dtype == "str":
            out[str(col).strip()] = series.reset_index(drop=True)
            continue
        if pd.api.types.is_datetime64_any_dtype(series):
            text = series.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(series):
            text = series.astype("str")  # 120.1 stays "120.1"
        else:
            text = series.astype("str")
        text = text.fillna("").str.strip(BLANKS)  # Arrow-backed text: no per-value Python objects
        out[str(col).strip()] = text.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


# -- vector formats ----------------------------------------------------------------------------------
def _dbf_encoding(dbf: Path) -> str:
    """UTF-8 if the records (after the binary header) decode as UTF-8, else GB18030 (how Chinese GIS writes);
    read in chunks, so a large `.dbf` never sits in memory whole."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        header_len = int.from_bytes(head[8:10], "little") if len(head) >= 10 else 0
        fh.seek(max(header_len, len(head)) if header_len else len(head))
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "GB18030"
    return "UTF-8"


#: The parts of a Shapefile taken out of a zip (the others are never inflated).
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _extract_shapefile(path: Path, into: Path) -> Path:
    """The one Shapefile of a zip, its parts extracted into `into` (checked and capped: `geo.archive`)."""
    from geo.archive import extract_members, open_zip

    with open_zip(path, "a zipped Shapefile (.shp, .shx, .dbf, .prj, .cpg)") as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        shps = [n for n in names if n.lower().endswith(".shp") and not Path(n).name.startswith("._")]
        if len(shps) != 1:
            found = ", ".join(shps) or "none"
            raise InputRejected(f"{path}: a zipped Shapefile must hold exactly one .shp (found {found})")
        stem = shps[0][:-4].lower()
        parts = {n: "data" + n[len(stem) :].lower() for n in names if n.lower()[:-4] == stem}
        parts = {n: name for n, name in parts.items() if name[4:] in SHAPEFILE_PARTS}
        extract_members(path, zf, parts, into)
    return into / "data.shp"


def _shapefile_encoding(path: Path) -> str | None:
    """The encoding to read a Shapefile's attributes with: its `.cpg`'s, else detected (None: no `.dbf`)."""
    for cpg_path in (path.with_suffix(".cpg"), path.with_suffix(".CPG")):
        if cpg_path.exists():
            return _cpg_to_encoding(cpg_path.read_text("ascii", errors="replace"))
    for dbf_path in (path.with_suffix(".dbf"), path.with_suffix(".DBF")):
        if dbf_path.exists():
            return _dbf_encoding(dbf_path)
    return None


def _cpg_to_encoding(text: str) -> str:
    code = text.strip().upper()
    if code in {"936", "CP936", "GBK", "GB2312", "GB18030"}:
        return "GB18030"
    if code in {"65001", "UTF8", "UTF-8"}:
        return "UTF-8"
    return code


def _pick_layer(path: Path, gdal_path: str, layer: str | None) -> str | None:
    """The layer to read: the one named, else the only one; several layers and none named is an error."""
    import pyogrio  # GDAL: loaded when a file needs it (30 MB a service over a store never reads)

    try:
        names = [str(n) for n in pyogrio.list_layers(gdal_path)[:, 0]]
    except pyogrio.errors.DataSourceError as exc:
        raise InputRejected(f"{path}: GDAL cannot open it ({exc})") from exc
    if layer is not None:
        if layer not in names:
            raise InputRejected(f"{path}: no layer named {layer!r}; layers are {', '.join(names)}")
        return layer
    if len(names) > 1:
        raise InputRejected(f"{path}: it holds {len(names)} layers ({', '.join(names)}); choose one with --layer NAME")
    return None


def _read_vector(path: Path, fmt: str, layer: str | None = None) -> RawTable:
    if fmt == "shp-zip":  # extracted (checked and capped) into a directory of our own, read, then removed
        with tempfile.TemporaryDirectory(prefix="riskmap-zip-") as tmp:
            shp = _extract_shapefile(path, Path(tmp))
            return _read_gdal(path, fmt, str(shp), _shapefile_encoding(shp), layer)
    if fmt == "osm":
        return _osm_tags(_read_gdal(path, fmt, str(path), None, layer or OSM_LAYER))
    return _read_gdal(path, fmt, str(path), _shapefile_encoding(path) if fmt == "shp" else None, layer)


def _osm_tags(table: RawTable) -> RawTable:
    """`OSM_TAGS` out of the hstore text of ``other_tags`` (``"maxspeed"=>"60","oneway"=>"yes"``)."""
    frame = table.frame.copy()
    other = frame.pop("other_tags") if "other_tags" in frame else pd.Series("", index=frame.index)
    for tag in OSM_TAGS:
        if tag not in frame:
            got = other.str.extract(rf'"{tag}"=>"((?:[^"\\]|\\.)*)"', expand=False)
            frame[tag] = got.fillna("").astype(str)
    note = f"OpenStreetMap layer {OSM_LAYER!r}; tags {', '.join(OSM_TAGS)} taken from other_tags"
    return dataclasses.replace(table, frame=frame, notes=[*table.notes, note])


def _read_gdal(path: Path, fmt: str, gdal_path: str, encoding: str | None, layer: str | None) -> RawTable:
    import pyogrio

    chosen = _pick_layer(path, gdal_path, layer)
    try:
        meta, _, geometry, field_data = pyogrio.raw.read(gdal_path, encoding=encoding, layer=chosen)
    except pyogrio.errors.DataSourceError as exc:
        raise InputRejected(f"{path}: GDAL cannot open it as {fmt} ({exc})") from exc
    except pyogrio.errors.DataLayerError as exc:
        raise InputRejected(f"{path}: cannot read its layer ({exc})") from exc
    import shapely

    geoms = shapely.from_wkb(geometry) if geometry is not None else None
    frame = pd.DataFrame({name: values for name, values in zip(meta["fields"], field_data, strict=True)})
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    positions = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(path, fmt, _as_text(frame), positions, "feature", geoms, crs, encoding or meta.get("encoding"))


def _read_parquet(path: Path) -> RawTable:
    import geopandas as gpd
    import pyarrow.parquet as pq

    try:
        schema_meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # noqa: BLE001
        raise InputRejected(f"{path}: not a readable Parquet file ({exc})") from exc
    positions_label = "row"
    if b"geo" in schema_meta:
        fast = _read_point_parquet(path, schema_meta)
        if fast is not None:
            return fast
        gdf = gpd.read_parquet(path)
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        crs = gdf.crs
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        positions = np.arange(1, len(frame) + 1, dtype=np.int64)
        return RawTable(path, "parquet", _as_text(frame), positions, positions_label, geoms, crs)
    frame = pd.read_parquet(path)
    positions = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(path, "parquet", _as_text(frame), positions, positions_label)


def _read_point_parquet(path: Path, schema_meta: dict) -> RawTable | None:
    """A GeoParquet file whose primary geometry column holds only 2D points, as coordinates (None otherwise:
    the caller reads it with geopandas)."""
    import json

    import pyarrow.parquet as pq

    try:
        geo = json.loads(schema_meta[b"geo"])
        name = geo["primary_column"]
        column = geo["columns"][name]
    except (KeyError, ValueError, TypeError):
        return None
    # the geometry column alone first: a file of other geometries goes to geopandas without reading the rest
    xy = point_coordinates(pq.read_table(path, columns=[name]).column(name), column.get("encoding", "WKB"))
    if xy is None:
        return None
    crs = CRS.from_user_input(column["crs"]) if column.get("crs") else CRS.from_epsg(4326)  # absent: OGC:CRS84
    bboxes = [(col.get("covering") or {}).get("bbox", {}) for col in geo["columns"].values()]
    # bbox covering columns (GeoParquet 1.1) describe the geometry: not attributes
    covering = {part[0] for bbox in bboxes for part in bbox.values() if isinstance(part, list) and part}
    names = pq.read_schema(path).names
    keep = [c for c in names if c != name and c not in covering and not c.startswith("__index_level_")]
    frame = pq.read_table(path, columns=keep).to_pandas()
    positions = np.arange(1, len(frame) + 1, dtype=np.int64)
    return RawTable(path, "parquet", _as_text(frame), positions, "row", None, crs, points=xy)


def point_coordinates(column, encoding: str) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y of a GeoParquet geometry column when every value is a non-empty 2D point, else None.

    WKB points are read straight from the bytes (21 each: byte order, type 1, x, y), GeoArrow points from
    their x and y children; anything else (nulls, other types, Z, big-endian) returns None."""
    import pyarrow as pa

    xs, ys = [], []
    for chunk in column.chunks:
        if chunk.null_count:
            return None
        if encoding.lower() == "point" and pa.types.is_struct(chunk.type) and chunk.type.num_fields == 2:
            x = chunk.field("x").to_numpy(zero_copy_only=False)
            y = chunk.field("y").to_numpy(zero_copy_only=False)
        elif encoding.upper() == "WKB" and (pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type)):
            width = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
            if len(chunk) == 0:
                continue
            if not (np.diff(offsets) == 21).all():
                return None
            data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
            rec = data[offsets[0] : offsets[-1]].reshape(-1, 21)
            if not ((rec[:, 0] == 1).all() and (rec[:, 1:5].copy().view("<u4")[:, 0] == 1).all()):
                return None
            coords = rec[:, 5:21].copy().view("<f8")
            x, y = coords[:, 0], coords[:, 1]
        else:
            return None
        xs.append(np.asarray(x, dtype=np.float64))
        ys.append(np.asarray(y, dtype=np.float64))
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None  # empty points (NaN): the careful path reports them
    return x, y
