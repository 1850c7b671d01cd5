"""Calibration (docs/scoring.md §5): known answers of the method, a census ten times the model's size brought
back to the targets, the demo census giving back the shipped numbers, the written model read back and used
by the next build, the CLI's table, hint and errors, and the regional invariants under a calibrated model."""

from __future__ import annotations

import math
import re
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from geo.catalogue import LEVELS, RISK_LEVEL_RANK
from geo.errors import ModelInvalid
from geo.scoring.calibrate import counts_by_level, crowded, parse_targets, propose
from geo.scoring.model import DEFAULT_PATH, ScoringModel, load_model
from geo.scoring.modelfile import dumps, render
from geo.scoring.regions import regional_levels

AS_OF = date(2026, 11, 1)
SHIPPED = load_model()
LN4 = math.log(4.0)


def census_store(root: Path, boundaries, n: int, seed: int):
    """A file store with the demo census (`n` enterprises, `seed`, events up to AS_OF) ingested, not built."""
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    store = Store.open(root / "store")
    store.write("boundaries", boundaries)
    counties = boundaries.loc[boundaries["admin_level"] == "county"]
    files = generate_demo(root / "in", counties, n_enterprises=n, seed=seed, end=AS_OF)
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    return store


def by_index(regions: pd.DataFrame) -> dict[str, dict]:
    return counts_by_level(regions.assign(risk_level=[e["index_level"] for e in regions["explanation"]]))


# --------------------------------------------------------------------------------------------------
# Known answers on a census built in code: 12 counties of one city, county i holding i red units
# --------------------------------------------------------------------------------------------------
N_COUNTIES = 12


def _boundaries() -> pd.DataFrame:
    rows = [("330000", "省", "province", None, 0), ("330100", "市", "city", "330000", 1)]
    rows += [(f"3301{i:02d}", f"县{i}", "county", "330100", 2) for i in range(1, N_COUNTIES + 1)]
    return pd.DataFrame(rows, columns=["adcode", "name", "admin_level", "parent_adcode", "level_rank"])


def _units(per_county: dict[int, list[str]], domain: str = "hazchem") -> pd.DataFrame:
    rows = [
        (f"U{i}-{j}", f"企业{i}-{j}", domain, 70.0, level, f"3301{i:02d}", "330100", "330000")
        for i, levels in per_county.items()
        for j, level in enumerate(levels)
    ]
    cols = ["id", "name", "domain", "risk_score", "risk_level", "county_adcode", "city_adcode", "province_adcode"]
    return pd.DataFrame(rows, columns=cols).assign(veto=False)


@pytest.fixture(scope="module")
def toy():
    """County i holds i red units: loads 10, 20, ..., 120 (78 units)."""
    units = _units({i: ["red"] * i for i in range(1, N_COUNTIES + 1)})
    regions = regional_levels(units, None, _boundaries(), SHIPPED)
    return units, regions


