"""Tables between pandas and PostgreSQL: column types, COPY text in and out, the pandas types kept.

A table is written with ``COPY … FROM STDIN`` (text format) built column by column (no Python loop over
rows), and read with ``COPY (SELECT …) TO STDOUT`` parsed by pandas' C reader. Each column's pandas type is
recorded (`Column.dtype`) and restored on reading, so a table read back equals the one written: the same
columns in the same order, the same dtypes (``str``, ``Int64``, ``boolean``, ``datetime64[ns]``, …), the
same missing values, and geometry as exact WKB (EWKB with SRID 4326 on the way in). Rows keep their order
through the ``_ord`` column every stored table has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import StoreError

ORD = "_ord"
GEOMETRY_SQL = "geometry(Geometry, 4326)"
_SQL_TYPES = {
    "str": "text",
    "string": "text",
    "object": "text",
    "int64": "bigint",
    "int32": "bigint",
    "Int64": "bigint",
    "Int32": "bigint",
    "float64": "double precision",
    "float32": "double precision",
    "Float64": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "datetime64[ns]": "timestamp",
    "datetime64[us]": "timestamp",
    "datetime64[ms]": "timestamp",
    "datetime64[s]": "timestamp",
    "geometry": GEOMETRY_SQL,
}
_UNESCAPE = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # the pandas dtype's name, restored on reading

    @property
    def sql(self) -> str:
        return _SQL_TYPES[self.dtype]

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype}


def quote(name: str) -> str:
    """A column or table name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def columns_of(frame: pd.DataFrame, table: str) -> list[Column]:
    """The stored columns of `frame`, or a StoreError naming a column whose type has no SQL counterpart."""
    out = []
    for name in frame.columns:
        if name == ORD:
            raise StoreError(f"{table}: the column name {ORD!r} is reserved for the row order; rename it")
        dtype = "geometry" if isinstance(frame[name].dtype, gpd.array.GeometryDtype) else str(frame[name].dtype)
        if dtype == "object":
            values = frame[name].dropna()
            if len(values) and not values.map(lambda v: isinstance(v, str)).all():
                raise StoreError(f"{table}.{name}: values that are not text ({type(values.iloc[0]).__name__})")
        if dtype not in _SQL_TYPES:
            raise StoreError(f"{table}.{name}: pandas type {dtype} has no column type in the PostgreSQL store")
        out.append(Column(str(name), dtype))
    return out


def create_sql(physical: str, columns: Iterable[Column]) -> str:
    cols = ", ".join(f"{quote(c.name)} {c.sql}" for c in columns)
    return f"CREATE TABLE {physical} ({ORD} bigint NOT NULL, {cols})"


def _escape(text: pd.Series) -> pd.Series:
    if not text.str.contains(r"[\\\t\n\r]", regex=True, na=False).any():
        return text
    return (
        text.str.replace("\\", "\\\\", regex=False)
        .str.replace("\t", "\\t", regex=False)
        .str.replace("\n", "\\n", regex=False)
        .str.replace("\r", "\\r", regex=False)
    )


def _text_of(series: pd.Series, column: Column) -> pd.Series:
    """One column as COPY text (None where missing)."""
    kind = column.dtype
    missing = series.isna().to_numpy()
    if kind == "geometry":
        geoms = shapely.set_srid(np.asarray(series.array, dtype=object), 4326)
        return pd.Series(shapely.to_wkb(geoms, hex=True, include_srid=True), dtype=object)
    if kind in ("bool", "boolean"):
        out = np.where(series.fillna(False).to_numpy(dtype=bool), "t", "f").astype(object)
    elif kind.startswith("datetime64"):
        out = series.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object)
    elif kind.lower().startswith(("int", "float")):
        values = series.to_numpy(dtype=object, na_value=None)
        out = np.asarray([None if v is None else str(v) for v in values.tolist()], dtype=object)
        if kind.lower().startswith("float"):
            finite = ~missing
            floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
            out[finite & np.isnan(floats)] = None
            missing = missing | np.isnan(floats)
    else:
        out = _escape(series.astype(object).where(~pd.isna(series), None).astype("str")).to_numpy(dtype=object)
    out[missing] = None
    return pd.Series(out, dtype=object)


def copy_text(frame: pd.DataFrame, columns: list[Column], ord_values: np.ndarray | None = None) -> bytes:
    """`frame` as the body of a ``COPY … FROM STDIN`` (text format), ``_ord`` first."""
    n = len(frame)
    if not n:
        return b""
    ords = np.arange(n, dtype=np.int64) if ord_values is None else np.asarray(ord_values, dtype=np.int64)
    parts = [pd.Series(ords.astype(str), dtype=object)]
    for column in columns:
        parts.append(_text_of(frame[column.name].reset_index(drop=True), column).fillna("\\N"))
    rows = parts[0].str.cat(parts[1:], sep="\t") if len(parts) > 1 else parts[0]
    return ("\n".join(rows.tolist()) + "\n").encode("utf-8")


