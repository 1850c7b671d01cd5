"""Evaluate the prompt rules on a build: which conditions hold now (the candidates of `geo.prompts.ledger`).

One handler per rule kind (`HANDLERS`), each vectorised over whole tables: pandas merges and index lookups
on the current and previous build's tables, numpy over the events; the only Python loops run over rules,
admin levels and the placeholders of a text, never over units. Every handler returns rows of
`CANDIDATE_COLUMNS` (a condition that holds now, with its evidence); `evaluate` adds the prompt id
(``<rule id>:<key>``), the severity and the texts.

What "holds" means per kind (defaults in geo/data/alerts.toml, explained in docs/alerts.md):

* ``level_rise`` / ``region_level_rise``: the level is graver than in the build before; an open prompt
  stays open while the level stays graver than it was before the rise (it closes when the level is back).
* ``major_danger``: an open 重大事故隐患 (found by the as-of date, not closed by its end).
* ``overdue_danger``: an open hidden danger whose ``due_date`` (整改期限) is ``min_days`` or more days before
  the as-of date; ``days`` = as-of − due.
* ``accident``: an accident found in the last ``window_days`` days, the as-of date included.
* ``alarm_burst``: ``min_count`` or more alarms at a unit in the last ``window_days`` days.
* ``region_index_streak``: the region's index rose (by ``min_step`` or more) in each of the last
  ``builds`` builds (kept snapshots, newest last).
* ``rescue_gap``: a unit of ``levels`` whose ``column`` (rescue minutes) exceeds ``max_minutes``; skipped
  when the units carry no such column.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from geo.catalogue import LEVELS, load_catalogue
from geo.prompts import rules as R
from geo.values import member, positions, take

__all__ = ["CANDIDATE_COLUMNS", "HANDLERS", "Previous", "Tables", "evaluate"]

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "key",
    "target_kind",
    "target_id",
    "name",
    "domain",
    "admin_level",
    "province_adcode",
    "city_adcode",
    "county_adcode",
    "lon",
    "lat",
    "unit_id",
    "event_id",
    "event_date",
    "due_date",
    "before",
    "after",
    "value_before",
    "value_after",
    "before_date",
    "count",
    "days",
    "deaths",
    "injuries",
    "grade",
    "severity",
)
FLOATS = ("lon", "lat", "value_before", "value_after")
INTS = ("count", "days", "deaths", "injuries")
CODES = ("province_adcode", "city_adcode", "county_adcode")
UNIT_INFO = ("name", "domain", "lon", "lat", *CODES)
_RANK = {code: i for i, code in enumerate(LEVELS)}  # 0 red … 3 blue
_GRADE = {"major": ("重大", "major"), "general": ("一般", "general")}


@dataclass
class Previous:
    """What the build before left: its as-of date, levels, and its open prompts (`geo.prompts.ledger`)."""

    as_of: date
    units: pd.DataFrame  # id, risk_level, risk_score
    hazards: pd.DataFrame  # id, risk_level, risk_score
    regions: pd.DataFrame  # adcode, domain, risk_level, risk_index
    prompts: pd.DataFrame  # open prompts: id, rule, key, before, value_before, before_date
    #: the build before scored the very records of this build (the same file): `units` has no id column and is
    #: row for row this build's units
    same_units: bool = False


@dataclass
class Tables:
    """A build's tables, as the handlers read them."""

    as_of: date
    units: pd.DataFrame  # id, risk_level, risk_score, name, domain, lon, lat, <level>_adcode (+ any other column)
    hazards: pd.DataFrame  # id, name, risk_level, risk_score, <level>_adcode, geometry
    regions: pd.DataFrame  # adcode, admin_level, domain, risk_level, risk_index
    events: pd.DataFrame  # the store's events (geo.build.EVENT_COLUMNS)
    places: pd.DataFrame  # adcode, name, lon, lat, <level>_adcode: every region (`places`)
    previous: Previous | None = None
    #: region indices of earlier builds, oldest first: build (0, 1, …), as_of (ISO text), adcode, domain, risk_index
    index_history: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @cached_property
    def events_known(self) -> pd.DataFrame:
        """Events a rule can use (open hidden dangers, accidents, alarms) found by the as-of date at a known
        unit, with ``pos`` (the unit's row) and ``found`` (days). Dangers closed by the as-of date, most of
        the events, are left out before the units are looked up."""
        ev = self.events
        if ev is None or not len(ev):
            return pd.DataFrame(columns=["pos", "found", "type"])
        day = np.datetime64(self.as_of, "D")
        found = _days(ev["found_date"])
        kind = ev["type"]
        keep = ~np.isnat(found) & (found <= day)
        usable = kind.isin(["accident", "alarm"]).to_numpy(dtype=bool)
        danger = kind.eq("hidden_danger").to_numpy(dtype=bool, na_value=False)
        if "closed_date" in ev:
            closed = _days(ev["closed_date"])
            danger = danger & (np.isnat(closed) | (closed > day))
        keep &= usable | danger
        ev = ev.loc[keep]
        pos = positions(ev["enterprise_id"], self.units["id"])
        out = ev.assign(pos=pos, found=found[keep]).loc[pos >= 0]
        return out.reset_index(drop=True)

    @cached_property
    def open_dangers(self) -> pd.DataFrame:
        """The open hidden dangers among `events_known` (found by the as-of date, not closed by its end)."""
        ev = self.events_known
        if not len(ev):
            return ev
        return ev.loc[ev["type"].eq("hidden_danger").to_numpy(dtype=bool, na_value=False)].reset_index(drop=True)

    def unit_info(self, pos: np.ndarray) -> pd.DataFrame:
        cols = [c for c in UNIT_INFO if c in self.units]
        return pd.DataFrame({c: take(self.units[c], pos) for c in cols}, index=pd.RangeIndex(len(pos)))