def test_fitted_k_puts_the_red_edge_between_loads(toy) -> None:
    units, regions = toy
    targets = parse_targets(["county=0.25,0.25,0.25,0.25"])
    p = propose(regions, SHIPPED, len(units), targets, calibrated_on=AS_OF)
    fit = {f.admin_level: f for f in p.fits}
    # m = round(0.25 × 12) = 3 red counties: the edge halfway between the 3rd and 4th heaviest (100, 90)
    assert fit["county"].method == "fitted" and fit["county"].red_regions == 3
    assert fit["county"].red_edge_load == pytest.approx(95.0)
    assert p.model.region.k["county"] == round(95.0 / LN4, 1) == 68.5
    after = regional_levels(units, None, _boundaries(), p.model)
    assert by_index(after)["county"]["red"] == 3
    # one province and one city: fewer than min_regions (10), scaled by units per region against the
    # shipped model's census (20,000 units, 1 province, 11 cities, 90 counties)
    c_province = (78 / 1) / (20000 / 1)
    c_city = (78 / 1) / (20000 / 11)
    c_county = (78 / 12) / (20000 / 90)
    assert fit["province"].method == fit["city"].method == "scaled"
    assert p.model.region.k["province"] == pytest.approx(float(f"{15000 * c_province:.3g}"))
    assert p.model.region.k["city"] == pytest.approx(float(f"{1300 * c_city:.3g}"))
    assert p.model.region.k["default"] == pytest.approx(float(f"{20 * c_county:.3g}"))  # the finest level's c
    rule = {r.id: r for r in p.model.region.rules}
    assert rule["many_red"].min_count == {"province": 2, "city": 3, "county": 1, "township": 1, "village": 1}
    assert rule["veto_unit"].min_count == {"county": 1, "township": 1, "village": 1}  # scaled, at least 1
    # every unit is hazchem: its share of the load is 1
    assert p.model.region.domain_factor["hazchem"] == 1.0
    assert p.model.region.domain_factor["fire"] == SHIPPED.region.domain_factor["fire"]  # no load: kept
    cal = p.model.calibration
    assert cal is not None and cal.units == 78 and cal.regions == {"province": 1, "city": 1, "county": 12}
    assert cal.base_fingerprint == SHIPPED.fingerprint() and cal.calibrated_on == AS_OF
    assert cal.targets["county"].red == 0.25 and cal.targets["city"] == SHIPPED.calibration.targets["city"]


@pytest.mark.parametrize(("red", "m"), [(0.0, 0), (1.0, 12), (0.1, 1)])
def test_extreme_targets(toy, red: float, m: int) -> None:
    units, regions = toy
    rest = (1.0 - red) / 3
    p = propose(regions, SHIPPED, len(units), parse_targets([f"county={red},{rest},{rest},{rest}"]))
    after = regional_levels(units, None, _boundaries(), p.model)
    assert by_index(after)["county"]["red"] == m


def test_model_invariants_hold_for_a_calibrated_model(toy) -> None:
    """The calibrated model is the same formula with other constants: it validates like any model file."""
    units, regions = toy
    p = propose(regions, SHIPPED, len(units))
    again = ScoringModel.model_validate(p.model.to_dict())
    assert again == p.model and again.fingerprint() == p.model.fingerprint()
    assert all(v > 0 for v in p.model.region.k.values())
    # only the regional constants, the version and the record differ from the base
    a, b = SHIPPED.to_dict(), p.model.to_dict()
    for key in ("levels", "inherent", "control", "dynamic", "methods", "overrides", "hazards"):
        assert a[key] == b[key]
    assert {k: v for k, v in a["region"].items() if k not in ("k", "domain_factor", "rules")} == {
        k: v for k, v in b["region"].items() if k not in ("k", "domain_factor", "rules")
    }


_county = st.integers(1, N_COUNTIES)
_unit = st.tuples(_county, st.sampled_from(LEVELS))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_unit, max_size=30), _unit)
def test_adding_a_unit_never_lowers_a_region_under_a_calibrated_model(toy, base, extra) -> None:
    units, regions = toy
    model = propose(regions, SHIPPED, len(units)).model

    def frame(rows):
        per: dict[int, list[str]] = {}
        for county, level in rows:
            per.setdefault(county, []).append(level)
        return _units(per) if per else _units({1: []})

    before = regional_levels(frame(base), None, _boundaries(), model).set_index(["adcode", "domain"])
    after = regional_levels(frame([*base, extra]), None, _boundaries(), model).set_index(["adcode", "domain"])
    assert (after["risk_level"].map(RISK_LEVEL_RANK) <= before["risk_level"].map(RISK_LEVEL_RANK)).all()
    assert (after["risk_index"] >= before["risk_index"]).all()


