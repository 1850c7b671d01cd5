"""Why a region or a unit has its level: the stored explanation of a snapshot, or one computed for another
date (or another model) — always with the model the numbers were scored with, so a breakdown adds up to
the score beside it."""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from geo.catalogue import LEVELS
from geo.errors import UnitNotFound
from geo.scoring.model import ScoringModel, load_model
from geo.values import plain as _plain

if TYPE_CHECKING:
    from geo.snapshot import Snapshot

UNIT_FIELDS = ("id", "name", "domain", "industry", "county_adcode", "risk_score", "risk_level", "override", "method")


class Tables(Protocol):
    """Scored tables of one date: a snapshot's, a dated view's (`geo.build.Computed`) or a loaded reader's."""

    @property
    def regions(self) -> pd.DataFrame: ...
    @property
    def units(self) -> pd.DataFrame: ...
    @property
    def hazards(self) -> pd.DataFrame: ...


class _Stored:
    """A snapshot's stored tables, each read on first use (explaining a region never reads the units)."""

    def __init__(self, snap: Snapshot):
        self._snap = snap

    @cached_property
    def regions(self) -> pd.DataFrame:
        return self._snap.regions()

    @cached_property
    def units(self) -> pd.DataFrame:
        return self._snap.units()

    @cached_property
    def hazards(self) -> pd.DataFrame:
        return self._snap.hazards()


def explain(
    snap: Snapshot, target: str, *, as_of: date | None = None, model_path: Path | None = None
) -> dict[str, Any]:
    """Explanation of a region (by adcode) or an enterprise / hazard site (by id) in `snap`: its stored
    numbers, or (another `as_of`, or another model file) numbers computed with the snapshot's own model or
    the one given."""
    if (as_of is None or as_of == snap.as_of) and model_path is None:
        return explain_in(_Stored(snap), snap, snap.model, snap.as_of, target)
    model = snap.model if model_path is None else load_model(model_path)
    used = as_of or snap.as_of
    return explain_in(snap.dated(used, model), snap, model, used, target)


def explain_in(tables: Tables, snap: Snapshot, model: ScoringModel, used: date, target: str) -> dict[str, Any]:
    """Explanation of `target` from `tables`, scored as of `used` with `model` (from `snap`'s store)."""
    if (tables.regions["adcode"] == target).any():
        out = _region(tables.regions, target, used)
    elif len(tables.units) and (hit := tables.units["id"] == target).any():
        out = _unit(snap, tables.units.loc[hit].iloc[0], used, model)
    elif len(tables.hazards) and (hit := tables.hazards["id"] == target).any():
        hazards = tables.hazards
        row = hazards.loc[hit].iloc[0]
        attrs = {c: _plain(row[c]) for c in hazards.columns if c != hazards.geometry.name}
        out = {"kind": "hazard", "as_of": str(used), **attrs}
    else:
        raise UnitNotFound(f"{target!r} is neither a region adcode nor an enterprise or hazard site id in the build")
    return {**out, "snapshot": snap.id, "model_fingerprint": model.fingerprint()}


def _region(regions: pd.DataFrame, adcode: str, used: date) -> dict[str, Any]:
    rows = regions.loc[regions["adcode"] == adcode]
    total = rows.loc[rows["domain"] == "all"].iloc[0]
    domains = {
        r.domain: {"risk_level": r.risk_level, "risk_index": float(r.risk_index), "n_units": int(r.n_units)}
        for r in rows.loc[rows["domain"] != "all"].itertuples()
    }
    counts = {k: int(total[f"n_{k}_units"]) for k in LEVELS}  # enterprises: they sum to n_units
    site_counts = {k: int(total[f"n_{k}_sites"]) for k in LEVELS}  # open hazard sites: they sum to n_hazards
    return {
        "kind": "region",
        "as_of": str(used),
        "adcode": adcode,
        "name": total["name"],
        "admin_level": total["admin_level"],
        "risk_level": total["risk_level"],
        "risk_level_zh": total.get("risk_level_zh"),
        "risk_index": float(total["risk_index"]),
        "counts": counts,
        "n_units": int(total["n_units"]),
        "site_counts": site_counts,
        "n_hazards": int(total["n_hazards"]),
        "rules": list(total["rules"]),
        "domains": domains,
        "explanation": total["explanation"],
    }


def _unit(snap: Snapshot, row: pd.Series, used: date, model: ScoringModel) -> dict[str, Any]:
    from geo.build import empty_events
    from geo.scoring.units import explain_unit

    store = snap.store
    events = store.read("events") if store.has("events") else empty_events()
    detail = explain_unit(row, events, used, model, snap.catalogue)
    base = {c: _plain(row.get(c)) for c in UNIT_FIELDS}
    return {"kind": "enterprise", "as_of": str(used), **base, "breakdown": detail}


def format_text(data: dict[str, Any]) -> str:
    """A terminal rendering of `explain`'s result."""
    import json

    if data["kind"] == "region":
        lines = [
            f"{data['name']} ({data['adcode']}, {data['admin_level']}) as of {data['as_of']}: "
            f"{data['risk_level']} {data.get('risk_level_zh') or ''}, index {data['risk_index']:.1f}",
            "enterprises by level: "
            + ", ".join(f"{k} {v}" for k, v in data["counts"].items())
            + f" ({data['n_units']}); open hazard sites by level: "
            + ", ".join(f"{k} {v}" for k, v in data["site_counts"].items())
            + f" ({data['n_hazards']})",
        ]
        lines += [f"rule: {r}" for r in data["rules"]] or ["rules: none fired"]
        lines.append(
            "domains: "
            + ", ".join(
                f"{d} {v['risk_level']} ({v['risk_index']:.1f}, {v['n_units']} units)"
                for d, v in data["domains"].items()
            )
        )
        top = (data.get("explanation") or {}).get("top") or []
        if top:
            lines.append("top contributors:")
            lines += [
                f"  {u.get('id')}  {u.get('name')}  {u.get('domain')}  {u.get('level')}  "
                f"score {u.get('score')}  contribution {u.get('contribution')}"
                for u in top[:10]
            ]
        return "\n".join(lines)
    if data["kind"] == "enterprise":
        return _unit_text(data)
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _unit_text(data: dict[str, Any]) -> str:
    b = data.get("breakdown") or {}
    lines = [
        f"{data.get('name')} ({data['id']}, {data.get('domain')}, {data.get('industry') or 'no industry'}, "
        f"county {data.get('county_adcode')}) as of {data['as_of']}:",
        f"  score {data.get('risk_score')} → {b.get('computed_level')} by {b.get('method')}; "
        f"level {data.get('risk_level')}" + (f" (override: {data['override']})" if data.get("override") else ""),
        "  contributions (points): "
        + ", ".join(f"{k} {v:+.1f}" for k, v in (b.get("contributions") or {}).items() if v),
    ]
    dyn = b.get("dynamic") or {}
    hd, acc, al = dyn.get("hidden_dangers", {}), dyn.get("accidents", {}), dyn.get("alarms", {})
    lines.append(
        f"  control factor {(b.get('control') or {}).get('factor')}; dynamic factor {dyn.get('factor')}: "
        f"open dangers {hd.get('open_general', 0)} general / {hd.get('open_major', 0)} major "
        f"({hd.get('overdue', 0)} overdue), accidents in {acc.get('window_days')} days {acc.get('count', 0)} "
        f"({acc.get('deaths', 0)} dead, {acc.get('injuries', 0)} injured), alarms in {al.get('window_days')} days "
        f"{al.get('count', 0)}"
    )
    lines.append(f"  thresholds: {b.get('thresholds')}")
    return "\n".join(lines)
