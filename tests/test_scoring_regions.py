"""Regional four-colour levels: known answers for the index and every rule; invariants under the fixed scheme.

Known answers use the default model (geo/data/model.toml), computed by hand in the comments:
level weights red 10, orange 3, yellow 1, blue 0.2; index = 100 × (1 − exp(−load / k)), k county 250,
city 1300, province 15000; index edges yellow 25 (load 71.9), orange 50 (173.3), red 75 (346.6) at county;
rules: veto unit → ≥ orange (county and finer); ≥ 10 red units/sites at county (60 city) → ≥ orange.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.catalogue import LEVELS, RISK_LEVEL_RANK, load_catalogue
from geo.errors import InputRejected
from geo.scoring.model import RegionArea, load_model
from geo.scoring.regions import OUTPUT_COLUMNS, combine, region_grid, regional_levels, tally
from geo.scoring.units import score_enterprises

CAT = load_catalogue()
MODEL = load_model()
DOMAINS = [d.code for d in CAT.domains]
AS_OF = date(2026, 3, 31)

# province P ⊃ city C1 ⊃ counties K1, K2; city C2 ⊃ county K3
BOUNDARIES = pd.DataFrame(
    {
        "adcode": ["330000", "330100", "330200", "330102", "330105", "330203"],
        "name": ["省", "市一", "市二", "县一", "县二", "县三"],
        "admin_level": ["province", "city", "city", "county", "county", "county"],
        "parent_adcode": [None, "330000", "330000", "330100", "330100", "330200"],
        "level_rank": [0, 1, 1, 2, 2, 2],
        "area_km2": [100000.0, 16000.0, 9800.0, 500.0, 2000.0, 1000.0],
    }
)
CITY_OF = {"330102": "330100", "330105": "330100", "330203": "330200"}


def units(*rows: dict) -> pd.DataFrame:
    """Scored units; each row needs `county` and `risk_level`, defaults domain fire, no override."""
    recs = []
    for i, r in enumerate(rows):
        county = r["county"]
        recs.append(
            {
                "id": r.get("id", f"u{i}"),
                "name": f"单位{i}",
                "domain": r.get("domain", "fire"),
                "risk_score": r.get(
                    "risk_score", {"red": 80.0, "orange": 50.0, "yellow": 35.0, "blue": 10.0}[r["risk_level"]]
                ),
                "risk_level": r["risk_level"],
                "override": r.get("override"),
                "veto": r.get("veto", False),
                "province_adcode": "330000",
                "city_adcode": CITY_OF[county],
                "county_adcode": county,
            }
        )
    cols = [
        "id",
        "name",
        "domain",
        "risk_score",
        "risk_level",
        "override",
        "veto",
        "province_adcode",
        "city_adcode",
        "county_adcode",
    ]
    return pd.DataFrame(recs, columns=cols).astype({"override": object})


def sites(*rows: dict) -> pd.DataFrame:
    recs = [
        {
            "id": f"h{i}",
            "name": f"点{i}",
            "type": r.get("type", "chemical_park"),
            "risk_score": 80.0,
            "risk_level": r["risk_level"],
            "basis": r.get("basis", "assessed"),
            "province_adcode": "330000",
            "city_adcode": CITY_OF[r["county"]],
            "county_adcode": r["county"],
        }
        for i, r in enumerate(rows)
    ]
    return pd.DataFrame(recs)


def regions(u: pd.DataFrame, h: pd.DataFrame | None = None, model=MODEL) -> pd.DataFrame:
    return regional_levels(u, h, BOUNDARIES, model, CAT)


def at(out: pd.DataFrame, adcode: str, domain: str = "all") -> pd.Series:
    hit = out[(out["adcode"] == adcode) & (out["domain"] == domain)]
    assert len(hit) == 1
    return hit.iloc[0]


def reds(n: int, county: str = "330102", **kw) -> list[dict]:
    return [{"county": county, "risk_level": "red", **kw}] * n


# --------------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------------
def test_shape_and_order() -> None:
    out = regions(units({"county": "330102", "risk_level": "blue"}))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == len(BOUNDARIES) * (len(DOMAINS) + 1)
    assert out["adcode"].iloc[0] == "330000" and out["domain"].tolist()[: len(DOMAINS) + 1] == ["all", *DOMAINS]
    assert out["risk_level"].isin(LEVELS).all()
    assert at(out, "330102")["risk_level_zh"] == "低风险"
    json.dumps(out["explanation"].tolist(), ensure_ascii=False)
    assert at(out, "330102")["parent_adcode"] == "330100" and at(out, "330000")["parent_adcode"] is None


def test_empty_region_is_blue_zero() -> None:
    row = at(regions(units({"county": "330102", "risk_level": "red"})), "330105")
    assert (row["risk_index"], row["risk_level"], row["n_units"], row["n_hazards"]) == (0.0, "blue", 0, 0)
    assert row["rules"] == []


@pytest.mark.parametrize(
    ("n_red", "index", "level", "rule"),
    [
        (7, 24.4, "blue", False),  # load 70 → 100(1 − e^−0.28) = 24.42
        (8, 27.4, "yellow", False),  # load 80 → 27.39
        (10, 33.0, "orange", True),  # load 100 → 32.97 yellow, but 10 red ≥ 10 → at least orange
        (18, 51.3, "orange", True),  # load 180 → 51.32
        (35, 75.3, "red", True),  # load 350 → 75.34
    ],
)
def test_county_index_known_answers(n_red: int, index: float, level: str, rule: bool) -> None:
    out = regions(units(*reds(n_red)))
    row = at(out, "330102")
    assert row["risk_index"] == index and row["risk_level"] == level
    assert row["n_red_units"] == n_red and row["n_units"] == n_red and row["n_red_sites"] == 0
    assert bool(row["rules"]) == rule
    if rule:
        assert row["rules"][0] == f"重大风险企业/风险点 {n_red} 个（≥ 10）→ 区域至少为较大风险"


def test_level_weights() -> None:
    # 1 red + 2 orange + 5 yellow + 10 blue: load 10 + 6 + 5 + 2 = 23 → 100(1 − e^−0.092) = 8.79
    u = units(
        *reds(1),
        *[{"county": "330102", "risk_level": "orange"}] * 2,
        *[{"county": "330102", "risk_level": "yellow"}] * 5,
        *[{"county": "330102", "risk_level": "blue"}] * 10,
    )
    row = at(regions(u), "330102")
    assert row["risk_index"] == 8.8
    assert (row["n_red_units"], row["n_orange_units"], row["n_yellow_units"], row["n_blue_units"]) == (1, 2, 5, 10)
    assert row["explanation"]["inputs"]["load"] == pytest.approx(23.0)


def test_city_and_province_aggregate() -> None:
    # 18 red in K1 and 18 red in K2 → city C1 load 360 → 100(1 − e^(−360/1300)) = 24.2 → blue (no rule: 36 < 60)
    out = regions(units(*reds(18, "330102"), *reds(18, "330105")))
    assert at(out, "330100")["risk_index"] == 24.2 and at(out, "330100")["risk_level"] == "blue"
    assert at(out, "330100")["n_red_units"] == 36
    # province: 360 / 15000 → 2.4
    assert at(out, "330000")["risk_index"] == 2.4
    assert at(out, "330200")["n_units"] == 0


def test_veto_rule() -> None:
    # one veto unit: load 10 → 3.9 (blue) but the veto rule lifts the county to orange; not the city
    out = regions(units({"county": "330102", "risk_level": "red", "veto": True, "override": "open major ..."}))
    county = at(out, "330102")
    assert county["risk_index"] == 3.9 and county["risk_level"] == "orange"
    assert county["rules"] == ["1 家企业存在未整改重大事故隐患（一票否决）→ 区域至少为较大风险"]
    assert county["explanation"]["rules"][0]["raised"] is True
    assert county["explanation"]["index_level"] == "blue"
    assert at(out, "330100")["risk_level"] == "blue"
    # the fire-domain row of that county fires too; hazchem does not hold the unit
    assert at(out, "330102", "fire")["risk_level"] == "orange"
    assert at(out, "330102", "hazchem")["n_units"] == 0


def test_veto_fallback_without_veto_column() -> None:
    u = units({"county": "330102", "risk_level": "red", "override": "declared level red ... (就高)"}).drop(
        columns="veto"
    )
    assert at(regions(u), "330102")["risk_level"] == "orange"


def test_domain_rows_and_domain_factor() -> None:
    # 1 red hazchem unit: hazchem k = 250 × 0.15 = 37.5 → 100(1 − e^(−10/37.5)) = 23.41; all: 3.92
    out = regions(units({"county": "330102", "risk_level": "red", "domain": "hazchem"}))
    assert at(out, "330102", "hazchem")["risk_index"] == 23.4
    assert at(out, "330102")["risk_index"] == 3.9
    assert at(out, "330102", "fire")["n_units"] == 0
    assert at(out, "330102")["explanation"]["domains"]["hazchem"] == 23.4
    assert set(at(out, "330102")["explanation"]["domains"]) == set(DOMAINS)


def test_hazard_sites() -> None:
    u = units({"county": "330102", "risk_level": "blue"})
    h = sites(
        {"county": "330102", "risk_level": "red", "type": "chemical_park"},  # all + hazchem
        {"county": "330102", "risk_level": "orange", "type": "geological"},  # all only
        {"county": "330102", "risk_level": "red", "basis": "closed"},  # counts for nothing
    )
    out = regions(u, h)
    row = at(out, "330102")
    # load 0.2 + 10 + 3 = 13.2 → 100(1 − e^(−13.2/250)) = 5.14
    assert (row["n_units"], row["n_hazards"], row["risk_index"]) == (1, 2, 5.1)
    units_per_level = [row[f"n_{lv}_units"] for lv in LEVELS]
    sites_per_level = [row[f"n_{lv}_sites"] for lv in LEVELS]
    assert (units_per_level, sites_per_level) == ([0, 0, 0, 1], [1, 1, 0, 0])  # the closed red site: not counted
    assert at(out, "330102", "hazchem")["n_hazards"] == 1
    assert at(out, "330102", "fire")["n_hazards"] == 0
    top = row["explanation"]["top"]
    assert [t["id"] for t in top] == ["h0", "h1", "u0"] and top[0]["kind"] == "site"
    assert top[0]["contribution"] == 10.0 and top[0]["share"] == pytest.approx(10 / 13.2, abs=1e-4)


def test_explanation_contents() -> None:
    u = units(*reds(3), {"county": "330102", "risk_level": "yellow", "domain": "hazchem"})
    exp = at(regions(u), "330102")["explanation"]
    assert exp["counts"]["units"] == {"red": 3, "orange": 0, "yellow": 1, "blue": 0}
    assert exp["inputs"]["k"] == 250.0 and exp["inputs"]["load"] == 31.0
    assert exp["index"] == 11.7  # 100(1 − e^(−31/250)) = 11.66
    assert [t["level"] for t in exp["top"]] == ["red", "red", "red", "yellow"]
    assert [t["id"] for t in exp["top"][:3]] == ["u0", "u1", "u2"]  # ties: score then id


def test_area_exponent() -> None:
    region = MODEL.region.model_copy(update={"area": RegionArea(exponent=1.0, reference_km2=1000.0)})
    model = MODEL.model_copy(update={"region": region})
    # K1 area 500 km² → k = 250 × 0.5 = 125; load 100 → 100(1 − e^−0.8) = 55.07
    row = at(regions(units(*reds(10)), model=model), "330102")
    assert row["risk_index"] == 55.1 and row["explanation"]["inputs"]["area_factor"] == 0.5


def _county_boundaries(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "adcode": [f"33{i:04d}" for i in range(n)],
            "name": [f"县{i}" for i in range(n)],
            "admin_level": "county",
            "parent_adcode": None,
            "level_rank": 2,
        }
    )


@pytest.mark.parametrize("scheme", ["quantiles", "natural_breaks"])
def test_exploratory_schemes(scheme: str) -> None:
    model = MODEL.model_copy(update={"region": MODEL.region.model_copy(update={"scheme": scheme, "rules": ()})})
    b = _county_boundaries(9)
    counts = [1, 2, 10, 11, 30, 31, 60, 61]  # four clear pairs; the 9th county is empty
    unit = {"domain": "fire", "risk_score": 50.0, "risk_level": "orange"}
    rows = [
        {"id": f"c{i}-{j}", "county_adcode": b["adcode"][i], **unit} for i, c in enumerate(counts) for j in range(c)
    ]
    out = regional_levels(pd.DataFrame(rows), None, b, model, CAT)
    got = out[out["domain"] == "all"]["risk_level"].tolist()
    assert got == ["blue", "blue", "yellow", "yellow", "orange", "orange", "red", "red", "blue"]


def test_rejects_units_without_a_level() -> None:
    u = units({"county": "330102", "risk_level": "blue"})
    u.loc[0, "risk_level"] = "purple"
    with pytest.raises(InputRejected, match="purple"):
        regions(u)


def test_missing_level_column_means_nothing_located() -> None:
    out = regions(units(*reds(40)).drop(columns="county_adcode"))
    assert at(out, "330102")["n_units"] == 0 and at(out, "330100")["n_units"] == 40
    # a level between two given ones is not rolled up (only a level above all of them: the country)
    out = regions(units(*reds(40)).drop(columns="city_adcode"))
    assert (
        at(out, "330100")["n_units"] == 0 and at(out, "330102")["n_units"] == 40 and at(out, "330000")["n_units"] == 40
    )


# --------------------------------------------------------------------------------------------------
# Properties (fixed scheme)
# --------------------------------------------------------------------------------------------------
_counties = st.sampled_from(sorted(CITY_OF))
_unit = st.fixed_dictionaries(
    {"county": _counties, "risk_level": st.sampled_from(LEVELS)},
    optional={"domain": st.sampled_from([*DOMAINS, None]), "veto": st.booleans()},
).map(lambda r: {**r, "veto": r.get("veto", False) and r["risk_level"] == "red"})
_site = st.fixed_dictionaries(
    {
        "county": _counties,
        "risk_level": st.sampled_from(LEVELS),
        "type": st.sampled_from(["chemical_park", "geological"]),
    }
)
_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ranks(out: pd.DataFrame) -> pd.Series:
    return out.set_index(["adcode", "domain"])["risk_level"].map(RISK_LEVEL_RANK)


def _holding(out: pd.DataFrame, county: str) -> np.ndarray:
    return out["adcode"].isin([county, CITY_OF[county], "330000"]).to_numpy()


@_settings
@given(st.lists(_unit, max_size=40), st.lists(_site, max_size=5), _unit)
def test_adding_a_unit_never_lowers_and_stays_local(base, hz, extra) -> None:
    h = sites(*hz) if hz else None
    before = regions(units(*base), h)
    after = regions(units(*base, extra), h)
    assert after["risk_level"].isin(LEVELS).all() and len(after) == len(before)
    assert (_ranks(after) <= _ranks(before)).all()
    assert (after["risk_index"] >= before["risk_index"]).all()
    other = ~_holding(after, extra["county"])
    pd.testing.assert_frame_equal(after[other], before[other])
    domain_other = (after["domain"] != "all") & (after["domain"] != extra.get("domain", "fire"))
    pd.testing.assert_frame_equal(after[domain_other], before[domain_other])


@_settings
@given(st.lists(_unit, min_size=1, max_size=40), st.lists(_site, max_size=5), st.randoms())
def test_permuting_rows_changes_nothing(base, hz, rnd) -> None:
    u = units(*base)
    h = sites(*hz) if hz else None
    before = regions(u, h)
    perm = list(range(len(u)))
    rnd.shuffle(perm)
    b_perm = list(range(len(BOUNDARIES)))
    rnd.shuffle(b_perm)
    h2 = None if h is None else h.iloc[::-1]
    after = regional_levels(u.iloc[perm], h2, BOUNDARIES.iloc[b_perm], MODEL, CAT)
    pd.testing.assert_frame_equal(after, before)


@_settings
@given(
    st.lists(_unit, min_size=1, max_size=40),
    st.lists(_site, max_size=5),
    st.lists(st.integers(0, 3), min_size=40, max_size=40),
    st.integers(0, 3),
)
def test_tallies_of_any_split_of_the_units_give_the_same_regions(base, hz, part_of, top_n) -> None:
    """What the Dask engine relies on: units split any way (here into up to 4 parts, some empty), each part
    tallied on its own and the tallies combined, give exactly the regions of all the units at once —
    counts, loads, levels, rules and the top contributors (many tie on weight and score: ids decide)."""
    model = MODEL.model_copy(update={"region": MODEL.region.model_copy(update={"top_n": top_n})})
    u = units(*base)
    h = sites(*hz) if hz else None
    grid = region_grid(BOUNDARIES, model, CAT)
    which = np.asarray(part_of[: len(u)])
    parts = [tally(u[which == i], None, grid, model, CAT) for i in range(4)]
    split = regional_levels(u.iloc[:0], h, BOUNDARIES, model, CAT, unit_tally=combine(parts, top_n))
    pd.testing.assert_frame_equal(split, regional_levels(u, h, BOUNDARIES, model, CAT))


# Full pipeline: enterprises + events → unit scores → regions.
_ent = st.fixed_dictionaries(
    {"county": _counties, "domain": st.sampled_from(DOMAINS)},
    optional={
        "major_hazard_level": st.integers(1, 4),
        "hazardous_processes": st.integers(0, 4),
        "workers": st.integers(0, 5000),
        "declared_level": st.sampled_from(LEVELS),
        "standardization_grade": st.integers(1, 3),
    },
)


def _enterprises(rows: list[dict]) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "name": [f"企业{i}" for i in range(n)],
            "domain": [r["domain"] for r in rows],
            "industry_code": None,
            "workers": pd.array([r.get("workers") for r in rows], dtype="Int64"),
            "major_hazard_level": pd.array([r.get("major_hazard_level") for r in rows], dtype="Int64"),
            "hazardous_processes": pd.array([r.get("hazardous_processes") for r in rows], dtype="Int64"),
            "standardization_grade": pd.array([r.get("standardization_grade") for r in rows], dtype="Int64"),
            "declared_level": pd.Series([r.get("declared_level") for r in rows], dtype=object),
            "province_adcode": "330000",
            "city_adcode": [CITY_OF[r["county"]] for r in rows],
            "county_adcode": [r["county"] for r in rows],
        }
    )


def _events(rows: list[tuple[int, str, str, str]], n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(len(rows))],
            "enterprise_id": [f"e{w % n}" for w, *_ in rows],
            "type": [t for _, t, _, _ in rows],
            "severity": pd.Series([s for _, _, s, _ in rows], dtype=object),
            "found_date": pd.to_datetime([d for *_, d in rows]).astype("datetime64[ns]"),
            "due_date": pd.NaT,
            "closed_date": pd.NaT,
            "deaths": pd.array([1] * len(rows), dtype="Int64"),
            "injuries": pd.array([0] * len(rows), dtype="Int64"),
        }
    )


def _pipeline(ents: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    scored = score_enterprises(ents, events, AS_OF, MODEL, CAT)
    u = pd.concat([ents[["name", "domain", "province_adcode", "city_adcode", "county_adcode"]], scored], axis=1)
    return regional_levels(u, None, BOUNDARIES, MODEL, CAT)


_event = st.tuples(
    st.integers(0, 100),
    st.sampled_from(["hidden_danger", "accident", "alarm"]),
    st.sampled_from(["general", "major"]),
    st.sampled_from(["2025-06-01", "2026-03-01", "2026-03-31"]),
)


@_settings
@given(st.lists(_ent, min_size=1, max_size=30), st.lists(_event, max_size=10), st.integers(0, 100), st.booleans())
def test_open_hidden_danger_never_lowers_a_region(rows, ev, who, major) -> None:
    ents = _enterprises(rows)
    before = _pipeline(ents, _events(ev, len(rows)))
    added = [*ev, (who, "hidden_danger", "major" if major else "general", "2026-03-15")]
    after = _pipeline(ents, _events(added, len(rows)))
    assert (_ranks(after) <= _ranks(before)).all()
    county = ents["county_adcode"].iloc[who % len(rows)]
    other = ~_holding(after, county)
    pd.testing.assert_frame_equal(after[other], before[other])


@_settings
@given(st.lists(_ent, min_size=1, max_size=30), st.lists(_event, min_size=1, max_size=10))
def test_events_after_as_of_change_no_region(rows, ev) -> None:
    ents = _enterprises(rows)
    before = _pipeline(ents, _events(ev, len(rows)))
    late = [(w, t, s, "2026-04-01") for w, t, s, _ in ev]
    after = _pipeline(ents, _events([*ev, *late], len(rows)))
    pd.testing.assert_frame_equal(after, before)


# --------------------------------------------------------------------------------------------------
# Hazard-site scores (they feed the regions)
# --------------------------------------------------------------------------------------------------
def _hazards(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"h{i}" for i in range(len(rows))],
            "type": pd.Series([r.get("type") for r in rows], dtype=object),
            "level": pd.Series([r.get("level") for r in rows], dtype=object),
            "population": pd.array([r.get("population") for r in rows], dtype="Int64"),
            "scale": np.array([np.nan if r.get("scale") is None else r["scale"] for r in rows]),
            "status": pd.Series([r.get("status", "active") for r in rows], dtype=object),
        }
    )


@pytest.mark.parametrize(
    ("row", "score", "level", "basis"),
    [
        ({"type": "chemical_park", "population": 1000}, 81.0, "red", "scale_population"),  # 40×0.9 + 45
        ({"type": "chemical_park", "population": 999}, 71.0, "red", "scale_population"),  # 36 + 35
        ({"type": "geological", "population": 100, "scale": 150000.0}, 60.0, "orange", "scale_population"),  # 30+20+10
        ({"type": "geological", "population": 99, "scale": 9999.0}, 38.0, "yellow", "scale_population"),  # 30 + 8
        ({"type": "flood_lowland"}, 20.0, "blue", "scale_population"),  # 40 × 0.5
        ({"type": "易涝点", "population": 9}, 20.0, "blue", "scale_population"),  # alias; 9 < 10 → 0
        ({"type": "unknown_thing", "population": 10}, 28.0, "blue", "scale_population"),  # default 0.5 → 20 + 8
        ({"type": "flood_lowland", "level": "red"}, 65.0, "red", "assessed"),  # 20 clipped into red [65, 100]
        ({"type": "chemical_park", "population": 1000, "level": "blue"}, 29.9, "blue", "assessed"),  # 81 → [0, 29.9]
        ({"type": "geological", "population": 100, "level": "较大"}, 50.0, "orange", "assessed"),  # 50 in [45, 64.9]
        ({"type": "chemical_park", "population": 5000, "status": "已销号"}, 0.0, "blue", "closed"),
        ({"type": "chemical_park", "level": "red", "status": "Closed"}, 0.0, "blue", "closed"),
    ],
)
def test_hazard_scores(row: dict, score: float, level: str, basis: str) -> None:
    from geo.scoring.hazards import score_hazards

    out = score_hazards(_hazards(row), MODEL, CAT).iloc[0]
    assert (out["risk_score"], out["risk_level"], out["basis"]) == (score, level, basis)


def test_hazard_output_shape() -> None:
    from geo.scoring.hazards import score_hazards

    h = _hazards({"type": "geological"}, {"type": "flood_lowland"})
    h.index = [7, 3]
    out = score_hazards(h, MODEL, CAT)
    assert list(out.columns) == ["id", "risk_score", "risk_level", "basis"]
    assert out.index.tolist() == [7, 3] and out["id"].tolist() == ["h0", "h1"]


def test_top_contributors_equal_a_full_sort() -> None:
    """The pre-filtered top list equals sorting every member of each region on all keys."""
    rng = np.random.default_rng(7)
    n = 3000
    counties = rng.choice(list(CITY_OF), size=n)
    u = units(
        *[
            {"county": c, "risk_level": lv, "domain": d, "risk_score": s, "id": f"u{rng.integers(10**6)}"}
            for c, lv, d, s in zip(
                counties,
                rng.choice(LEVELS, size=n, p=[0.01, 0.04, 0.25, 0.7]),
                rng.choice(DOMAINS[:3], size=n),
                rng.integers(0, 4, size=n) * 10.0,
                strict=True,
            )
        ]
    )
    h = sites(
        *[{"county": c, "risk_level": lv} for c, lv in zip(counties[:40], rng.choice(LEVELS, size=40), strict=True)]
    )
    out = regions(u, h)
    lw, sf = MODEL.region.level_weights, MODEL.region.site_factor
    members = pd.concat(
        [u.assign(kind="unit", item_domain=u["domain"]), h.assign(kind="site", item_domain="hazchem")],
        ignore_index=True,
    )
    members["weight"] = members["risk_level"].map(lw.of) * np.where(members["kind"] == "site", sf, 1.0)
    members = members.sort_values(
        ["weight", "risk_score", "kind", "id", "name"], ascending=[False, False, True, True, True], kind="stable"
    )
    top_n = MODEL.region.top_n
    checked = 0
    for _, row in out.iterrows():
        col = f"{row['admin_level']}_adcode"
        inside = members[members[col] == row["adcode"]]
        if row["domain"] != "all":
            inside = inside[inside["item_domain"] == row["domain"]]
        expected = [(k, i) for k, i in zip(inside["kind"].head(top_n), inside["id"].head(top_n), strict=True)]
        assert [(t["kind"], t["id"]) for t in row["explanation"]["top"]] == expected, (row["adcode"], row["domain"])
        checked += len(expected) > 0
    assert checked > 20
