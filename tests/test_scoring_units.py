"""Enterprise scores: known answers for every indicator, event rule, method and override; invariants.

Known answers use the default model (geo/data/model.toml), computed by hand in the comments:
levels yellow >= 30, orange >= 45, red >= 65; inherent = 40 × base_weight + indicator points (cap 100);
score = round1(clip(inherent × control × dynamic, 0, 100)). If the defaults are recalibrated, these numbers
must be recomputed (deliberately: a retune should be a visible change).
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
from geo.scoring.model import load_model
from geo.scoring.units import OUTPUT_COLUMNS, explain_unit, score_enterprises

CAT = load_catalogue()
MODEL = load_model()
AS_OF = date(2026, 3, 31)

_INT = ("workers", "major_hazard_level", "hazardous_processes", "standardization_grade", "ls_l", "ls_s")
_BOOL = ("dust_explosion", "confined_space", "ammonia_refrigeration")
_FLOAT = ("lec_l", "lec_e", "lec_c")
_TEXT = ("id", "domain", "industry_code", "declared_level")


def ents(*rows: dict) -> pd.DataFrame:
    """Enterprises with the contract's dtypes; unspecified fields are NA. Default: a tourism unit (14 points)."""
    rows = [{"id": f"u{i}", "domain": "tourism", **r} for i, r in enumerate(rows)]
    data = {c: pd.array([r.get(c) for r in rows], dtype="Int64") for c in _INT}
    data |= {c: pd.array([r.get(c) for r in rows], dtype="boolean") for c in _BOOL}
    data |= {c: np.array([np.nan if r.get(c) is None else r[c] for r in rows], dtype=float) for c in _FLOAT}
    data |= {c: pd.Series([r.get(c) for r in rows], dtype=object) for c in _TEXT}
    return pd.DataFrame(data)


def evs(*rows: dict) -> pd.DataFrame:
    """Events; dates as 'YYYY-MM-DD' strings or None. Defaults: an open general hidden danger of u0."""
    rows = [{"enterprise_id": "u0", "type": "hidden_danger", "severity": "general", **r} for r in rows]
    out = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(len(rows))],
            "enterprise_id": pd.Series([r["enterprise_id"] for r in rows], dtype=object),
            "type": pd.Series([r["type"] for r in rows], dtype=object),
            "severity": pd.Series([r["severity"] for r in rows], dtype=object),
        }
    )
    for col in ("found_date", "due_date", "closed_date"):
        out[col] = pd.to_datetime(pd.Series([r.get(col) for r in rows], dtype=object)).astype("datetime64[ns]")
    for col in ("deaths", "injuries"):
        out[col] = pd.array([r.get(col) for r in rows], dtype="Int64")
    return out


def one(events: pd.DataFrame | None = None, as_of: date = AS_OF, **fields) -> pd.Series:
    return score_enterprises(ents(fields), events, as_of, MODEL, CAT).iloc[0]


# --------------------------------------------------------------------------------------------------
# Inherent indicators
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"industry_code": "hazchem_production"}, 38.0),  # 40 × 0.95
        ({"industry_code": "危险化学品生产"}, 38.0),  # names resolve through the catalogue
        ({"industry_code": None, "domain": "tourism"}, 14.0),  # domain default 40 × 0.35
        ({"industry_code": "no_such_industry", "domain": "hazchem"}, 32.0),  # unknown → domain 40 × 0.80
        ({"industry_code": None, "domain": None}, 20.0),  # unknown_weight 40 × 0.5
    ],
)
def test_industry_base_weight(fields: dict, expected: float) -> None:
    row = one(**fields)
    assert row["inherent"] == pytest.approx(expected)
    assert row["risk_score"] == expected
    assert row["method"] == "index"


@pytest.mark.parametrize(("grade", "points"), [(1, 30.0), (2, 22.0), (3, 15.0), (4, 8.0), (None, 0.0), (7, 0.0)])
def test_major_hazard_points(grade, points) -> None:
    assert one(major_hazard_level=grade)["risk_score"] == 14.0 + points  # tourism 14 + GB 18218 points


