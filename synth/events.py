"""Events: hidden dangers (with due and closed dates), accidents and alarms, weighted towards risky enterprises."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from synth.values import masked_int

#: Chinese headers of events.csv, in file order.
EVENT_COLUMNS: tuple[str, ...] = (
    "事件编号",
    "企业编号",
    "类型",
    "隐患等级",
    "发现日期",
    "整改期限",
    "销号日期",
    "死亡人数",
    "受伤人数",
)


def _iso(days: np.ndarray) -> np.ndarray:
    """datetime64[D] -> 'YYYY-MM-DD', NaT -> ''."""
    text = np.datetime_as_string(days, unit="D").astype(object)
    text[np.isnat(days)] = ""
    return text


def _hidden_danger_dates(
    rng: np.random.Generator, found: np.ndarray, major: np.ndarray, end: np.datetime64
) -> tuple[np.ndarray, np.ndarray]:
    """Due and closed dates: most closed before the due date, some late, some still open at `end`."""
    n = len(found)
    allowed = np.where(major, rng.integers(30, 181, n), rng.integers(7, 46, n))
    due = found + allowed.astype("timedelta64[D]")
    u = rng.random(n)
    on_time = found + (rng.random(n) * (allowed + 1)).astype(np.int64).astype("timedelta64[D]")
    late = due + rng.integers(1, 91, n).astype("timedelta64[D]")
    closed = np.where(u < 0.84, on_time, np.where(u < 0.96, late, np.datetime64("NaT")))
    closed = np.where(closed > end, np.datetime64("NaT"), closed).astype("datetime64[D]")
    return due, closed


def _recent_changes(rng: np.random.Generator, frame: pd.DataFrame, end: np.datetime64) -> pd.DataFrame:
    """What makes the demo's monthly builds differ in every way the prompts look for: bursts of monitoring
    alarms in the last week at a few units, and in the county with the most enterprises new open major
    hidden dangers found in each of the last three months (its index rises build after build)."""
    n_burst = max(3, len(frame) // 2000)
    burst = rng.choice(len(frame), size=min(n_burst, len(frame)), replace=False)
    alarm_who = np.repeat(burst, 4)
    alarm_day = end - rng.integers(0, 6, len(alarm_who)).astype("timedelta64[D]")
    county = frame["county_code"].value_counts().index[0]
    members = np.flatnonzero(frame["county_code"].to_numpy() == county)
    hot = rng.choice(members, size=min(9, len(members)), replace=False)
    danger_day = end - np.repeat(np.array([75, 45, 15]), 3)[: len(hot)].astype("timedelta64[D]")
    who = np.concatenate([alarm_who, hot])
    found = np.concatenate([alarm_day, danger_day]).astype("datetime64[D]")
    danger = np.arange(len(who)) >= len(alarm_who)
    due = found + np.timedelta64(120, "D")
    empty = np.full(len(who), "", dtype=object)
    return pd.DataFrame(
        {
            "事件编号": "",
            "企业编号": frame["id"].to_numpy()[who],
            "类型": np.where(danger, "隐患", "报警"),
            "隐患等级": np.where(danger, "重大", ""),
            "发现日期": _iso(found),
            "整改期限": np.where(danger, _iso(due), ""),
            "销号日期": empty,
            "死亡人数": empty,
            "受伤人数": empty,
        }
    )


def event_table(
    rng: np.random.Generator, frame: pd.DataFrame, n: int, start: date, end: date, unknown_id: str
) -> pd.DataFrame:
    """Hidden dangers, accidents and alarms, riskier (and bigger) enterprises getting more."""
    weight = np.exp(3.0 * frame["_risk"].to_numpy()) * frame["workers"].to_numpy() ** 0.3
    who = rng.choice(len(frame), size=n, p=weight / weight.sum())
    kind = rng.choice(np.array(["隐患", "报警", "事故"], dtype=object), size=n, p=[0.84, 0.14, 0.02])
    end_d = np.datetime64(end, "D")
    span = (end - start).days
    found = np.datetime64(start, "D") + rng.integers(0, span + 1, n).astype("timedelta64[D]")
    danger = kind == "隐患"
    major = danger & (rng.random(n) < 0.03 + 0.03 * frame["_risk"].to_numpy()[who])
    due, closed = _hidden_danger_dates(rng, found, major, end_d)
    nat = np.datetime64("NaT", "D")
    accident = kind == "事故"
    deaths = rng.choice([0, 1, 2, 3, 5], size=n, p=[0.9, 0.07, 0.02, 0.007, 0.003])
    injuries = rng.choice([0, 1, 2, 3, 5, 12], size=n, p=[0.55, 0.3, 0.08, 0.04, 0.02, 0.01])
    order = np.argsort(found, kind="stable")
    events = pd.DataFrame(
        {
            "事件编号": "",
            "企业编号": frame["id"].to_numpy()[who],
            "类型": kind,
            "隐患等级": np.where(danger, np.where(major, "重大", "一般"), ""),
            "发现日期": _iso(found),
            "整改期限": _iso(np.where(danger, due, nat)),
            "销号日期": _iso(np.where(danger, closed, nat)),
            "死亡人数": masked_int(deaths, accident),
            "受伤人数": masked_int(injuries, accident),
        }
    ).iloc[order]
    events = pd.concat([events, _recent_changes(rng, frame, end_d)], ignore_index=True)
    bad = pd.DataFrame([{**events.iloc[len(events) // 2].to_dict(), "企业编号": unknown_id}]) if len(events) else None
    events = pd.concat([events, bad], ignore_index=True) if bad is not None else events.reset_index(drop=True)
    events["事件编号"] = [f"EV{i:08d}" for i in range(1, len(events) + 1)]
    return events[list(EVENT_COLUMNS)]
