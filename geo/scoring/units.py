"""Score enterprises (units): inherent risk × control × dynamic factor, or an assessed LEC/LS value; overrides.

Pure and vectorised: factorize/bincount over whole columns, no per-row Python. A million enterprises and
600,000 events score in a couple of seconds. Every formula and default is in docs/scoring.md; every number
in the scoring model (`geo/data/model.toml`).

    score = round1(clip(base × dynamic, 0, 100))
    base  = inherent × control                      (method "index")
          = interp(D or R onto the level bands)     (method "lec" / "ls": the assessment already rates controls)
    computed_level = bands(score);  risk_level = gravest of computed, declared (就高), red if vetoed (一票否决)

Dates are compared by calendar day: an event counts when found_date <= as_of; a hidden danger is open when
it is not closed by the end of as_of; overdue when open and due before as_of; accidents and alarms count
within the last `window_days` days, as_of included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.catalogue import LEVELS, Catalogue
from geo.scoring.model import MethodBands, ScoringModel
from geo.values import arrow_text, text_of, text_of_words
from geo.values import plain as _plain

__all__ = ["OUTPUT_COLUMNS", "explain_unit", "score_enterprises", "with_scores"]

#: Columns of `score_enterprises`, in order. `veto` (bool) says the unit is red by 一票否决.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "id",
    "inherent",
    "control_factor",
    "dynamic_factor",
    "risk_score",
    "method",
    "computed_level",
    "risk_level",
    "override",
    "veto",
    "open_dangers",
    "overdue_dangers",
    "accidents_window",
    "alarms_window",
)

_LEVEL_OF_RANK = np.array([None, *LEVELS], dtype=object)  # rank 1..4 → code
#: Event codes as the store holds them: ingest turns the words of a file (隐患, 重大事故隐患, ...) into these once
#: (`geo.fields`' event_type and danger_grade vocabularies), so scoring compares codes and reads no words.
_DANGER, _ACCIDENT, _ALARM = "hidden_danger", "accident", "alarm"
_MAJOR = "major"
_NAT = np.iinfo(np.int64).max
_DAY = np.timedelta64(1, "D")


# --------------------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------------------
def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float64 with NaN for missing values (NaN everywhere when the column is absent)."""
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _flag(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A boolean column with NA (and an absent column) as False."""
    if col not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[col].astype("boolean").to_numpy(dtype=bool, na_value=False)


def _resolve(values: pd.Series | None, n: int, resolve) -> np.ndarray:
    """Apply `resolve(text) -> float` once per distinct value (NaN for NA and for None results)."""
    if values is None:
        return np.full(n, np.nan)
    codes, uniques = pd.factorize(values)
    table = [resolve(str(u)) for u in uniques]
    lut = np.array([np.nan if v is None else v for v in table] + [np.nan], dtype=np.float64)
    return lut[codes]  # code -1 (NA) reads the trailing NaN


def _days(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A date column as datetime64[ns] (NaT for missing or unparseable; timezone dropped)."""
    if col not in frame.columns:
        return np.full(len(frame), np.datetime64("NaT", "ns"))
    s = frame[col]
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[ns]")


def _is(frame: pd.DataFrame, col: str, code: str) -> np.ndarray:
    """Which rows hold `code` in `col` (False for missing values and when the column is absent)."""
    if col not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[col].eq(code).to_numpy(dtype=bool, na_value=False)


def _as_day(as_of: date | datetime | str) -> np.datetime64:
    return np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns")


def _rank(score: np.ndarray, edges: tuple[float, float, float]) -> np.ndarray:
    """Level rank 1 (red) … 4 (blue) of each score from (yellow, orange, red) lower edges."""
    yellow, orange, red = edges
    return (4 - (score >= yellow).astype(np.int8) - (score >= orange) - (score >= red)).astype(np.int8)


def _round1(x: np.ndarray) -> np.ndarray:
    """Round half up to 0.1 (a hair of tolerance so 64.99999999 from float error reads 65.0)."""
    return np.floor(x * 10.0 + 0.5 + 1e-9) / 10.0


# --------------------------------------------------------------------------------------------------
# Inherent risk and control
# --------------------------------------------------------------------------------------------------
def _base_weight(frame: pd.DataFrame, model: ScoringModel, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """Industry base weight, else the domain's default weight, else the model's unknown weight; and its source."""
    n = len(frame)

    def industry(text: str) -> float | None:
        ind = catalogue.industry(text)
        return ind.base_weight if ind else None

    def domain(text: str) -> float | None:
        dom = catalogue.domain(text)
        return dom.default_weight if dom else None

    ind_w = _resolve(frame.get("industry_code"), n, industry)
    dom_w = _resolve(frame.get("domain"), n, domain)
    weight = np.where(~np.isnan(ind_w), ind_w, np.where(~np.isnan(dom_w), dom_w, model.inherent.unknown_weight))
    which = np.where(~np.isnan(ind_w), 0, np.where(~np.isnan(dom_w), 1, 2))
    source = np.array(["industry", "domain", "unknown"], dtype=object)[which]
    return weight, source


def _inherent_points(frame: pd.DataFrame, model: ScoringModel, catalogue: Catalogue) -> dict[str, np.ndarray]:
    """Points of every inherent indicator (0 when absent) and their capped total."""
    inh = model.inherent
    weight, source = _base_weight(frame, model, catalogue)
    mh = inh.major_hazard
    mh_level = _num(frame, "major_hazard_level")
    mh_lut = np.array([0.0, mh.grade_1, mh.grade_2, mh.grade_3, mh.grade_4])
    mh_idx = np.where(np.isin(mh_level, [1, 2, 3, 4]), np.nan_to_num(mh_level), 0).astype(np.int64)
    processes = np.clip(np.nan_to_num(_num(frame, "hazardous_processes")), 0, None)
    workers = np.clip(np.nan_to_num(_num(frame, "workers")), 0, None)
    points = {
        "industry": weight * inh.industry_points,
        "major_hazard": mh_lut[mh_idx],
        "processes": np.minimum(inh.processes.max, inh.processes.per_process * processes),
        "dust_explosion": np.where(_flag(frame, "dust_explosion"), inh.flags.dust_explosion, 0.0),
        "confined_space": np.where(_flag(frame, "confined_space"), inh.flags.confined_space, 0.0),
        "ammonia_refrigeration": np.where(_flag(frame, "ammonia_refrigeration"), inh.flags.ammonia_refrigeration, 0.0),
        "workers": np.minimum(inh.workers.max, inh.workers.per_log10 * np.log10(1.0 + workers)),
    }
    total = np.minimum(100.0, sum(points.values()))
    return {
        **{f"pts_{k}": v for k, v in points.items()},
        "base_weight": weight,
        "weight_source": source,
        "index_inherent": total,
    }


def _control(frame: pd.DataFrame, model: ScoringModel) -> np.ndarray:
    c = model.control
    grade = _num(frame, "standardization_grade")
    lut = np.array([c.none, c.grade_1, c.grade_2, c.grade_3])
    idx = np.where(np.isin(grade, [1, 2, 3]), np.nan_to_num(grade), 0).astype(np.int64)
    return lut[idx]


# --------------------------------------------------------------------------------------------------
# Assessed methods (LEC, LS)
# --------------------------------------------------------------------------------------------------
def _map_onto_levels(value: np.ndarray, bands: MethodBands, model: ScoringModel) -> np.ndarray:
    """Piecewise-linear map of a method value onto 0–100 so each method band lands on the same level band."""
    xp = [0.0, bands.yellow, bands.orange, bands.red, bands.top]
    fp = [0.0, model.levels.yellow, model.levels.orange, model.levels.red, 100.0]
    return np.interp(np.clip(value, 0.0, None), xp, fp)


def _assessed(frame: pd.DataFrame, model: ScoringModel) -> dict[str, np.ndarray]:
    """Method of each record ('lec' | 'ls' | 'index'), its raw value (D or R) and its 0–100 base score."""
    n = len(frame)
    values = {
        "lec": _num(frame, "lec_l") * _num(frame, "lec_e") * _num(frame, "lec_c"),
        "ls": _num(frame, "ls_l") * _num(frame, "ls_s"),
    }
    width = max(len(name) for name in ("index", *model.methods.order))
    method = np.full(n, "index", dtype=f"<U{width}")  # fixed-width text: compared at array speed
    raw = np.full(n, np.nan)
    mapped = np.full(n, np.nan)
    for name in model.methods.order:
        take = (method == "index") & ~np.isnan(values[name])
        method[take] = name
        raw[take] = values[name][take]
        mapped[take] = _map_onto_levels(values[name][take], getattr(model.methods, name), model)
    return {"method": method, "method_value": raw, "method_score": mapped}


# --------------------------------------------------------------------------------------------------
# Events → dynamic factor
# --------------------------------------------------------------------------------------------------
def _event_masks(events: pd.DataFrame, as_of: np.datetime64, model: ScoringModel) -> dict[str, np.ndarray]:
    """Boolean masks over events: which count as open general/major dangers, overdue, accidents, alarms."""
    found = _days(events, "found_date")
    closed = _days(events, "closed_date")
    due = _days(events, "due_date")
    next_day = as_of + _DAY
    known = found < next_day  # found on or before as_of (NaT → False)
    danger = known & _is(events, "type", _DANGER)
    is_open = danger & ~(closed < next_day)  # not closed by the end of as_of (NaT closed → open)
    major = _is(events, "severity", _MAJOR)
    acc_from = next_day - np.timedelta64(model.dynamic.accident.window_days, "D")
    alarm_from = next_day - np.timedelta64(model.dynamic.alarm.window_days, "D")
    return {
        "found": found,
        "open_general": is_open & ~major,
        "open_major": is_open & major,
        "overdue": is_open & (due < as_of),
        "accident": known & (found >= acc_from) & _is(events, "type", _ACCIDENT),
        "alarm": known & (found >= alarm_from) & _is(events, "type", _ALARM),
    }


def _index_in(values: pd.Series, uniques) -> np.ndarray:
    """Position of each value in `uniques` (-1 where absent): one Arrow hash lookup for text, which is
    several times faster than a pandas Index over a million strings."""
    import pyarrow.compute as pc

    value_set, probe = arrow_text(uniques), arrow_text(values)
    if value_set is None or probe is None:  # ids that are not text on both sides: pandas equality semantics
        return pd.Index(uniques).get_indexer(values)
    return pc.index_in(probe, value_set).fill_null(-1).to_numpy().astype(np.int64)


def _event_stats(
    ids: pd.Series, events: pd.DataFrame | None, as_of: np.datetime64, model: ScoringModel
) -> dict[str, np.ndarray]:
    """Per enterprise: open general/major dangers, overdue, accidents (+deaths, injuries), alarms, first major.

    Counted per distinct enterprise id among the events, then looked up for each enterprise (the events name
    far fewer ids than there are enterprises, so the hash table is the small side)."""
    n = len(ids)
    keys = ("open_general", "open_major", "overdue", "accident", "deaths", "injuries", "alarm")
    if events is None or not len(events) or "enterprise_id" not in events.columns or not n:
        return {**{k: np.zeros(n) for k in keys}, "first_major": np.full(n, _NAT, dtype=np.int64)}
    codes, uniques = pd.factorize(events["enterprise_id"])
    m = len(uniques)
    stats = {k: np.zeros(m + 1) for k in keys}  # slot m: enterprises no event names; stays 0
    first_major = np.full(m + 1, _NAT, dtype=np.int64)
    mask = _event_masks(events, as_of, model)
    mine = codes >= 0
    for k in ("open_general", "open_major", "overdue", "accident", "alarm"):
        sel = mine & mask[k]
        stats[k][:m] = np.bincount(codes[sel], minlength=m)
    sel = mine & mask["accident"]
    for k in ("deaths", "injuries"):
        w = np.clip(np.nan_to_num(_num(events, k)), 0, None)
        stats[k][:m] = np.bincount(codes[sel], weights=w[sel], minlength=m)
    sel = mine & mask["open_major"]
    np.minimum.at(first_major, codes[sel], mask["found"][sel].astype(np.int64))
    where = _index_in(ids, uniques) if m else np.full(n, -1)
    where = np.where(where >= 0, where, m)
    out = {k: v[where] for k, v in stats.items()}
    out["first_major"] = first_major[where]
    return out


def _dynamic(stats: Mapping[str, np.ndarray], model: ScoringModel) -> dict[str, np.ndarray]:
    """The three capped event terms and the capped dynamic factor."""
    d = model.dynamic
    hd, acc, al = d.hidden_danger, d.accident, d.alarm
    danger = np.minimum(
        hd.max,
        hd.open_general * stats["open_general"] + hd.open_major * stats["open_major"] + hd.overdue * stats["overdue"],
    )
    accident = np.minimum(
        acc.max,
        acc.per_accident * stats["accident"] + acc.per_death * stats["deaths"] + acc.per_injury * stats["injuries"],
    )
    alarm = np.minimum(al.max, al.per_alarm * stats["alarm"])
    factor = np.minimum(d.max_factor, 1.0 + danger + accident + alarm)
    return {"term_hidden_danger": danger, "term_accident": accident, "term_alarm": alarm, "dynamic": factor}


# --------------------------------------------------------------------------------------------------
# Levels and overrides
# --------------------------------------------------------------------------------------------------
def _declared_rank(frame: pd.DataFrame, catalogue: Catalogue) -> np.ndarray:
    """Rank 1..4 of the declared level; 5 (milder than any) where none or unreadable."""

    def rank(text: str) -> float | None:
        code = catalogue.level_code(text)
        return float(LEVELS.index(code) + 1) if code else None

    r = _resolve(frame.get("declared_level"), len(frame), rank)
    return np.where(np.isnan(r), 5, r).astype(np.int8)


def _override_text(
    veto: np.ndarray,
    n_major: np.ndarray,
    first_major: np.ndarray,
    by_declared: np.ndarray,
    declared: np.ndarray,
    computed: np.ndarray,
) -> np.ndarray:
    """The override reason of each unit (None where no override applies)."""
    out = np.full(len(veto), None, dtype=object)
    if veto.any():
        idx = np.flatnonzero(veto)
        day = pd.Series(np.datetime_as_string(first_major[idx].astype("datetime64[ns]"), unit="D"), dtype=object)
        count = pd.Series(n_major[idx].astype(np.int64).astype(str), dtype=object)
        one = "open major hidden danger (重大事故隐患) found " + day
        many = count + " open major hidden dangers (重大事故隐患), earliest found " + day
        out[idx] = np.where(n_major[idx] > 1, many.to_numpy(), one.to_numpy())
    if by_declared.any():
        idx = np.flatnonzero(by_declared)
        dec = pd.Series(_LEVEL_OF_RANK[declared[idx]], dtype=object)
        comp = pd.Series(_LEVEL_OF_RANK[computed[idx]], dtype=object)
        out[idx] = ("declared level " + dec + " is higher than computed " + comp + " (就高)").to_numpy()
    return out


def _levels(parts: dict[str, np.ndarray], frame: pd.DataFrame, model: ScoringModel, catalogue: Catalogue) -> None:
    """Add computed/final ranks, veto flag and override text to `parts` (in place)."""
    computed = _rank(parts["risk_score"], model.levels.edges())
    declared = _declared_rank(frame, catalogue) if model.overrides.declared_level else np.full(len(frame), 5)
    veto = (parts["open_major"] > 0) & model.overrides.major_hidden_danger
    final = np.minimum(computed, declared)
    final = np.where(veto, 1, final).astype(np.int8)
    by_declared = ~veto & (declared < computed)
    parts["computed_rank"] = computed
    parts["rank"] = final
    parts["veto"] = veto
    parts["override"] = _override_text(veto, parts["open_major"], parts["first_major"], by_declared, declared, computed)


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
def _components(
    enterprises: pd.DataFrame,
    events: pd.DataFrame | None,
    as_of: date | datetime | str,
    model: ScoringModel,
    catalogue: Catalogue,
) -> dict[str, np.ndarray]:
    """Every intermediate quantity of the score, one array per quantity, aligned with `enterprises`."""
    n = len(enterprises)
    ids = enterprises["id"] if "id" in enterprises.columns else pd.Series([None] * n, dtype=object)
    parts: dict[str, np.ndarray] = {}
    parts.update(_inherent_points(enterprises, model, catalogue))
    parts["index_control"] = _control(enterprises, model)
    parts.update(_assessed(enterprises, model))
    parts.update(_event_stats(ids, events, _as_day(as_of), model))
    parts.update(_dynamic(parts, model))
    index = parts["method"] == "index"
    parts["inherent"] = np.where(index, parts["index_inherent"], parts["method_score"])
    parts["control"] = np.where(index, parts["index_control"], 1.0)
    raw = parts["inherent"] * parts["control"] * parts["dynamic"]
    parts["raw_score"] = raw
    parts["risk_score"] = _round1(np.clip(raw, 0.0, 100.0))
    _levels(parts, enterprises, model, catalogue)
    return parts


def with_scores(records: pd.DataFrame, scores: pd.DataFrame, stale: Iterable[str] = ()) -> pd.DataFrame:
    """The records with their `scores` (row for row, `score_enterprises`' frame) alongside: a score column the
    records already carry is replaced, and so are the `stale` columns (the rescue circle's, made again)."""
    drop = (set(scores.columns) | set(stale)) - {"id"}
    return pd.concat(
        [
            records.drop(columns=[c for c in records.columns if c in drop]).reset_index(drop=True),
            scores.drop(columns=["id"]).reset_index(drop=True),
        ],
        axis=1,
    )


def score_enterprises(
    enterprises: pd.DataFrame,
    events: pd.DataFrame | None,
    as_of: date,
    model: ScoringModel,
    catalogue: Catalogue,
) -> pd.DataFrame:
    """Score every enterprise at `as_of`: one row per input row, in input order, indexed like the input.

    Columns: see `OUTPUT_COLUMNS`. Missing input columns count as missing values. Events with an
    `enterprise_id` matching no enterprise, or found after `as_of`, count for nothing.
    """
    p = _components(enterprises, events, as_of, model, catalogue)
    ids = enterprises["id"].array if "id" in enterprises.columns else None
    return pd.DataFrame(
        {
            "id": ids,
            "inherent": np.round(p["inherent"], 2),
            "control_factor": p["control"],
            "dynamic_factor": np.round(p["dynamic"], 4),
            "risk_score": p["risk_score"],
            "method": text_of_words(p["method"], ("index", *model.methods.order)).array,
            "computed_level": text_of(_LEVEL_OF_RANK, p["computed_rank"]).array,
            "risk_level": text_of(_LEVEL_OF_RANK, p["rank"]).array,
            "override": pd.Series(p["override"], dtype=object, index=enterprises.index),
            "veto": p["veto"],
            "open_dangers": (p["open_general"] + p["open_major"]).astype(np.int64),
            "overdue_dangers": p["overdue"].astype(np.int64),
            "accidents_window": p["accident"].astype(np.int64),
            "alarms_window": p["alarm"].astype(np.int64),
        },
        index=enterprises.index,
    )


def _f(x: Any) -> float:
    return round(float(x), 4)


#: the record columns the scoring reads (any other column of a record leaves its score unchanged): what the
#: Dask engine sends its workers
INPUT_COLUMNS = (
    "id",
    "industry_code",
    "domain",
    "major_hazard_level",
    "hazardous_processes",
    "dust_explosion",
    "confined_space",
    "ammonia_refrigeration",
    "workers",
    "standardization_grade",
    "declared_level",
    "lec_l",
    "lec_e",
    "lec_c",
    "ls_l",
    "ls_s",
)

_INDICATORS = (
    "industry",
    "major_hazard",
    "processes",
    "dust_explosion",
    "confined_space",
    "ammonia_refrigeration",
    "workers",
)


def _explain_inherent(p: dict[str, np.ndarray], row: pd.Series) -> dict[str, Any]:
    """Indicator-by-indicator inputs and points (their sum, capped at 100, is the inherent score)."""
    inputs = {
        "industry": {
            "industry_code": row.get("industry_code"),
            "domain": row.get("domain"),
            "base_weight": _f(p["base_weight"][0]),
            "weight_from": str(p["weight_source"][0]),
        },
        "major_hazard": {"major_hazard_level": row.get("major_hazard_level")},
        "processes": {"hazardous_processes": row.get("hazardous_processes")},
        "dust_explosion": {"dust_explosion": row.get("dust_explosion")},
        "confined_space": {"confined_space": row.get("confined_space")},
        "ammonia_refrigeration": {"ammonia_refrigeration": row.get("ammonia_refrigeration")},
        "workers": {"workers": row.get("workers")},
    }
    indicators = {
        k: {**{a: _plain(b) for a, b in inputs[k].items()}, "points": _f(p[f"pts_{k}"][0])} for k in _INDICATORS
    }
    return {"total": _f(p["index_inherent"][0]), "cap": 100.0, "indicators": indicators}


def _contributions(p: dict[str, np.ndarray], method: str) -> dict[str, float]:
    """Additive parts of raw_score: indicators (or the assessment), cap, control and dynamic effects."""
    inherent, control, dynamic = float(p["inherent"][0]), float(p["control"][0]), float(p["dynamic"][0])
    if method == "index":
        parts = {k: _f(p[f"pts_{k}"][0]) for k in _INDICATORS}
        parts["cap"] = _f(inherent - sum(float(p[f"pts_{k}"][0]) for k in _INDICATORS))
    else:
        parts = {"assessment": _f(inherent)}
    parts["control"] = _f(inherent * (control - 1.0))
    parts["dynamic"] = _f(inherent * control * (dynamic - 1.0))
    return parts


def explain_unit(
    unit_row: pd.Series | Mapping[str, Any],
    events: pd.DataFrame | None,
    as_of: date,
    model: ScoringModel,
    catalogue: Catalogue,
) -> dict[str, Any]:
    """Factor-by-factor breakdown of one enterprise's score (JSON-serialisable).

    `events` may hold anybody's events: only those of this unit's id count. The result equals what
    `score_enterprises` gives for this unit.
    """
    row = pd.Series(dict(unit_row), dtype=object)
    frame = pd.DataFrame([row.to_dict()])
    if events is not None and len(events) and "enterprise_id" in events.columns:
        events = events[events["enterprise_id"].eq(row.get("id")).to_numpy(dtype=bool, na_value=False)]
    p = _components(frame, events, as_of, model, catalogue)
    method = str(p["method"][0])
    control = float(p["control"][0])
    out: dict[str, Any] = {
        "id": _plain(row.get("id")),
        "as_of": str(pd.Timestamp(as_of).date()),
        "method": method,
        "formula": "risk_score = round1(clip(inherent × control × dynamic, 0, 100)); "
        "raw_score = Σ contributions (indicator points, cap, control effect, dynamic effect)",
        "inherent": float(_f(p["inherent"][0])),
    }
    if method == "index":
        out["index"] = _explain_inherent(p, row)
    else:
        bands = getattr(model.methods, method)
        out["assessment"] = {
            "value": _f(p["method_value"][0]),
            "formula": "D = L × E × C" if method == "lec" else "R = L × S",
            "bands": {"yellow": bands.yellow, "orange": bands.orange, "red": bands.red, "top": bands.top},
            "score": _f(p["method_score"][0]),
            "note": "mapped piecewise-linearly onto the level bands; control factor not applied (rated by L)",
        }
    out["control"] = {"standardization_grade": _plain(row.get("standardization_grade")), "factor": control}
    out["dynamic"] = _explain_dynamic(p, model)
    out["contributions"] = _contributions(p, method)
    computed = _LEVEL_OF_RANK[p["computed_rank"][0]]
    out.update(
        raw_score=_f(p["raw_score"][0]),
        risk_score=float(p["risk_score"][0]),
        computed_level=computed,
        declared_level=_plain(row.get("declared_level")),
        veto=bool(p["veto"][0]),
        override=p["override"][0],
        risk_level=_LEVEL_OF_RANK[p["rank"][0]],
        thresholds={"yellow": model.levels.yellow, "orange": model.levels.orange, "red": model.levels.red},
    )
    return out


def _explain_dynamic(p: dict[str, np.ndarray], model: ScoringModel) -> dict[str, Any]:
    d = model.dynamic
    first = int(p["first_major"][0])
    return {
        "factor": _f(p["dynamic"][0]),
        "max_factor": d.max_factor,
        "hidden_dangers": {
            "open_general": int(p["open_general"][0]),
            "open_major": int(p["open_major"][0]),
            "overdue": int(p["overdue"][0]),
            "earliest_open_major_found": None if first == _NAT else str(np.datetime64(first, "ns").astype("M8[D]")),
            "term": _f(p["term_hidden_danger"][0]),
            "max": d.hidden_danger.max,
        },
        "accidents": {
            "window_days": d.accident.window_days,
            "count": int(p["accident"][0]),
            "deaths": int(p["deaths"][0]),
            "injuries": int(p["injuries"][0]),
            "term": _f(p["term_accident"][0]),
            "max": d.accident.max,
        },
        "alarms": {
            "window_days": d.alarm.window_days,
            "count": int(p["alarm"][0]),
            "term": _f(p["term_alarm"][0]),
            "max": d.alarm.max,
        },
    }