@pytest.mark.parametrize(("n", "points"), [(0, 0.0), (1, 5.0), (3, 15.0), (5, 15.0), (None, 0.0)])
def test_hazardous_processes_capped(n, points) -> None:
    assert one(hazardous_processes=n)["risk_score"] == 14.0 + points  # 5 per process, max 15


@pytest.mark.parametrize(
    ("flag", "points"), [("dust_explosion", 8.0), ("confined_space", 5.0), ("ammonia_refrigeration", 8.0)]
)
def test_flags(flag: str, points: float) -> None:
    assert one(**{flag: True})["risk_score"] == 14.0 + points
    assert one(**{flag: False})["risk_score"] == 14.0
    assert one(**{flag: None})["risk_score"] == 14.0  # NA = false


@pytest.mark.parametrize(("workers", "points"), [(0, 0.0), (9, 5.0), (99, 10.0), (999, 15.0), (99999, 15.0)])
def test_workers_log_scale(workers: int, points: float) -> None:
    # 5 × log10(1 + workers), max 15
    assert one(workers=workers)["risk_score"] == pytest.approx(14.0 + points)


def test_inherent_capped_at_100() -> None:
    # 38 + 30 + 15 + 8 + 5 + 8 + 15 = 119 → 100
    row = one(
        industry_code="hazchem_production",
        major_hazard_level=1,
        hazardous_processes=3,
        dust_explosion=True,
        confined_space=True,
        ammonia_refrigeration=True,
        workers=999,
    )
    assert row["inherent"] == 100.0 and row["risk_score"] == 100.0 and row["risk_level"] == "red"


@pytest.mark.parametrize(
    ("grade", "factor", "score"), [(1, 0.8, 30.4), (2, 0.9, 34.2), (3, 0.95, 36.1), (None, 1.0, 38.0)]
)
def test_control_factor(grade, factor, score) -> None:
    row = one(industry_code="hazchem_production", standardization_grade=grade)  # 38 × factor
    assert row["control_factor"] == factor
    assert row["risk_score"] == score


def test_level_thresholds_of_index() -> None:
    # 14 + 15 (mh3) = 29 blue; 14 + 22 (mh2) = 36 yellow; 38 + 8 (mh4) = 46 orange; 38 + 30 = 68 red
    assert one(major_hazard_level=3)["risk_level"] == "blue"
    assert one(major_hazard_level=2)["risk_level"] == "yellow"
    assert one(industry_code="hazchem_production", major_hazard_level=4)["risk_level"] == "orange"
    assert one(industry_code="hazchem_production", major_hazard_level=1)["risk_level"] == "red"
    # exactly on an edge: 38 × 0.8 = 30.4; tourism 14 + 1 process 5 + dust 8 + confined 5 = 32 ... edge 30:
    assert one(hazardous_processes=1, dust_explosion=True, confined_space=True)["risk_score"] == 32.0
    assert one(industry_code="machinery", hazardous_processes=2)["risk_score"] == 30.0  # 20 + 10, edge → yellow
    assert one(industry_code="machinery", hazardous_processes=2)["risk_level"] == "yellow"


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------
def test_open_general_hidden_danger() -> None:
    row = one(evs({"found_date": "2026-03-01", "due_date": "2026-04-30"}))
    assert row["dynamic_factor"] == pytest.approx(1.05)  # +0.05
    assert row["risk_score"] == 14.7  # 14 × 1.05
    assert (row["open_dangers"], row["overdue_dangers"]) == (1, 0)
    assert row["override"] is None and not row["veto"]


@pytest.mark.parametrize(
    ("closed", "is_open"),
    [("2026-03-30", False), ("2026-03-31", False), ("2026-04-01", True), (None, True)],
)
def test_closed_dangers_do_not_count(closed, is_open: bool) -> None:
    # open at as_of ⇔ not closed by the end of as_of
    row = one(evs({"found_date": "2026-01-01", "due_date": "2026-06-01", "closed_date": closed}))
    assert row["open_dangers"] == int(is_open)
    assert row["risk_score"] == (14.7 if is_open else 14.0)