def _days(values: pd.Series) -> np.ndarray:
    """Dates as datetime64[D] (NaT for missing)."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[D]")


def _frame(n: int, **cols: Any) -> pd.DataFrame:
    """A candidate table of n rows: the given columns, every other one NA, with the declared dtypes."""
    data: dict[str, Any] = {}
    for c in CANDIDATE_COLUMNS:
        value = cols.get(c)
        if c in FLOATS:
            numbers = np.nan if value is None else pd.to_numeric(_values(value, n))
            data[c] = pd.Series(numbers, index=pd.RangeIndex(n)).astype("float64").to_numpy()
        elif c in INTS:
            data[c] = pd.array(_values(value, n) if value is not None else [pd.NA] * n, dtype="Int64")
        else:
            data[c] = np.array(_values(value, n) if value is not None else [None] * n, dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(n))  # one frame made at once, not column by column


def _values(value: Any, n: int) -> Any:
    if isinstance(value, pd.Series):
        return value.to_numpy()
    if np.isscalar(value) or value is None:
        return [value] * n
    return value


def _iso(days: Any) -> np.ndarray:
    """datetime64 values (any unit) → 'YYYY-MM-DD' text, NaT → None."""
    arr = np.asarray(days, dtype="datetime64[D]")
    text = np.datetime_as_string(arr, unit="D").astype(object)
    text[np.isnat(arr)] = None
    return text


def _ranks(levels: pd.Series | np.ndarray) -> np.ndarray:
    """Level codes → 0 (red) … 3 (blue); unknown or missing → 9 (one hash pass: factorize, then a table)."""
    codes, uniques = pd.factorize(levels if isinstance(levels, pd.Series) else pd.Series(levels, dtype=object))
    table = np.array([_RANK.get(u, 9) for u in uniques] + [9])  # the few distinct codes; -1 (missing) → 9
    return table[codes]


# ------------------------------------------------------------------------------------------------ rises
def _rise(cur: pd.DataFrame, prev: pd.DataFrame, carry: pd.DataFrame, prev_as_of: date) -> pd.DataFrame:
    """Rows of `cur` (key, level, value, pos) whose level is graver than in `prev` (key, level, value), or
    than the `before` of an open prompt in `carry` (key, before, value_before, before_date): the baseline
    of a rise is kept until the level is back down. Adds before, value_before, before_date."""
    keys, prev_keys = cur["key"].reset_index(drop=True), prev["key"].reset_index(drop=True)
    if len(keys) == len(prev_keys) and keys.equals(prev_keys):
        idx = np.arange(len(keys))  # the same records in the same order (a rebuild): no lookup needed
    else:
        idx = positions(keys, prev_keys)
    found = idx >= 0
    prev_rank = np.where(found, _ranks(prev["level"])[np.maximum(idx, 0)], 9)
    cur_rank = _ranks(cur["level"])
    carried = member(cur["key"], carry["key"]) if len(carry) else np.zeros(len(cur), dtype=bool)
    sel = np.flatnonzero(((cur_rank < prev_rank) & found) | carried)
    out = pd.DataFrame({c: take(cur[c], sel) for c in cur}, index=pd.RangeIndex(len(sel)))
    pidx = idx[sel]
    safe = np.maximum(pidx, 0)
    before = take(prev["level"], safe).astype(object)
    before[pidx < 0] = None
    out["before"] = before
    prev_value = pd.to_numeric(pd.Series(take(prev["value"], safe)), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    out["value_before"] = np.where(pidx >= 0, prev_value, np.nan)
    out["before_date"] = prev_as_of.isoformat()
    if len(carry):
        c = carry.drop_duplicates("key").set_index("key")
        held = out["key"].isin(c.index).to_numpy()
        for col in ("before", "value_before", "before_date"):
            out.loc[held, col] = out.loc[held, "key"].map(c[col]).to_numpy()
    keep = _ranks(out["level"]) < _ranks(out["before"])
    return out.loc[keep].reset_index(drop=True)


def _carry(t: Tables, rule: R._Rule) -> pd.DataFrame:
    cols = ["key", "before", "value_before", "before_date"]
    if t.previous is None or not len(t.previous.prompts):
        return pd.DataFrame(columns=cols)
    p = t.previous.prompts
    return p.loc[p["rule"] == rule.id, cols]


def level_rise(rule: R.LevelRise, t: Tables) -> pd.DataFrame | None:
    if t.previous is None:
        return _frame(0)
    table, prev = (t.units, t.previous.units) if rule.target() == "unit" else (t.hazards, t.previous.hazards)
    if not len(table) or "risk_level" not in table:
        return _frame(0)
    cur = pd.DataFrame(
        {
            "key": table["id"].array,
            "level": table["risk_level"].array,
            "value": pd.to_numeric(table.get("risk_score"), errors="coerce").to_numpy(),
            "pos": np.arange(len(table)),
        }
    )
    same = rule.target() == "unit" and t.previous.same_units
    old = pd.DataFrame(
        {
            "key": (table if same else prev)["id"].array,
            "level": prev["risk_level"].array,
            "value": prev["risk_score"].to_numpy(),
        }
    )
    hits = _rise(cur, old, _carry(t, rule), t.previous.as_of)
    if rule.target() == "unit":
        info = t.unit_info(hits["pos"].to_numpy())
    else:
        info = _site_info(table, hits["pos"].to_numpy())
    return _frame(
        len(hits),
        key=hits["key"],
        target_kind=rule.target(),
        target_id=hits["key"],
        unit_id=hits["key"] if rule.target() == "unit" else None,
        before=hits["before"],
        after=hits["level"],
        value_before=hits["value_before"],
        value_after=hits["value"],
        before_date=hits["before_date"],
        **{c: info[c] for c in info},
    )


def _site_info(hazards: pd.DataFrame, pos: np.ndarray) -> pd.DataFrame:
    import shapely

    sub = hazards.iloc[pos].reset_index(drop=True)
    out = pd.DataFrame({"name": sub.get("name"), "domain": None}, index=sub.index)
    for c in CODES:
        out[c] = sub[c] if c in sub else None
    if "geometry" in sub and len(sub):
        pts = shapely.point_on_surface(np.asarray(sub["geometry"].to_numpy(), dtype=object))
        out["lon"], out["lat"] = shapely.get_x(pts), shapely.get_y(pts)
    return out


# ------------------------------------------------------------------------------------------------ events
def _open_dangers(t: Tables) -> pd.DataFrame:
    return t.open_dangers


def _event_frame(t: Tables, ev: pd.DataFrame, **cols: Any) -> pd.DataFrame:
    info = t.unit_info(ev["pos"].to_numpy())
    keys = ev["id"].to_numpy(dtype=object, copy=True)
    blank = (ev["id"].isna() | (ev["id"].astype(str) == "")).to_numpy(dtype=bool)
    if blank.any():  # an event without an id: its unit and date
        unit = ev["enterprise_id"].astype(str).to_numpy(dtype=object)[blank]
        keys[blank] = unit + "@" + _iso(ev["found"].to_numpy()[blank]).astype(str)
    danger = (ev["type"] == "hidden_danger").to_numpy()
    grade = np.where(danger, ev["severity"].where(ev["severity"].isin(list(_GRADE)), "general"), None)
    return _frame(
        len(ev),
        key=keys,
        target_kind="unit",
        target_id=ev["enterprise_id"],
        unit_id=ev["enterprise_id"],
        event_id=keys,
        event_date=_iso(ev["found"]),
        grade=grade,
        **{c: info[c] for c in info},
        **cols,
    )


def major_danger(rule: R.MajorDanger, t: Tables) -> pd.DataFrame | None:
    ev = _open_dangers(t)
    if not len(ev):
        return _frame(0)
    ev = ev.loc[(ev["severity"] == "major").to_numpy()].reset_index(drop=True)
    return _event_frame(t, ev, due_date=_iso(pd.to_datetime(ev["due_date"])))


def overdue_danger(rule: R.OverdueDanger, t: Tables) -> pd.DataFrame | None:
    ev = _open_dangers(t)
    if not len(ev):
        return _frame(0)
    due = pd.to_datetime(ev["due_date"]).to_numpy(dtype="datetime64[D]")
    days = (np.datetime64(t.as_of, "D") - due).astype("timedelta64[D]").astype(np.float64)
    days[np.isnat(due)] = np.nan
    grade = ev["severity"].where(ev["severity"].isin(list(_GRADE)), "general").to_numpy()
    keep = (days >= rule.min_days) & np.isin(grade, list(rule.grades))
    ev = ev.loc[keep].reset_index(drop=True)
    return _event_frame(t, ev, due_date=_iso(due[keep]), days=days[keep].astype(np.int64))


def accident(rule: R.Accident, t: Tables) -> pd.DataFrame | None:
    ev = t.events_known
    if not len(ev):
        return _frame(0)
    start = np.datetime64(t.as_of, "D") - np.timedelta64(rule.window_days - 1, "D")
    ev = ev.loc[(ev["type"] == "accident").to_numpy() & (ev["found"].to_numpy() >= start)].reset_index(drop=True)
    deaths = pd.to_numeric(ev["deaths"], errors="coerce").fillna(0).astype(np.int64)
    injuries = pd.to_numeric(ev["injuries"], errors="coerce").fillna(0).astype(np.int64)
    return _event_frame(t, ev, deaths=deaths, injuries=injuries)


def alarm_burst(rule: R.AlarmBurst, t: Tables) -> pd.DataFrame | None:
    ev = t.events_known
    if not len(ev):
        return _frame(0)
    start = np.datetime64(t.as_of, "D") - np.timedelta64(rule.window_days - 1, "D")
    ev = ev.loc[(ev["type"] == "alarm").to_numpy() & (ev["found"].to_numpy() >= start)]
    per = ev.groupby("pos").agg(count=("found", "size"), last=("found", "max"))
    per = per.loc[per["count"] >= rule.min_count]
    pos = per.index.to_numpy()
    info = t.unit_info(pos)
    ids = take(t.units["id"], pos).astype(object)
    return _frame(
        len(per),
        key=ids,
        target_kind="unit",
        target_id=ids,
        unit_id=ids,
        count=per["count"].to_numpy(),
        event_date=_iso(per["last"].to_numpy()),
        **{c: info[c] for c in info},
    )


def rescue_gap(rule: R.RescueGap, t: Tables) -> pd.DataFrame | None:
    if rule.column not in t.units:
        t.skipped[rule.id] = f"the units carry no {rule.column!r} column (no rescue coverage computed yet)"
        return None
    minutes = pd.to_numeric(t.units[rule.column], errors="coerce").to_numpy(dtype=float)
    # not within max_minutes: slower, or not reached at all (NaN: no responder reaches it)
    keep = np.flatnonzero(t.units["risk_level"].isin(list(rule.levels)).to_numpy() & ~(minutes <= rule.max_minutes))
    info = t.unit_info(keep)
    ids = take(t.units["id"], keep).astype(object)
    return _frame(
        len(keep),
        key=ids,
        target_kind="unit",
        target_id=ids,
        unit_id=ids,
        after=take(t.units["risk_level"], keep).astype(object),
        value_after=minutes[keep],
        **{c: info[c] for c in info},
    )


# ------------------------------------------------------------------------------------------------ regions
def _region_sel(regions: pd.DataFrame, rule: R._RegionRule) -> pd.DataFrame:
    sel = regions["admin_level"].isin(list(rule.admin_levels)) & regions["domain"].isin(list(rule.domains))
    return regions.loc[sel.to_numpy()]


def _region_frame(t: Tables, hits: pd.DataFrame, **cols: Any) -> pd.DataFrame:
    places = t.places.set_index("adcode")
    codes = hits["adcode"]
    info = {c: codes.map(places[c]) for c in ("name", "lon", "lat", *CODES) if c in places}
    return _frame(
        len(hits),
        key=hits["key"],
        target_kind="region",
        target_id=codes,
        domain=hits["domain"],
        admin_level=hits["admin_level"],
        **info,
        **cols,
    )


def region_level_rise(rule: R.RegionLevelRise, t: Tables) -> pd.DataFrame | None:
    if t.previous is None:
        return _frame(0)
    cur = _region_sel(t.regions, rule)
    cur = pd.DataFrame(
        {
            "key": (cur["adcode"].astype(str) + "@" + cur["domain"].astype(str)).to_numpy(),
            "level": cur["risk_level"].to_numpy(dtype=object),
            "value": cur["risk_index"].to_numpy(dtype=float),
            "adcode": cur["adcode"].to_numpy(dtype=object),
            "domain": cur["domain"].to_numpy(dtype=object),
            "admin_level": cur["admin_level"].to_numpy(dtype=object),
        }
    )
    p = t.previous.regions
    old = pd.DataFrame(
        {
            "key": p["adcode"].astype(str) + "@" + p["domain"].astype(str),
            "level": p["risk_level"],
            "value": p["risk_index"],
        }
    )
    hits = _rise(cur, old, _carry(t, rule), t.previous.as_of)
    return _region_frame(
        t,
        hits,
        before=hits["before"],
        after=hits["level"],
        value_before=hits["value_before"],
        value_after=hits["value"],
        before_date=hits["before_date"],
    )


def region_index_streak(rule: R.RegionIndexStreak, t: Tables) -> pd.DataFrame | None:
    hist = t.index_history
    if hist is None or not len(hist):
        return _frame(0)
    cur = _region_sel(t.regions, rule)
    now = cur[["adcode", "domain", "risk_index", "admin_level"]].assign(build=int(hist["build"].max()) + 1)
    now["as_of"] = t.as_of.isoformat()
    both = pd.concat([hist, now.drop(columns="admin_level")], ignore_index=True)
    both = both.merge(now[["adcode", "domain"]], on=["adcode", "domain"])
    wide = both.pivot_table(index=["adcode", "domain"], columns="build", values="risk_index", aggfunc="first")
    dates = both.drop_duplicates("build").set_index("build")["as_of"].reindex(wide.columns).to_numpy(dtype=object)
    m = wide.to_numpy(dtype=float)
    rises = np.diff(m, axis=1) >= rule.min_step - 1e-9  # NaN (a region missing in a build) is no rise
    run = np.cumprod(rises[:, ::-1], axis=1).sum(axis=1) if rises.shape[1] else np.zeros(len(m), dtype=int)
    keep = np.flatnonzero(run >= rule.builds)
    start = m.shape[1] - 1 - run[keep]
    keys = wide.index[keep]
    hits = pd.DataFrame({"adcode": keys.get_level_values(0), "domain": keys.get_level_values(1)})
    hits = hits.merge(now[["adcode", "domain", "admin_level"]], on=["adcode", "domain"], how="left")
    hits["key"] = hits["adcode"].astype(str) + "@" + hits["domain"].astype(str)
    return _region_frame(
        t,
        hits,
        count=run[keep],
        value_before=m[keep, start],
        value_after=m[keep, -1],
        before_date=dates[start],
    )


Handler = Callable[[Any, Tables], "pd.DataFrame | None"]
#: one handler per rule kind
HANDLERS: dict[str, Handler] = {
    "level_rise": level_rise,
    "major_danger": major_danger,
    "overdue_danger": overdue_danger,
    "accident": accident,
    "alarm_burst": alarm_burst,
    "region_level_rise": region_level_rise,
    "region_index_streak": region_index_streak,
    "rescue_gap": rescue_gap,
}


# ------------------------------------------------------------------------------------------------ severity, text
def _severity(rule: Any, c: pd.DataFrame) -> np.ndarray:
    sev = np.full(len(c), rule.severity, dtype=object)
    grave = getattr(rule, "severity_to_red", None)
    if grave:
        sev[(c["after"] == "red").to_numpy()] = grave
    grave = getattr(rule, "severity_major", None)
    if grave:
        sev[(c["grade"] == "major").to_numpy()] = grave
    grave = getattr(rule, "severity_fatal", None)
    if grave:
        sev[(c["deaths"].fillna(0) > 0).to_numpy()] = grave
    return sev


class _TextFields(dict[str, pd.Series]):
    """The placeholders of a candidate table as text (missing values as '–'), each made when a template
    first names it: the templates of a rule name a handful of the ~30 fields."""

    def __init__(self, c: pd.DataFrame) -> None:
        super().__init__()
        self.c = c

    def __missing__(self, name: str) -> pd.Series:
        self[name] = value = _text_field(self.c, name)
        return value


def _text_field(c: pd.DataFrame, name: str) -> pd.Series:
    if name in CANDIDATE_COLUMNS:
        s = c[name]
        if name in ("value_before", "value_after"):
            s = s.round(1).astype(str).where(s.notna())
        return s.astype(object).where(s.notna(), "–").astype(str)
    col, lang = name.rsplit("_", 1)
    i = ("zh", "en").index(lang)
    if col == "grade":
        names, missing = _GRADE, ("", "")
    else:
        names, missing = {lv.code: (lv.zh, lv.en) for lv in load_catalogue().levels}, ("–", "–")
    codes, uniques = pd.factorize(c[col])  # the few distinct codes, then a table (-1, missing, reads the last)
    table = np.array([names.get(u, missing)[i] for u in uniques] + [missing[i]], dtype=object)
    return pd.Series(table[codes], index=c.index, dtype=object).astype(str)


def render(template: str, fields: dict[str, pd.Series], params: dict[str, str], n: int) -> pd.Series:
    """The template filled in for every row by concatenating columns (no per-row formatting)."""
    out = pd.Series([""] * n, dtype=object)
    for literal, name, _, _ in string.Formatter().parse(template):
        out = out + literal
        if name is not None:
            out = out + (params[name] if name in params else fields[name].to_numpy(dtype=object))
    return out


def evaluate(rules: R.AlertRules, t: Tables) -> pd.DataFrame:
    """Every condition that holds now, one row per prompt: `CANDIDATE_COLUMNS` less ``key``, plus ``id``,
    ``rule``, ``kind``, ``severity``, ``text_zh``, ``text_en``. Rules that could not be evaluated are named
    in ``t.skipped`` with the reason."""
    parts = []
    for rule in rules.active():
        c = HANDLERS[rule.kind](rule, t)
        if c is None or not len(c):
            continue
        c = c.reset_index(drop=True)
        c["severity"] = _severity(rule, c)
        fields = _TextFields(c)
        params = rule.params()
        c["text_zh"] = render(rule.text.zh, fields, params, len(c))
        c["text_en"] = render(rule.text.en, fields, params, len(c))
        c.insert(0, "kind", rule.kind)
        c.insert(0, "rule", rule.id)
        c.insert(0, "id", rule.id + ":" + c["key"].astype(str))
        parts.append(c)
    if not parts:
        empty = _frame(0)
        for col in ("id", "rule", "kind", "text_zh", "text_en"):
            empty[col] = pd.Series(dtype=object)
        return empty
    return pd.concat(parts, ignore_index=True).drop_duplicates("id")
