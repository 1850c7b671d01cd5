"""What a collection's features hold, read from its frame: the property types, the queryables (OGC API –
Features Part 3) and the feature schema, both as JSON Schema.

Nothing here names a collection or a column: types come from the column dtypes (object columns from their
values), enums from the catalogue's vocabularies a column's values fall in (levels, domains, hazard types),
the geometry type from the geometries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely

from api.state import Collection
from geo.catalogue import LEVELS, load_catalogue

Kind = Literal["string", "integer", "number", "boolean"]
GEOMETRY = "geometry"  # the name of the spatial queryable, whatever the frame calls its column
#: JSON Schema formats of the geometry queryable, by shapely geometry type id
_FORMATS = {
    0: "geometry-point",
    1: "geometry-linestring",
    3: "geometry-polygon",
    4: "geometry-multipoint",
    5: "geometry-multilinestring",
    6: "geometry-multipolygon",
}


@dataclass(frozen=True)
class Property:
    name: str
    kind: Kind
    enum: tuple[str, ...] | None = None


def _kind(column: pd.Series) -> Kind:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    return {
        "integer": "integer",
        "floating": "number",
        "mixed-integer-float": "number",
        "decimal": "number",
        "boolean": "boolean",
    }.get(inferred, "string")  # type: ignore[return-value]


def _vocabularies() -> tuple[tuple[str, ...], ...]:
    cat = load_catalogue()
    return (LEVELS, tuple(d.code for d in cat.domains), tuple(h.code for h in cat.hazard_types))


def _enum(column: pd.Series) -> tuple[str, ...] | None:
    """The vocabulary (levels, domains, hazard types) every value of the column is in, if one is. The distinct
    values are found first (in C): a column of a million ids is dismissed by their number, without turning each
    into a Python string (3.5 s at 1M when every column was converted whole)."""
    vocabularies = _vocabularies()
    most = max(len(v) for v in vocabularies)
    if column.iloc[:20_000].dropna().nunique() > most:  # ids, names, addresses: dismissed by a sample
        return None
    distinct = column.dropna().unique()
    if len(distinct) == 0 or len(distinct) > most:
        return None
    values = {str(v) for v in distinct}
    for vocabulary in vocabularies:
        if values <= set(vocabulary):
            return vocabulary
    return None


def properties(c: Collection) -> dict[str, Property]:
    """Every property of the collection's features (the frame's columns but the geometry), typed; worked
    out once per collection (a collection is one snapshot's, never changed)."""
    cached = c.memo.get("properties")
    if cached is None:
        cached = c.memo["properties"] = _properties(c)
    return cached


def _properties(c: Collection) -> dict[str, Property]:
    out: dict[str, Property] = {}
    for name in c.frame.columns:
        if name == c.frame.geometry.name:
            continue
        column = c.frame[name]
        kind = _kind(column)
        out[name] = Property(name, kind, _enum(column) if kind == "string" else None)
    return out


def geometry_format(c: Collection) -> str:
    """`geometry-point`, `geometry-polygon`, ... when every geometry has that type, else `geometry-any` (worked
    out once per collection)."""
    cached = c.memo.get("geometry-format")
    if cached is None:
        types = set(shapely.get_type_id(c.geoms[~shapely.is_missing(c.geoms)]).tolist())
        cached = _FORMATS.get(types.pop(), "geometry-any") if len(types) == 1 else "geometry-any"
        c.memo["geometry-format"] = cached
    return cached


def _json_schema(p: Property) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": p.name, "type": p.kind}
    if p.enum:
        schema["enum"] = list(p.enum)
    return schema


def queryables_doc(base: str, c: Collection) -> dict[str, Any]:
    """`/collections/{id}/queryables`: what `filter` and the `name=value` parameters may name."""
    props: dict[str, Any] = {
        GEOMETRY: {"title": "geometry", "format": geometry_format(c), "x-ogc-role": "primary-geometry"}
    }
    props.update({name: _json_schema(p) for name, p in properties(c).items()})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }


def schema_doc(base: str, c: Collection) -> dict[str, Any]:
    """`/collections/{id}/schema`: the GeoJSON feature the collection serves."""
    props = {name: _json_schema(p) for name, p in properties(c).items()}
    props[c.id_field]["x-ogc-role"] = "id"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{c.id}/schema",
        "title": c.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"title": "geometry", "format": geometry_format(c), "x-ogc-role": "primary-geometry"},
            "properties": {"type": "object", "properties": props},
        },
    }


def numeric(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float values and a null mask."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values, np.isnan(values)