@pytest.mark.parametrize(("found", "counts"), [("2026-03-31", True), ("2026-04-01", False), (None, False)])
def test_found_after_as_of_counts_for_nothing(found, counts: bool) -> None:
    events = evs(
        {"found_date": found, "severity": "major"},
        {"found_date": found, "type": "accident", "deaths": 3},
        {"found_date": found, "type": "alarm"},
    )
    row = one(events)
    assert bool(row["veto"]) == counts
    assert row["open_dangers"] == int(counts)
    assert row["accidents_window"] == int(counts)
    assert row["alarms_window"] == int(counts)
    if not counts:
        assert row["risk_score"] == 14.0 and row["dynamic_factor"] == 1.0


@pytest.mark.parametrize(("due", "overdue"), [("2026-03-30", True), ("2026-03-31", False), (None, False)])
def test_overdue(due, overdue: bool) -> None:
    row = one(evs({"found_date": "2026-01-01", "due_date": due}))
    assert row["overdue_dangers"] == int(overdue)
    assert row["risk_score"] == (15.4 if overdue else 14.7)  # 14 × (1 + 0.05 + 0.05)


def test_closed_overdue_danger_is_not_overdue() -> None:
    row = one(evs({"found_date": "2026-01-01", "due_date": "2026-02-01", "closed_date": "2026-03-01"}))
    assert (row["open_dangers"], row["overdue_dangers"], row["risk_score"]) == (0, 0, 14.0)


def test_open_major_hidden_danger_vetoes_red() -> None:
    row = one(evs({"found_date": "2026-03-02", "severity": "major", "due_date": "2026-06-01"}))
    assert row["risk_score"] == 17.5  # 14 × 1.25
    assert row["computed_level"] == "blue"
    assert row["risk_level"] == "red" and row["veto"]
    assert row["override"] == "open major hidden danger (重大事故隐患) found 2026-03-02"


def test_two_major_dangers_name_the_earliest() -> None:
    events = evs(
        {"found_date": "2026-03-02", "severity": "major"},
        {"found_date": "2026-02-10", "severity": "major"},
        {"found_date": "2026-01-05", "severity": "major", "closed_date": "2026-01-20"},  # closed: not counted
    )
    row = one(events)
    assert row["override"] == "2 open major hidden dangers (重大事故隐患), earliest found 2026-02-10"
    assert row["risk_score"] == 21.0  # 14 × (1 + 2 × 0.25)


def test_closed_major_danger_no_veto() -> None:
    row = one(evs({"found_date": "2026-01-01", "severity": "major", "closed_date": "2026-02-01"}))
    assert row["risk_level"] == "blue" and row["override"] is None and not row["veto"]


def test_accident_weighted_by_casualties() -> None:
    row = one(evs({"type": "accident", "severity": None, "found_date": "2026-01-10", "deaths": 1, "injuries": 2}))
    assert row["accidents_window"] == 1
    assert row["dynamic_factor"] == pytest.approx(1.5)  # 1 + 0.10 + 0.30 × 1 + 0.05 × 2
    assert row["risk_score"] == 21.0


@pytest.mark.parametrize(("day", "inside"), [("2025-03-31", False), ("2025-04-01", True), ("2026-03-31", True)])
def test_accident_window_edges(day: str, inside: bool) -> None:
    # 365-day window, as_of included: 2025-04-01 … 2026-03-31
    row = one(evs({"type": "accident", "severity": None, "found_date": day}))
    assert row["accidents_window"] == int(inside)
    assert row["risk_score"] == (15.4 if inside else 14.0)  # 14 × 1.10


@pytest.mark.parametrize(("day", "inside"), [("2026-03-01", False), ("2026-03-02", True)])
def test_alarm_window_edges(day: str, inside: bool) -> None:
    # 30-day window: 2026-03-02 … 2026-03-31; +0.01 per alarm
    row = one(evs({"type": "alarm", "severity": None, "found_date": day}))
    assert row["alarms_window"] == int(inside)
    assert row["dynamic_factor"] == pytest.approx(1.01 if inside else 1.0)