# --------------------------------------------------------------------------------------------------
# Real censuses: a small demo, the same ten times over, and the 20,000-unit demo
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory, boundaries):
    """A 2,000-unit demo census, scored with the shipped model."""
    from geo.build import boundaries_with_area, compute

    store = census_store(tmp_path_factory.mktemp("small"), boundaries, 2000, 3)
    computed = compute(store, AS_OF, model=SHIPPED)
    return store, computed, boundaries_with_area(store)


def _times(frame: pd.DataFrame, c: int) -> pd.DataFrame:
    """Every row `c` times, ids made unique: every region's load is multiplied by c exactly."""
    return pd.concat([frame.assign(id=frame["id"].astype(str) + f"-{i}") for i in range(c)], ignore_index=True)


def test_ten_times_the_census_is_brought_back_to_the_targets(small) -> None:
    """A model calibrated on a census (here 2,000 units) makes nearly every county red on one ten times as
    large; calibrating on that census brings the red share back to the target, with k and the rule
    thresholds ten times the first calibration's."""
    _, computed, boundaries = small
    first = propose(computed.regions, SHIPPED, len(computed.units)).model
    units, hazards = _times(pd.DataFrame(computed.units), 10), _times(pd.DataFrame(computed.hazards), 10)
    before = regional_levels(units, hazards, boundaries, first)
    assert by_index(before)["county"]["red"] >= 0.8 * 90  # the constants of a census a tenth the size
    assert [c.admin_level for c in crowded(before)] == ["city", "county"]
    p = propose(before, first, len(units))
    after = regional_levels(units, hazards, boundaries, p.model)
    assert by_index(after)["county"]["red"] == round(0.10 * 90)  # the default target, 0.10 of 90
    assert counts_by_level(after)["county"]["red"] == 9 and not crowded(after)
    for lvl in ("province", "city", "county", "default"):
        assert p.model.region.k[lvl] == pytest.approx(10 * first.region.k[lvl], rel=0.01), lvl
    assert p.model.region.domain_factor == first.region.domain_factor  # shares do not change with c
    for rule, first_rule in zip(p.model.region.rules, first.region.rules, strict=True):
        # both shipped rules scale: ten times the units hold ten times the red and the vetoed units
        assert rule.min_count == {lvl: 10 * n for lvl, n in first_rule.min_count.items()}, rule.id


def test_the_demo_census_gives_back_the_shipped_numbers(tmp_path_factory, boundaries) -> None:
    """The shipped constants were set by hand on the 20,000-unit demo census (seeds 0–3). Calibrating one
    demo census with the shipped targets gives k within 25% (county k of seeds 0–3: 298, 228, 255, 250;
    city: 1230, 1220, 1290, 1290), the same province and finer k (scaled by units per region: ×1.0001), the
    domain factors within 0.02 and the same rule thresholds (docs/scoring.md §5)."""
    from geo.build import compute

    store = census_store(tmp_path_factory.mktemp("demo20k"), boundaries, 20000, 0)
    computed = compute(store, AS_OF, model=SHIPPED)
    p = propose(computed.regions, SHIPPED, len(computed.units))
    k, shipped_k = p.model.region.k, SHIPPED.region.k
    assert {f.admin_level: f.method for f in p.fits} == {
        "province": "scaled",
        "city": "fitted",
        "county": "fitted",
        "default": "scaled",
    }
    for lvl in ("city", "county"):
        assert k[lvl] == pytest.approx(shipped_k[lvl], rel=0.25), lvl
    for lvl in ("province", "default"):
        assert k[lvl] == pytest.approx(shipped_k[lvl], rel=0.01), lvl
    for d, f in SHIPPED.region.domain_factor.items():
        assert p.model.region.domain_factor[d] == pytest.approx(f, abs=0.02), d
    assert [r.min_count for r in p.model.region.rules] == [r.min_count for r in SHIPPED.region.rules]


