"""The command line, end to end on a small demo store: what a user types, what they see."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cli.main import main
from geo.catalogue import LEVELS

COUNTS = [*(f"n_{lv}_units" for lv in LEVELS), *(f"n_{lv}_sites" for lv in LEVELS)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = tmp_path_factory.mktemp("cli") / "store"
    assert main(["--store", str(store), "demo", "--enterprises", "2000", "--seed", "3", "--no-serve"]) == 0
    return store


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_ingests_and_builds(demo, capsys):
    reports = sorted(p.name for p in (demo / "reports").iterdir())
    assert "enterprises.enterprises.report.csv" in reports
    rep = pd.read_csv(demo / "reports" / "enterprises.enterprises.report.csv", encoding="utf-8-sig")
    assert set(rep.loc[rep["severity"] == "rejected", "field"]) >= {"lon/lat", "domain", "id"}
    manifest = json.loads((demo / "manifest.json").read_text())
    assert manifest["snapshot"] and manifest["tables"]["enterprises"]["rows"] > 1900


def test_demo_calibrates_a_census_off_the_models_size(demo):
    """2,000 enterprises, a tenth of the shipped model's census: the demo calibrated before building."""
    from geo.scoring.model import load_model
    from geo.snapshot import current
    from geo.store import Store

    model = load_model(demo / "model.toml")
    assert model.calibration is not None and 1900 < model.calibration.units < 2100
    assert model.region.k["county"] < load_model().region.k["county"] / 3
    snap = current(Store.open(demo))
    assert snap.meta["model_fingerprint"] == model.fingerprint()
    counties = snap.regions().query("admin_level == 'county' and domain == 'all'")["risk_level"]
    assert counties.nunique() == 4 and counties.value_counts().max() <= 0.8 * len(counties)


def test_strict_and_errors(demo, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,domain,lon,lat\nX1,mining,120.1,30.2\n", encoding="utf-8")
    code, out, err = run(
        capsys,
        "--store",
        str(demo),
        "ingest",
        str(bad),
        "--kind",
        "enterprises",
        "--strict",
        "--report",
        str(tmp_path / "r.csv"),
    )
    assert code == 1 and "1 rejected" in out and "--strict" in err
    assert "mining" in pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig")["reason"].iloc[0]
    code, _, err = run(capsys, "--store", str(demo), "ingest", str(tmp_path / "none.csv"), "--kind", "enterprises")
    assert code == 2 and err.startswith("riskmap: error:") and "no such file" in err and "Traceback" not in err
    code, _, err = run(capsys, "--store", str(demo), "near", "--lon", "120.1", "--lat", "30.2", "--crs", "mars")
    assert code == 2 and "mars" in err


def test_build_explain_trend_export(demo, tmp_path, capsys):
    code, out, _ = run(capsys, "--store", str(demo), "build", "--as-of", "2026-11-01")
    assert code == 0 and "county   regions:" in out
    code, out, _ = run(capsys, "--store", str(demo), "explain", "330106", "--json")
    data = json.loads(out)
    assert data["adcode"] == "330106" and data["risk_level"] in {"red", "orange", "yellow", "blue"}
    code, out, _ = run(
        capsys,
        "--store",
        str(demo),
        "trend",
        "--from",
        "2025-06-01",
        "--to",
        "2026-11-01",
        "--out",
        str(tmp_path / "t.csv"),
    )
    trend = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig")
    assert len(trend) == 90 and set(trend["change"]) <= {"up", "down", "same"}
    out_csv = tmp_path / "regions.csv"
    assert (
        main(["--store", str(demo), "export", "regions", "--level", "county", "--format", "csv", "--out", str(out_csv)])
        == 0
    )
    regions = pd.read_csv(out_csv, dtype={"adcode": str, "parent_adcode": str}, encoding="utf-8-sig")
    for col in ("adcode", "name", "parent_adcode", "domain", "risk_level", "risk_level_zh", "risk_index", *COUNTS):
        assert col in regions
    units_per_level = regions[[f"n_{lv}_units" for lv in LEVELS]].sum(axis=1)
    sites_per_level = regions[[f"n_{lv}_sites" for lv in LEVELS]].sum(axis=1)
    assert len(regions) == 90 and (units_per_level == regions["n_units"]).all()
    assert (sites_per_level == regions["n_hazards"]).all() and regions["n_hazards"].sum() > 0
    ent_csv = tmp_path / "ent.csv"
    assert main(["--store", str(demo), "export", "enterprises", "--format", "csv", "--out", str(ent_csv)]) == 0
    ent = pd.read_csv(ent_csv, dtype=str, encoding="utf-8-sig")
    assert {"id", "lon", "lat", "county_adcode", "risk_score", "risk_level", "override"} <= set(ent.columns)
    capsys.readouterr()
    code, out, _ = run(
        capsys, "--store", str(demo), "near", "--lon", "120.13", "--lat", "30.26", "--radius", "3000", "--json"
    )
    assert code == 0 and "summary" in json.loads(out)


def test_boundaries_commands(tmp_path, capsys):
    store = tmp_path / "b"
    code, out, _ = run(capsys, "--store", str(store), "boundaries", "import", "--province", "440000")
    assert code == 0 and "stored" in out
    code, out, _ = run(capsys, "--store", str(store), "boundaries", "list", "--level", "city")
    assert code == 0 and "广州市" in out and len(out.strip().splitlines()) == 21


def test_explain_unit_and_hazard(demo, capsys):
    from geo.snapshot import current
    from geo.store import Store

    snap = current(Store.open(demo))
    units = snap.units()
    vetoed = units.loc[units["veto"].fillna(False).astype(bool), "id"]
    uid = vetoed.iloc[0] if len(vetoed) else units["id"].iloc[0]
    code, out, _ = run(capsys, "--store", str(demo), "explain", uid)
    assert code == 0 and uid in out and "contributions" in out
    code, out, _ = run(capsys, "--store", str(demo), "explain", uid, "--json")
    data = json.loads(out)
    contributions = data["breakdown"]["contributions"]
    assert abs(sum(contributions.values()) - data["breakdown"]["raw_score"]) < 1e-3  # rounded to 1e-4 each
    hid = snap.hazards()["id"].iloc[0]
    code, out, _ = run(capsys, "--store", str(demo), "explain", hid, "--json")
    assert json.loads(out)["kind"] == "hazard"
    code, _, err = run(capsys, "--store", str(demo), "explain", "NO-SUCH-THING")
    assert code == 2 and "neither a region adcode nor" in err


def test_the_serve_supervisor_stays_small(tmp_path, capsys):
    """`riskmap serve` (the handover supervisor) imports no data library: the command line, the supervisor and
    the pointer it polls load without pandas, numpy, shapely or the app; a bad store is still reported before
    anything starts (checked in a process of its own), as the same error."""
    import subprocess
    import sys

    code = (
        "import sys; import cli.main, cli.serve, api.handover, geo.pointer; cli.main.build_parser(); "
        "p = geo.pointer.Pointer(sys.argv[1]); assert p() is None; "
        "heavy = [m for m in ('pandas', 'numpy', 'shapely', 'geopandas', 'pyarrow', 'api.app') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    a_file = tmp_path / "not-a-store.txt"
    a_file.write_text("x")
    assert main(["--store", str(a_file), "serve", "--port", "0"]) == 2
    assert f"store {a_file} is a file, not a directory" in capsys.readouterr().err