def test_event_terms_and_factor_are_capped() -> None:
    many = [{"type": "alarm", "severity": None, "found_date": "2026-03-30"}] * 40  # 0.40 → cap 0.20
    assert one(evs(*many))["dynamic_factor"] == pytest.approx(1.2)
    dangers = [{"found_date": "2026-03-01"}] * 20  # 1.00 → cap 0.60
    assert one(evs(*dangers))["dynamic_factor"] == pytest.approx(1.6)
    deadly = [{"type": "accident", "severity": None, "found_date": "2026-03-01", "deaths": 9}]  # → 1.0
    # 1 + 0.6 + 1.0 + 0.2 = 2.8 → max_factor 2.0
    assert one(evs(*dangers, *deadly, *many))["dynamic_factor"] == pytest.approx(2.0)


def test_events_of_other_or_unknown_enterprises_are_ignored() -> None:
    e = ents({}, {})
    events = evs(
        {"enterprise_id": "u1", "found_date": "2026-03-01"}, {"enterprise_id": "nobody", "found_date": "2026-03-01"}
    )
    out = score_enterprises(e, events, AS_OF, MODEL, CAT)
    assert out["open_dangers"].tolist() == [0, 1]
    assert out["risk_score"].tolist() == [14.0, 14.7]


# --------------------------------------------------------------------------------------------------
# LEC and LS
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("d", "score", "level"),
    [
        (1000.0, 100.0, "red"),  # top → 100
        (2000.0, 100.0, "red"),
        (320.0, 65.0, "red"),  # edge → red edge
        (319.0, 64.9, "orange"),  # 45 + 159/160 × 20 = 64.875
        (160.0, 45.0, "orange"),
        (159.0, 44.8, "yellow"),  # 30 + 89/90 × 15 = 44.83
        (70.0, 30.0, "yellow"),
        (69.0, 29.6, "blue"),  # 69/70 × 30 = 29.57
        (0.0, 0.0, "blue"),
    ],
)
def test_lec_thresholds(d: float, score: float, level: str) -> None:
    row = one(lec_l=1.0, lec_e=1.0, lec_c=d, industry_code="hazchem_production", standardization_grade=1)
    assert row["method"] == "lec"
    assert row["risk_score"] == score and row["computed_level"] == level
    assert row["control_factor"] == 1.0  # the assessment already rates controls


@pytest.mark.parametrize(
    ("l_", "s", "score", "level"),
    [
        (5, 5, 100.0, "red"),
        (4, 5, 65.0, "red"),  # R = 20
        (4, 4, 49.0, "orange"),  # R = 16: 45 + 1/5 × 20
        (3, 5, 45.0, "orange"),  # R = 15
        (3, 4, 37.5, "yellow"),  # R = 12: 30 + 3/6 × 15
        (3, 3, 30.0, "yellow"),  # R = 9
        (2, 4, 26.7, "blue"),  # R = 8: 8/9 × 30
        (1, 1, 3.3, "blue"),
    ],
)
def test_ls_thresholds(l_: int, s: int, score: float, level: str) -> None:
    row = one(ls_l=l_, ls_s=s)
    assert row["method"] == "ls"
    assert row["risk_score"] == score and row["computed_level"] == level


def test_method_precedence_and_partial_values() -> None:
    assert one(lec_l=1.0, lec_e=1.0, lec_c=320.0, ls_l=1, ls_s=1)["method"] == "lec"
    assert one(lec_l=1.0, lec_e=None, lec_c=320.0, ls_l=1, ls_s=1)["method"] == "ls"  # LEC incomplete
    assert one(ls_l=3, ls_s=None)["method"] == "index"


def test_dynamic_factor_applies_to_assessed_methods() -> None:
    row = one(evs({"found_date": "2026-03-01"}), ls_l=3, ls_s=3)  # 30 × 1.05
    assert row["risk_score"] == 31.5 and row["method"] == "ls"


# --------------------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------------------
def test_declared_higher_wins() -> None:
    row = one(declared_level="orange")
    assert (row["computed_level"], row["risk_level"]) == ("blue", "orange")
    assert row["override"] == "declared level orange is higher than computed blue (就高)"
    assert one(declared_level="较大")["risk_level"] == "orange"  # Chinese names resolve


def test_declared_lower_or_equal_is_ignored() -> None:
    row = one(declared_level="blue", major_hazard_level=2)  # computed 36 yellow
    assert row["risk_level"] == "yellow" and row["override"] is None
    row = one(declared_level="yellow", major_hazard_level=2)
    assert row["risk_level"] == "yellow" and row["override"] is None