# --------------------------------------------------------------------------------------------------
# The model file, the store, the build
# --------------------------------------------------------------------------------------------------
def test_render_patches_the_base_file_and_reads_back(toy, tmp_path) -> None:
    units, regions = toy
    model = propose(regions, SHIPPED, len(units), calibrated_on=AS_OF).model
    text = render(model, DEFAULT_PATH.read_text(encoding="utf-8"), "calibrated\nfor a test")
    assert text.startswith("# calibrated\n# for a test\n")
    assert "# GB 18218-2018 grades major hazard sources" in text  # the base's comments are kept
    assert 'version = "2026.1+cal20261101"' in text and text.count("\n[calibration]\n") == 1
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    assert load_model(path).to_dict() == model.to_dict()
    assert load_model(path).fingerprint() == model.fingerprint()
    # a base laid out otherwise (dotted keys) cannot be patched: the model is written afresh, still exact
    odd = (
        DEFAULT_PATH.read_text(encoding="utf-8")
        .replace("[region.k]", "[region.kk]")
        .replace("[region.domain_factor]", "[region.k]\ncounty = 250.0\n[region.domain_factor]")
    )
    again = render(model, odd)
    assert "# GB 18218-2018" not in again
    path.write_text(again, encoding="utf-8")
    assert load_model(path).to_dict() == model.to_dict()


def test_dumps_writes_valid_toml() -> None:
    import tomllib

    data = {"a": 1, "s": 'x "y"\n中', "t": {"u": [1.5, 2.0], "e": {}}, "r": [{"id": "a", "m": {"k": 1}}]}
    assert tomllib.loads(dumps(data)) == data


def test_calibrated_model_is_kept_in_the_store_and_used_by_the_next_build(small, tmp_path) -> None:
    from geo.build import build, compute
    from geo.calibration import calibrate, keep, store_model
    from geo.store import Store

    src, _, _ = small
    shutil.copytree(src.root, tmp_path / "store")
    store = Store.open(tmp_path / "store")
    assert store.calibrated_model() is None and store_model(store) == SHIPPED
    calibrated = calibrate(store, AS_OF, today=AS_OF)
    path = keep(store, calibrated)
    assert path == store.root / "model.toml" == store.calibrated_model()
    fingerprint = calibrated.model.fingerprint()
    header = re.search(r"^# fingerprint: ([0-9a-f]{64})$", path.read_text(encoding="utf-8"), re.M)
    assert header is not None and header.group(1) == fingerprint
    assert load_model(path).fingerprint() == fingerprint and store_model(store) == calibrated.model
    snap, result = build(store, AS_OF)
    assert snap.meta["model_fingerprint"] == fingerprint == snap.model.fingerprint()
    assert snap.meta["model_source"] == str(path)
    assert compute(store, AS_OF).model.fingerprint() == fingerprint
    shipped, _ = build(store, AS_OF, DEFAULT_PATH)  # --model still wins
    assert shipped.meta["model_fingerprint"] == SHIPPED.fingerprint()
    # a second calibration starts from the store's model: same census, same numbers
    again = calibrate(store, AS_OF, today=AS_OF)
    assert again.model.region == calibrated.model.region
    assert again.model.calibration.base_fingerprint == fingerprint


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------
def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def fresh(small, tmp_path) -> Path:
    shutil.copytree(small[0].root, tmp_path / "store")
    return tmp_path / "store"


