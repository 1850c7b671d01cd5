"""QGIS, as a planner adds the service's layers: its own OGC API – Features provider (QGIS 3.22 from Debian's
python3-qgis, run by the system interpreter), against the service on loopback. Every hazard geometry reaches
QGIS (one geometry type per collection), regions arrive as polygons, and QGIS reads the item limit from the
API document and pages the enterprises in large pages."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from tests import support
from tests.conftest import require_qgis

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes
    app = QgsApplication([], False)
    app.initQgis()
    out = {}
    for name in sys.argv[2:]:
        uri = f"url='{sys.argv[1]}' typename='{name}' pagingEnabled='true'"
        lay = QgsVectorLayer(uri, name, "OAPIF")
        ids = [str(f["id"] if name != "regions-county" else f["adcode"]) for f in lay.getFeatures()]
        out[name] = {
            "valid": lay.isValid(),
            "geometry": QgsWkbTypes.geometryDisplayString(QgsWkbTypes.geometryType(lay.wkbType())),
            "wkb": QgsWkbTypes.displayString(lay.wkbType()),
            "ids": ids,
        }
    print(json.dumps(out), flush=True)
    os._exit(0)  # QGIS may crash tearing down after exitQgis(); the answer is out
    """
)


class _Log:
    """An ASGI wrapper that records each request's path and query."""

    def __init__(self, app):
        self.app, self.entries = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.entries.append((scope["path"], scope["query_string"].decode()))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from api.app import create_app
    from api.settings import Settings
    from geo.snapshot import current

    store = support.demo_store(tmp_path_factory.mktemp("qgis"), 3000, seed=5)
    log = _Log(create_app(Settings(store=store.root)))
    with support.serving(log) as base:
        yield base, log, current(store)


def test_qgis_reads_every_collection_with_one_geometry_type(served, tmp_path):
    python = require_qgis()
    base, log, snap = served
    names = ["hazards-points", "hazards-lines", "hazards-polygons", "regions-county", "enterprises"]
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    mark = len(log.entries)
    run = subprocess.run([python, str(script), base, *names], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(out[n]["valid"] for n in names), {n: out[n]["valid"] for n in names}
    kinds = {n: out[n]["geometry"] for n in names}
    assert kinds == {
        "hazards-points": "Point",
        "hazards-lines": "Line",
        "hazards-polygons": "Polygon",
        "regions-county": "Polygon",
        "enterprises": "Point",
    }, kinds
    hazards = snap.hazards()
    got = out["hazards-points"]["ids"] + out["hazards-lines"]["ids"] + out["hazards-polygons"]["ids"]
    assert sorted(got) == sorted(hazards["id"].astype(str))  # every site, whatever its geometry, reaches QGIS
    assert len(out["regions-county"]["ids"]) == 90
    units = snap.units(columns=["id"])
    assert sorted(out["enterprises"]["ids"]) == sorted(units["id"].astype(str))
    pages = [q for p, q in log.entries[mark:] if p == "/collections/enterprises/items"]
    # QGIS takes the item limit from the API document: pages of 1,000 (its own cap) after one probe, not of 10
    assert len(pages) <= -(-len(units) // 1000) + 1 and "limit=1000" in pages[-1], pages