def test_veto_text_wins_over_declared() -> None:
    row = one(evs({"found_date": "2026-03-02", "severity": "major"}), declared_level="orange")
    assert row["risk_level"] == "red"
    assert row["override"].startswith("open major hidden danger")


# --------------------------------------------------------------------------------------------------
# Shape, explain
# --------------------------------------------------------------------------------------------------
def test_output_shape_order_and_index() -> None:
    e = ents({"id": "b"}, {"id": "a", "major_hazard_level": 1}, {"id": "c"})
    e.index = [10, 5, 7]
    out = score_enterprises(e, None, AS_OF, MODEL, CAT)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out.index.tolist() == [10, 5, 7] and out["id"].tolist() == ["b", "a", "c"]
    for col in ("open_dangers", "overdue_dangers", "accidents_window", "alarms_window"):
        assert out[col].dtype == np.int64
    empty = score_enterprises(e.iloc[:0], None, AS_OF, MODEL, CAT)
    assert len(empty) == 0 and list(empty.columns) == list(OUTPUT_COLUMNS)


def test_missing_columns_are_missing_values() -> None:
    out = score_enterprises(pd.DataFrame({"id": ["x"], "domain": ["fire"]}), None, AS_OF, MODEL, CAT)
    assert out["risk_score"].iloc[0] == 18.0  # 40 × 0.45


def test_explain_unit_matches_and_adds_up() -> None:
    e = ents(
        {"industry_code": "hazchem_production", "major_hazard_level": 3, "workers": 99, "standardization_grade": 2}
    )
    events = evs(
        {"found_date": "2026-03-01", "due_date": "2026-03-10"},
        {"enterprise_id": "other", "found_date": "2026-03-01", "severity": "major"},
    )
    exp = explain_unit(e.iloc[0], events, AS_OF, MODEL, CAT)
    json.dumps(exp)
    row = score_enterprises(e, events, AS_OF, MODEL, CAT).iloc[0]
    assert exp["risk_score"] == row["risk_score"] and exp["risk_level"] == row["risk_level"]
    ind = exp["index"]["indicators"]
    assert ind["industry"]["points"] == 38.0 and ind["major_hazard"]["points"] == 15.0
    assert ind["workers"]["points"] == pytest.approx(10.0)
    # (38 + 15 + 10) × 0.9 × 1.10 = 62.37
    assert exp["raw_score"] == pytest.approx(62.37)
    assert exp["dynamic"]["hidden_dangers"] == {
        "open_general": 1,
        "open_major": 0,
        "overdue": 1,
        "earliest_open_major_found": None,
        "term": 0.1,
        "max": 0.6,
    }
    # contributions add up: 38 + 15 + 10 + control 63 × (0.9 − 1) + dynamic 56.7 × 0.1 = 62.37
    assert exp["contributions"]["control"] == pytest.approx(-6.3, abs=1e-3)
    assert exp["contributions"]["dynamic"] == pytest.approx(5.67, abs=1e-3)
    assert sum(exp["contributions"].values()) == pytest.approx(exp["raw_score"], abs=1e-3)


def test_explain_unit_assessed_and_override() -> None:
    row = {"id": "u0", "domain": "fire", "lec_l": 3.0, "lec_e": 6.0, "lec_c": 15.0, "declared_level": "red"}
    exp = explain_unit(row, None, AS_OF, MODEL, CAT)
    assert exp["method"] == "lec" and exp["assessment"]["value"] == 270.0
    assert exp["assessment"]["score"] == pytest.approx(58.75)  # 45 + 110/160 × 20
    assert exp["risk_level"] == "red" and "(就高)" in exp["override"]


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------
_industries = [i.code for i in CAT.industries] + [None]
_unit = st.fixed_dictionaries(
    {},
    optional={
        "domain": st.sampled_from([d.code for d in CAT.domains]),
        "industry_code": st.sampled_from(_industries),
        "workers": st.integers(0, 100000),
        "major_hazard_level": st.integers(1, 4),
        "hazardous_processes": st.integers(0, 6),
        "dust_explosion": st.booleans(),
        "confined_space": st.booleans(),
        "ammonia_refrigeration": st.booleans(),
        "standardization_grade": st.integers(1, 3),
        "declared_level": st.sampled_from(LEVELS),
        "ls_l": st.integers(1, 5),
        "ls_s": st.integers(1, 5),
    },
)
_day = st.dates(date(2024, 1, 1), date(2026, 6, 30)).map(str)
_event = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["hidden_danger", "accident", "alarm"]),
        "severity": st.sampled_from(["general", "major", None]),
        "found_date": _day,
        "due_date": st.one_of(st.none(), _day),
        "closed_date": st.one_of(st.none(), _day),
        "deaths": st.integers(0, 3),
        "injuries": st.integers(0, 5),
    }
)
_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with_owner(events: list[dict], n: int, owners: list[int]) -> pd.DataFrame | None:
    rows = [{**e, "enterprise_id": f"u{o % n}"} for e, o in zip(events, owners, strict=False)]
    return evs(*rows) if rows else None


