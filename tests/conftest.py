"""Shared fixtures. Test data is built in code from the bundled boundaries (see tests/fixtures/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely


def pytest_report_header(config):
    import geopandas
    import pyogrio
    import pyproj

    return (
        f"GDAL {pyogrio.__gdal_version_string__}, PROJ {pyproj.proj_version_str}, GEOS {shapely.geos_version_string}, "
        f"shapely {shapely.__version__}, geopandas {geopandas.__version__}"
    )


def require_tool(name: str) -> None:
    """Skip on a developer's laptop without the tool; fail in CI (CI=true), where it must be installed."""
    import shutil

    if shutil.which(name):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI but not installed; .ci/run must install it")
    pytest.skip(f"{name} not installed")


def require_postgis() -> None:
    """Skip on a laptop without PostgreSQL + PostGIS (or psycopg); fail in CI, where .ci/run installs them."""
    from tests.pgcluster import missing_reason

    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must install it (scripts/setup.sh APT_PACKAGES, the test extra)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL + PostGIS cluster for the whole run (`tests.pgcluster`), stopped at the end."""
    require_postgis()
    from tests.pgcluster import start_cluster

    cluster = start_cluster()
    yield cluster
    from geo.pgstore import close_pools

    close_pools()
    cluster.stop()


@pytest.fixture()
def pg_url(pg_cluster) -> str:
    """The URL of a new, empty database on the test cluster."""
    return pg_cluster.new_database()


#: Debian's QGIS Python bindings (python3-qgis) live in the system interpreter, not in the virtualenv
SYSTEM_PYTHON = "/usr/bin/python3"


def require_qgis() -> str:
    """The interpreter that imports `qgis.core`: skip on a laptop without QGIS, fail in CI."""
    import subprocess

    if os.path.exists(SYSTEM_PYTHON):
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return SYSTEM_PYTHON
    if os.environ.get("CI") == "true":
        pytest.fail("QGIS's Python API (Debian python3-qgis) is required in CI; .ci/run must install it")
    pytest.skip("python3-qgis not installed")


@pytest.fixture(scope="session")
def boundaries() -> gpd.GeoDataFrame:
    from geo.boundaries import load_bundled

    return load_bundled("330000")


@pytest.fixture(scope="session")
def counties(boundaries) -> gpd.GeoDataFrame:
    return boundaries.loc[boundaries["admin_level"] == "county"].reset_index(drop=True)


@pytest.fixture()
def store(tmp_path: Path, boundaries):
    from geo.store import Store

    s = Store.open(tmp_path / "store")
    s.write("boundaries", boundaries)
    return s


def inside_point(counties: gpd.GeoDataFrame, adcode: str) -> tuple[float, float]:
    """A point well inside a county (its representative point)."""
    geom = counties.loc[counties["adcode"] == adcode].geometry.iloc[0]
    p = shapely.point_on_surface(geom)
    return float(p.x), float(p.y)


def shared_vertex(counties: gpd.GeoDataFrame, a: str, b: str) -> tuple[float, float]:
    """A vertex that lies on the border of both counties (present in both outlines)."""
    ga = counties.loc[counties["adcode"] == a].geometry.iloc[0]
    gb = counties.loc[counties["adcode"] == b].geometry.iloc[0]
    ca = {tuple(c) for c in shapely.get_coordinates(ga.boundary)}
    cb = {tuple(c) for c in shapely.get_coordinates(gb.boundary)}
    common = sorted(ca & cb)
    assert common, f"{a} and {b} share no vertex"
    return common[len(common) // 2]


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(42)