def literal(text: str) -> str:
    """`text` as an SQL string literal (standard-conforming strings: a quote doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def select_sql(physical: str, columns: list[Column], where: str = "", order: str = ORD, tail: str = "") -> str:
    """The query whose COPY output `read_copy` parses (geometry as hex WKB): the rows `where` selects in the
    stored order (or `order`, an ORDER BY list), then `tail` (LIMIT and OFFSET)."""
    exprs = [
        f"encode(ST_AsBinary({quote(c.name)}), 'hex')" if c.dtype == "geometry" else quote(c.name) for c in columns
    ]
    return f"SELECT {', '.join(exprs) or 'NULL'} FROM {physical} {where} ORDER BY {order} {tail}"


def read_copy(data: bytes, columns: list[Column], geometry: str | None) -> pd.DataFrame:
    """Parse COPY text output of `select_sql` back into the frame that was written."""
    names = [c.name for c in columns]
    raw = _parse(data, names)
    n = len(next(iter(raw.values()))) if raw else (data.count(b"\n") if data else 0)
    out = {c.name: _restore(raw[c.name], c) for c in columns}
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    if geometry is not None and geometry in frame:
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    return frame


def read_rows(rows: list[tuple], columns: list[Column], geometry: str | None) -> pd.DataFrame:
    """The frame `read_copy` makes, from the rows of `select_sql` fetched as tuples: for a few rows (a page, the
    units near a point), where COPY's parsing costs more than it saves (5.4 → 1.5 ms for 13 units)."""
    n = len(rows)
    out = {c.name: _typed([r[i] for r in rows], c) for i, c in enumerate(columns)}
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    if geometry is not None and geometry in frame:
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    return frame


def _typed(values: list[Any], column: Column) -> pd.Series:
    """A column of Python values as `_restore` types it (geometry: hex WKB)."""
    kind = column.dtype
    if kind == "geometry":
        present = np.asarray([v is not None for v in values], dtype=bool)
        geoms = np.full(len(values), None, dtype=object)
        if present.any():
            geoms[present] = shapely.from_wkb(np.asarray(values, dtype=object)[present])
        return gpd.GeoSeries(geoms, crs="EPSG:4326")
    if kind.startswith("datetime64"):
        return pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype=kind)
    return pd.Series(values, dtype=kind)


def _parse(data: bytes, names: list[str]) -> dict[str, pd.Series]:
    """COPY text as one text column per name (missing: ``\\N``), escapes left in: Arrow's CSV reader, in
    parallel blocks, the text kept in Arrow buffers (pandas' reader made a Python string of every value first:
    2.7 s for 208,761 resources, now 0.6 s)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not data or not names:
        return {n: pd.Series([], dtype="str") for n in names}
    parse = pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, null_values=["\\N"], strings_can_be_null=True
    )
    try:
        read = pacsv.ReadOptions(column_names=names, block_size=1 << 24)
        table = pacsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid:  # a row longer than a block (a large polygon): the whole text as one block
        read = pacsv.ReadOptions(column_names=names, block_size=len(data) + 1)
        table = pacsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    return {n: pd.Series(pd.array(table.column(n).combine_chunks(), dtype="str")) for n in names}


def _restore(text: pd.Series, column: Column) -> pd.Series:
    kind = column.dtype
    if kind == "geometry":
        values = text.to_numpy(dtype=object)
        present = ~pd.isna(values)
        geoms = np.full(len(values), None, dtype=object)
        if present.any():
            geoms[present] = shapely.from_wkb(values[present])  # hex text as it is (not through numpy's fixed-width
            # unicode, which pads every value to the longest: 3.8 s for a province's boundaries)
        return gpd.GeoSeries(geoms, crs="EPSG:4326")
    if kind in ("bool", "boolean"):
        mapped = text.map({"t": True, "f": False})
        return mapped.astype(bool) if kind == "bool" else mapped.astype("boolean")
    if kind.startswith("datetime64"):
        return pd.to_datetime(text, format="ISO8601").astype(kind)
    if kind.lower().startswith("int"):
        return text.astype(kind)
    if kind.lower().startswith("float"):
        return text.astype(kind)
    if text.str.contains("\\", regex=False, na=False).any():
        text = text.str.replace(r"\\[\\tnr]", lambda m: _UNESCAPE[m.group(0)], regex=True)
    if kind == "object":
        return text.astype(object).where(text.notna(), None)
    return text.astype(kind)