def test_cli_calibrate_prints_the_table_and_build_hints(fresh, capsys) -> None:
    s = str(fresh)
    code, out, err = run(capsys, "--store", s, "build", "--as-of", str(AS_OF))
    assert code == 0 and "model default" in out
    # 2,000 units with constants for 20,000: nearly every county blue
    assert re.search(r"hint: \d+ of 90 county regions \(\d+%\) are blue", err), err
    assert "riskmap calibrate" in err and "Traceback" not in err
    code, out, err = run(capsys, "--store", s, "calibrate", "--as-of", str(AS_OF), "--dry-run")
    assert code == 0 and not (fresh / "model.toml").exists() and "dry run: nothing written" in out
    assert re.search(r"county\s+250 → \S+\s+fitted: red edge at load", out), out
    assert re.search(r"county \(90\)\s+base model\s+0\s+\d+\s+\d+\s+\d+", out), out
    assert re.search(r"target × 90\s+9\.0\s+22\.5\s+31\.5\s+27\.0", out), out
    assert "min_count of rule many_red: province 400 → 40, city 60 → 6, county 10 → 1" in out
    code, out, err = run(capsys, "--store", s, "calibrate", "--as-of", str(AS_OF), "--target", "city=0.1,0.5,0.3,0.1")
    assert code == 0 and (fresh / "model.toml").exists() and "`riskmap build` uses it from now on" in out
    written = load_model(fresh / "model.toml")
    assert written.calibration.targets["city"].red == 0.1 and written.calibration.as_of == AS_OF
    assert re.search(r"proposed, by index\s+9\s", out.split("county (90)")[1]), out
    code, out, err = run(capsys, "--store", s, "build", "--as-of", str(AS_OF))
    assert code == 0 and f"model {fresh / 'model.toml'}" in out and "hint" not in err
    assert re.search(r"county   regions: red 9,", out), out


def test_cli_calibrate_out_file(fresh, tmp_path, capsys) -> None:
    out_path = tmp_path / "cal" / "model.toml"
    code, out, _ = run(capsys, "--store", str(fresh), "calibrate", "--as-of", str(AS_OF), "--out", str(out_path))
    assert code == 0 and out_path.exists() and not (fresh / "model.toml").exists()
    assert f"riskmap build --model {out_path}" in out


@pytest.mark.parametrize(
    ("target", "field", "problem"),
    [
        ("county=0.2,0.2,0.2,0.2", "--target is invalid: county:", "shares must sum to 1"),
        ("county=0.5,0.5,0.5,-0.5", "--target is invalid: county.blue:", "greater than or equal to 0"),
        ("county=1.5,0,0,-0.5", "--target is invalid: county.red:", "less than or equal to 1"),
        ("county=0.1,0.2", "--target 'county=0.1,0.2'", "LEVEL=RED,ORANGE,YELLOW,BLUE"),
        ("county=a,b,c,d", "--target 'county=a,b,c,d'", "must be numbers"),
        ("County=0.1,0.2,0.3,0.4", "--target is invalid: County.[key]:", "lower-case"),
    ],
)
def test_cli_bad_targets_name_the_field(fresh, capsys, target: str, field: str, problem: str) -> None:
    code, out, err = run(capsys, "--store", str(fresh), "calibrate", "--dry-run", "--target", target)
    assert code == 2 and err.startswith("riskmap: error:") and "Traceback" not in err
    assert field in err and problem in err, err
    assert not (fresh / "model.toml").exists()


def test_bad_calibration_in_a_model_file_names_the_key(tmp_path) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    cases = [
        ("city = { red = 0.25, orange = 0.50,", "city = { red = 0.35, orange = 0.50,", "calibration.targets.city:"),
        (
            'scale_rules = ["many_red", "veto_unit"]',
            'scale_rules = ["many_reds"]',
            "calibration.scale_rules: many_reds",
        ),
        ("units = 20000 ", "units = 0 ", "calibration.units:"),
    ]
    for old, new, where in cases:
        assert text.count(old) == 1, old
        path = tmp_path / "m.toml"
        path.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(ModelInvalid, match=re.escape(where)):
            load_model(path)