@_settings
@given(
    st.lists(_unit, min_size=1, max_size=8),
    st.lists(_event, max_size=10),
    st.lists(st.integers(0, 7), min_size=10, max_size=10),
)
def test_exactly_one_level_each(units, events, owners) -> None:
    out = score_enterprises(ents(*units), _with_owner(events, len(units), owners), AS_OF, MODEL, CAT)
    assert out["risk_level"].isin(LEVELS).all() and out["computed_level"].isin(LEVELS).all()
    assert out["risk_score"].between(0, 100).all()
    assert set(out["method"]) <= {"index", "lec", "ls"}


@_settings
@given(
    st.lists(_unit, min_size=1, max_size=6),
    st.lists(_event, max_size=8),
    st.lists(st.integers(0, 5), min_size=8, max_size=8),
    st.integers(0, 5),
    st.sampled_from(["general", "major", None]),
    st.one_of(st.none(), _day),
    st.integers(0, 3),
    st.integers(0, 5),
)
def test_adding_open_danger_or_accident_never_lowers(units, events, owners, who, severity, due, deaths, injuries):
    e = ents(*units)
    who = f"u{who % len(units)}"
    base = _with_owner(events, len(units), owners)
    before = score_enterprises(e, base, AS_OF, MODEL, CAT)
    danger = {"type": "hidden_danger", "severity": severity, "found_date": "2026-03-01", "due_date": due}
    accident = {
        "type": "accident",
        "severity": None,
        "found_date": "2026-02-01",
        "deaths": deaths,
        "injuries": injuries,
    }
    extra = [{"enterprise_id": who, **danger}, {"enterprise_id": who, **accident}]
    for added in extra:
        rows = ([] if base is None else base.drop(columns="id").to_dict("records")) + [added]
        after = score_enterprises(e, evs(*rows), AS_OF, MODEL, CAT)
        assert (after["risk_score"] >= before["risk_score"]).all()
        assert (after["risk_level"].map(RISK_LEVEL_RANK) <= before["risk_level"].map(RISK_LEVEL_RANK)).all()
        others = e["id"] != who
        pd.testing.assert_frame_equal(after[others], before[others])


@_settings
@given(
    st.lists(_unit, min_size=1, max_size=6),
    st.lists(_event, min_size=1, max_size=8),
    st.lists(st.integers(0, 5), min_size=8, max_size=8),
    st.randoms(),
)
def test_events_after_as_of_and_event_order_change_nothing(units, events, owners, rnd) -> None:
    e = ents(*units)
    base = _with_owner(events, len(units), owners)
    before = score_enterprises(e, base, AS_OF, MODEL, CAT)
    late = base.assign(found_date=pd.Timestamp("2026-04-01"), id=base["id"] + "late")
    after = score_enterprises(e, pd.concat([base, late], ignore_index=True), AS_OF, MODEL, CAT)
    pd.testing.assert_frame_equal(after, before)
    order = list(range(len(base)))
    rnd.shuffle(order)
    shuffled = score_enterprises(e, base.iloc[order], AS_OF, MODEL, CAT)
    pd.testing.assert_frame_equal(shuffled, before)
    perm = list(range(len(e)))
    rnd.shuffle(perm)
    pd.testing.assert_frame_equal(score_enterprises(e.iloc[perm], base, AS_OF, MODEL, CAT), before.iloc[perm])
