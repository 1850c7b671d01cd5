"""One source of truth: after a build with a custom model, every reader (CLI, API, dated views) explains
with that model, and every breakdown adds up to the stored score."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli.main import main
from geo.scoring.model import DEFAULT_PATH, load_model
from geo.snapshot import current
from geo.store import Store

AS_OF = "2026-11-01"


def _custom_model(path: Path) -> Path:
    """The default model with other unit thresholds, industry points, control and regional k."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    for old, new in [
        ('name = "default"', 'name = "custom"'),
        ("industry_points = 40.0", "industry_points = 55.0"),
        ("yellow = 30.0\norange = 45.0\nred = 65.0", "yellow = 25.0\norange = 40.0\nred = 55.0"),
        ("grade_1 = 0.80", "grade_1 = 0.70"),
        ("county = 250.0", "county = 90.0"),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    store = root / "store"
    assert main(["--store", str(store), "demo", "--enterprises", "400", "--seed", "11", "--no-serve"]) == 0
    model = _custom_model(root / "custom.toml")
    assert main(["--store", str(store), "build", "--as-of", AS_OF, "--model", str(model)]) == 0
    return Store.open(store), model


def _assert_unit_adds_up(data: dict, stored: dict) -> None:
    b = data["breakdown"]
    assert b["risk_score"] == pytest.approx(stored["risk_score"], abs=0.051)
    assert data["risk_score"] == pytest.approx(stored["risk_score"], abs=0.051)
    assert b["risk_level"] == stored["risk_level"] == data["risk_level"]
    assert sum(b["contributions"].values()) == pytest.approx(b["raw_score"], abs=0.05 * len(b["contributions"]))
    assert b["thresholds"] == {"yellow": 25.0, "orange": 40.0, "red": 55.0}


def _assert_region_adds_up(data: dict, model_k: float | None) -> None:
    e = data["explanation"]
    inputs = e["inputs"]
    assert inputs["load"] == pytest.approx(inputs["unit_load"] + inputs["site_load"], abs=1e-3)
    index = round(100.0 * (1.0 - math.exp(-inputs["load"] / inputs["k"])), 1)
    assert index == pytest.approx(data["risk_index"], abs=0.11)
    if model_k is not None:
        assert inputs["k_admin_level"] == model_k
    assert sum(data["counts"].values()) == data["n_units"]  # enterprises
    assert sum(data["site_counts"].values()) == data["n_hazards"]  # open hazard sites, apart


def test_custom_model_changes_the_scores(custom):
    """The test below could fail: the custom model really gives other numbers than the default."""
    store, model = custom
    snap = current(store)
    assert snap.meta["model_fingerprint"] == load_model(model).fingerprint() != load_model().fingerprint()
    assert snap.model.fingerprint() == snap.meta["model_fingerprint"]
    from geo.build import compute

    default_units = compute(store, date.fromisoformat(AS_OF)).units.set_index("id")["risk_score"]
    stored = snap.units(columns=["id", "risk_score"]).set_index("id")["risk_score"]
    assert (default_units.reindex(stored.index) != stored).mean() > 0.5


def test_cli_explains_with_the_builds_model(custom, capsys):
    store, model = custom
    snap = current(store)
    units = snap.units(columns=["id", "risk_score", "risk_level"]).set_index("id")
    for uid in units.index[:: max(1, len(units) // 12)]:
        assert main(["--store", str(store.root), "explain", uid, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["model_fingerprint"] == snap.meta["model_fingerprint"]
        _assert_unit_adds_up(data, units.loc[uid].to_dict())
    assert main(["--store", str(store.root), "explain", "330106", "--json"]) == 0
    _assert_region_adds_up(json.loads(capsys.readouterr().out), 90.0)
    # another date: the build's model still, not the default
    assert main(["--store", str(store.root), "explain", units.index[0], "--as-of", "2026-06-01", "--json"]) == 0
    dated = json.loads(capsys.readouterr().out)
    assert dated["as_of"] == "2026-06-01" and dated["model_fingerprint"] == snap.meta["model_fingerprint"]
    assert dated["breakdown"]["thresholds"] == {"yellow": 25.0, "orange": 40.0, "red": 55.0}


def test_api_explains_every_unit_and_region(custom):
    from api.app import create_app
    from api.settings import Settings

    store, _ = custom
    snap = current(store)
    units = snap.units(columns=["id", "risk_score", "risk_level"])
    regions = snap.regions()
    k_of = {"province": 15000.0, "city": 1300.0, "county": 90.0}
    with TestClient(create_app(Settings(store=store.root))) as client:
        for row in units.to_dict(orient="records"):
            r = client.get(f"/explain/{row['id']}")
            assert r.status_code == 200, r.text
            data = r.json()
            assert data["snapshot"] == snap.id
            _assert_unit_adds_up(data, row)
        for adcode, level in regions.loc[regions["domain"] == "all", ["adcode", "admin_level"]].itertuples(index=False):
            r = client.get(f"/regions/{adcode}")
            assert r.status_code == 200, r.text
            data = r.json()
            assert data["model_fingerprint"] == snap.meta["model_fingerprint"]
            assert data["trend"][-1]["snapshot"] == data["snapshot"] == snap.id
            _assert_region_adds_up(data, k_of[level])


def test_dated_views_use_the_builds_model(custom):
    """`/near?as_of=` and OGC `datetime=` recompute with the snapshot's model, as `explain --as-of` does."""
    from api.app import create_app
    from api.settings import Settings

    store, _ = custom
    snap = current(store)
    dated = snap.dated(date(2026, 6, 1))
    assert dated.model.fingerprint() == snap.meta["model_fingerprint"]
    uid = dated.units["id"].iloc[0]
    lon, lat = dated.units.geometry.iloc[0].x, dated.units.geometry.iloc[0].y
    expected = float(dated.units.loc[dated.units["id"] == uid, "risk_score"].iloc[0])
    with TestClient(create_app(Settings(store=store.root))) as client:
        body = client.get("/near", params={"lon": lon, "lat": lat, "radius_m": 5, "as_of": "2026-06-01"}).json()
        assert body["query"]["as_of"] == "2026-06-01"
        got = {e["id"]: e["risk_score"] for e in body["enterprises"]}
        assert got[uid] == pytest.approx(expected)
        item = client.get(f"/collections/enterprises/items/{uid}", params={"datetime": "2026-06-01"})
        assert item.status_code == 200
        assert item.json()["properties"]["risk_score"] == pytest.approx(expected)  # the dated view's score


def test_clusters_without_a_bbox_is_a_bad_request(custom):
    from api.app import create_app
    from api.settings import Settings

    store, _ = custom
    with TestClient(create_app(Settings(store=store.root))) as client:
        for bbox in ("", "   "):
            r = client.get("/clusters/enterprises", params={"bbox": bbox, "zoom": 8})
            assert r.status_code == 400, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "bbox" in r.json()["detail"]
        r = client.get("/clusters/enterprises", params={"zoom": 8})
        assert r.status_code == 400