def test_demo_leaves_a_census_of_the_models_size_alone(fresh, capsys) -> None:
    """The default 20,000-unit demo keeps the shipped constants (its output is unchanged); a census more
    than twice off is calibrated."""
    from cli.calibrate import demo_calibrate
    from geo.store import Store

    store = Store.open(fresh)
    demo_calibrate(store, 20000, AS_OF)
    demo_calibrate(store, 12000, AS_OF)
    assert store.calibrated_model() is None and capsys.readouterr().out == ""
    demo_calibrate(store, 2000, AS_OF)
    assert store.calibrated_model() is not None and "calibrating the regional constants" in capsys.readouterr().out


def _explained(index_levels: list[str], raised_by: list[str | None]) -> list[dict]:
    return [
        {"index_level": lv, "rules": [] if rule is None else [{"id": rule, "raised": True}]}
        for lv, rule in zip(index_levels, raised_by, strict=True)
    ]


def test_counts_and_crowding() -> None:
    regions = pd.DataFrame(
        {
            "admin_level": ["province"] + ["county"] * 10,
            "domain": "all",
            "risk_level": ["red"] + ["red"] * 9 + ["blue"],
            "explanation": _explained(["red"] * 10 + ["blue"], [None] * 11),
        }
    )
    assert counts_by_level(regions)["county"] == {"red": 9, "orange": 0, "yellow": 0, "blue": 1}
    (c,) = crowded(regions)  # the province alone is too few regions to tell
    assert (c.admin_level, c.level, c.count, c.regions, c.by_index, c.raised) == ("county", "red", 9, 10, 9, {})
    assert "9 of 10 county regions (90%) are red: " in c.hint() and "run `riskmap calibrate`" in c.hint()
    mixed = regions.iloc[:-2].assign(risk_level=np.where(np.arange(9) % 2, "red", "blue"))
    assert not crowded(mixed)
    # orange because of a rule, not of the index: the hint names the rule
    regions = regions.assign(
        risk_level=["orange"] * 10 + ["blue"],
        explanation=_explained(["orange"] * 4 + ["yellow"] * 6 + ["blue"], [None] * 4 + ["veto_unit"] * 6 + [None]),
    )
    (c,) = crowded(regions)
    assert (c.level, c.count, c.by_index, c.raised) == ("orange", 9, 3, {"veto_unit": 6})
    assert "3 by their index and the others raised by rules (veto_unit 6)" in c.hint()
    assert "scale_rules" in c.hint()


def test_a_postgresql_store_keeps_its_calibrated_model_for_every_machine(small, pg_url, tmp_path, monkeypatch):
    """`riskmap calibrate` on a PostgreSQL store keeps the model in the database: the next build uses it, also
    on another machine (another working directory); the same census calibrates to the same model as on files."""
    from geo.build import build
    from geo.calibration import calibrate, keep, store_model
    from geo.store import Store
    from geo.storecopy import copy_store

    store = Store.open(pg_url)
    copy_store(small[0], store)
    assert store.calibrated_model() is None and store_model(store) == SHIPPED
    calibrated = calibrate(store, AS_OF, today=AS_OF)
    on_files = calibrate(small[0], AS_OF, today=AS_OF).model
    assert calibrated.model.region == on_files.region  # the same census, the same constants
    keep(store, calibrated)
    fingerprint = calibrated.model.fingerprint()
    monkeypatch.setenv("RISKMAP_WORKDIR", str(tmp_path / "elsewhere"))  # another machine: nothing on its disk
    path = store.calibrated_model()
    assert path is not None and str(path).startswith(str(tmp_path / "elsewhere"))
    assert load_model(path).fingerprint() == fingerprint
    snap, _ = build(store, AS_OF)
    assert snap.meta["model_fingerprint"] == fingerprint
    copied = Store.open(str(tmp_path / "copied"))  # `riskmap store copy` takes the model along
    copy_store(store, copied)
    path = copied.calibrated_model()
    assert path is not None and load_model(path).fingerprint() == fingerprint
    copy_store(small[0], copied)  # a source without one leaves none: the copy builds as the source does
    copy_store(small[0], store)
    assert copied.calibrated_model() is None and store.calibrated_model() is None
