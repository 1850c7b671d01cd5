"""The CQL2 evaluator and the OGC helpers on a five-feature collection built in code: known answers by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from api import cql, queryables
from api.crs import parse_crs
from api.openapi import to_openapi30
from api.state import Collection
from geo.errors import CRSUnknown, InputRejected


@pytest.fixture(scope="module")
def five() -> Collection:
    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "name": ["杭州化工", "Alpha_1", "alpha", "Beta%", None],
            "domain": ["hazchem", "fire", "fire", "road", "hazchem"],
            "risk_level": ["red", "orange", "blue", None, "yellow"],
            "workers": pd.array([10, 250, None, 40, 5], dtype="Int64"),
            "risk_score": [80.5, 55.0, 12.0, 30.0, 20.0],
            "low": [1.0, 60.0, 12.0, 40.0, 25.0],
        },
        geometry=[
            shapely.Point(120.1, 30.2),
            shapely.Point(120.5, 30.5),
            shapely.Point(121.5, 29.0),
            shapely.LineString([(119.0, 30.0), (122.0, 30.0)]),
            shapely.box(120.0, 30.0, 120.3, 30.3),
        ],
        crs="EPSG:4326",
    )
    return Collection("t", "test", "five features", frame, "id", "Point")


def ids(c: Collection, text: str, lang: str | None = None, crs: str | None = None) -> list[str]:
    node = cql.parse(text, lang)
    mask = cql.evaluate(c, queryables.properties(c), node, parse_crs(crs, "filter-crs"))
    return list(c.frame["id"][mask])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("domain = 'fire'", ["b", "c"]),
        ("domain <> 'fire'", ["a", "d", "e"]),
        ("workers > 30", ["b", "d"]),
        ("workers >= 40 AND domain = 'road'", ["d"]),
        ("workers < 30 OR risk_level = 'blue'", ["a", "c", "e"]),
        # c has no workers: the comparison is unknown, and NOT unknown is unknown (not selected)
        ("NOT workers > 30", ["a", "e"]),
        ("NOT (risk_level = 'red')", ["b", "c", "e"]),
        ("risk_level IN ('red', 'yellow')", ["a", "e"]),
        ("risk_level NOT IN ('red', 'yellow')", ["b", "c"]),
        ("risk_score BETWEEN 20 AND 55", ["b", "d", "e"]),
        ("risk_score NOT BETWEEN 20 AND 55", ["a", "c"]),
        ("name LIKE 'alpha%'", ["c"]),
        ("name LIKE 'Alpha__'", ["b"]),
        ("name LIKE '%化工'", ["a"]),
        ("name LIKE 'Beta\\%'", ["d"]),
        ("risk_level IS NULL", ["d"]),
        ("name IS NOT NULL", ["a", "b", "c", "d"]),
        ("risk_score > low", ["a"]),
        ("S_INTERSECTS(geometry, POINT(120.1 30.2))", ["a", "e"]),
        ("S_INTERSECTS(geometry, BBOX(120.4, 29.5, 121.0, 31.0))", ["b", "d"]),
        ("S_INTERSECTS(geometry, POLYGON((121 28, 122 28, 122 29.5, 121 29.5, 121 28)))", ["c"]),
        ("S_INTERSECTS(geometry, LINESTRING(120.2 29.9, 120.2 30.1))", ["d", "e"]),
        ("S_WITHIN(geometry, BBOX(119.5, 29.5, 121.0, 31.0))", ["a", "b", "e"]),
        ("S_DISJOINT(geometry, BBOX(119.5, 29.5, 121.0, 31.0))", ["c"]),
        ("S_CONTAINS(geometry, POINT(120.25 30.25))", ["e"]),
    ],
)
def test_cql2_text_known_answers(five, text, expected):
    assert ids(five, text) == expected


def test_cql2_json_and_the_legacy_name_gdal_sends(five):
    assert ids(five, '{"op": "=", "args": [{"property": "domain"}, "fire"]}', "cql2-json") == ["b", "c"]
    assert ids(five, "(domain = 'hazchem') AND (workers < 8)", "cql-text") == ["e"]


def test_filter_crs_reads_the_literal_in_that_crs(five):
    # EPSG:4326 is latitude, longitude: the same point as POINT(120.1 30.2) in CRS84
    assert ids(five, "S_INTERSECTS(geometry, POINT(30.2 120.1))", crs="EPSG:4326") == ["a", "e"]
    x, y = 13369452.0, 3530000.0  # about 120.1E, 30.2N in Web Mercator
    box = f"BBOX({x - 2000}, {y - 2000}, {x + 2000}, {y + 2000})"
    assert "a" in ids(five, f"S_INTERSECTS(geometry, {box})", crs="EPSG:3857")


@pytest.mark.parametrize(
    "text,lang,message",
    [
        ("colour = 'red'", None, "'colour' is not a queryable"),
        ("workers = 'ten'", None, "different types"),
        ("workers + 1 > 2", None, "not supported"),
        ("name IN (1, 2)", None, "different types"),
        ("name LIKE 5", None, "LIKE compares"),
        ("S_INTERSECTS(name, POINT(1 2))", None, "spatial functions compare 'geometry'"),
        ("domain = ", None, "not valid cql2-text"),
        ('{"op": "=", "args": [}', "cql2-json", "not valid cql2-json"),
        ("domain = 'fire'", "sql", "filter-lang='sql'"),
    ],
)
def test_filter_errors_name_the_problem(five, text, lang, message):
    with pytest.raises(InputRejected, match=message):
        ids(five, text, lang)


def test_unknown_crs_names_the_offered_ones():
    with pytest.raises(CRSUnknown, match="EPSG/0/4490"):
        parse_crs("EPSG:2000", "crs")
    assert parse_crs("EPSG:4490", "crs").uri == parse_crs("http://www.opengis.net/def/crs/EPSG/0/4490", "crs").uri


def test_queryables_typed_from_the_frame(five):
    doc = queryables.queryables_doc("http://x", five)
    props = doc["properties"]
    assert props["geometry"]["format"] == "geometry-any"
    assert props["workers"]["type"] == "integer" and props["risk_score"]["type"] == "number"
    assert props["risk_level"]["enum"] == ["red", "orange", "yellow", "blue"]
    assert "hazchem" in props["domain"]["enum"] and "enum" not in props["name"]


def test_openapi_31_constructs_become_30():
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/x": {
                "get": {
                    "parameters": [
                        {"name": "a", "in": "query", "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                        {"name": "b", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0}},
                        {"name": "c", "in": "query", "schema": {"type": "string", "examples": ["x", "y"]}},
                    ]
                }
            }
        },
    }
    out = to_openapi30(doc)
    a, b, c = (p["schema"] for p in out["paths"]["/x"]["get"]["parameters"])
    assert out["openapi"] == "3.0.3"
    assert a == {"type": "string", "nullable": True}
    assert b == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert c == {"type": "string", "example": "x"}
    assert doc["openapi"] == "3.1.0"  # the input is left alone


def test_mask_is_numpy_bool(five):
    mask = cql.evaluate(five, queryables.properties(five), cql.parse("workers > 1", None), parse_crs(None, "crs"))
    assert mask.dtype == np.bool_ and mask.tolist() == [True, True, False, True, True]
