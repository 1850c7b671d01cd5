"""OGC API – Features Part 2 (coordinate reference systems): the CRSs the service offers and the transforms.

The store holds WGS84 longitude/latitude (`CRS84`, the storage CRS). A response in another CRS is transformed
through pyproj, with the coordinates in the axis order that CRS defines: EPSG:4326 and EPSG:4490 (CGCS2000)
are latitude, longitude; CRS84 and EPSG:3857 are x (east), y (north).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely

from geo.errors import CRSUnknown

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class OfferedCRS:
    uri: str
    code: str  # what pyproj reads
    title: str


#: what `crs`, `bbox-crs` and `filter-crs` accept, storage CRS first
OFFERED: tuple[OfferedCRS, ...] = (
    OfferedCRS(CRS84, "OGC:CRS84", "WGS 84 longitude, latitude (storage CRS)"),
    OfferedCRS(_EPSG + "4326", "EPSG:4326", "WGS 84 latitude, longitude"),
    OfferedCRS(_EPSG + "4490", "EPSG:4490", "CGCS2000 latitude, longitude"),
    OfferedCRS(_EPSG + "3857", "EPSG:3857", "WGS 84 / Pseudo-Mercator (metres)"),
)
URIS: tuple[str, ...] = tuple(c.uri for c in OFFERED)
STORAGE = OFFERED[0]


def _aliases(c: OfferedCRS) -> set[str]:
    names = {c.uri, c.uri.replace("http://", "https://"), c.code, f"[{c.code}]"}
    return {n.lower() for n in names}


_BY_NAME = {alias: c for c in OFFERED for alias in _aliases(c)}


def parse_crs(text: str | None, parameter: str) -> OfferedCRS:
    """The offered CRS named by a URI (or its `EPSG:n` / `OGC:CRS84` short form); CRS84 when absent."""
    if text is None or text == "":
        return STORAGE
    found = _BY_NAME.get(text.strip().strip("<>").lower())
    if found is None:
        raise CRSUnknown(f"{parameter}={text!r}: not offered; use one of {', '.join(URIS)}")
    return found


@lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst)  # axis order as each CRS defines it


def from_storage(geoms: np.ndarray, crs: OfferedCRS) -> np.ndarray:
    """Geometries (CRS84) in `crs`, coordinates in that CRS's axis order."""
    if crs is STORAGE:
        return geoms
    t = _transformer(STORAGE.code, crs.code)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def to_storage(geom: shapely.Geometry, crs: OfferedCRS) -> shapely.Geometry:
    """One geometry given in `crs` (its axis order) as CRS84."""
    if crs is STORAGE:
        return geom
    t = _transformer(crs.code, STORAGE.code)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def bbox_to_storage(values: list[float], crs: OfferedCRS) -> tuple[float, float, float, float]:
    """A bbox given in `crs` (corners in its axis order) as CRS84 minLon, minLat, maxLon, maxLat."""
    a0, b0, a1, b1 = values
    if crs is STORAGE:
        return a0, b0, a1, b1
    t = _transformer(crs.code, STORAGE.code)
    x0, y0, x1, y1 = t.transform_bounds(a0, b0, a1, b1, densify_pts=21)
    return float(x0), float(y0), float(x1), float(y1)


def content_crs(crs: OfferedCRS) -> str:
    """The `Content-Crs` header value."""
    return f"<{crs.uri}>"
