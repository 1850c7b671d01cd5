"""Prompts kept with the snapshots: evaluated at every build against the build before, stored, listed.

A build (`geo.build.build`) calls `stage` before it publishes: the rules are evaluated
(`geo.prompts.evaluate`) and reconciled with the previous build's open prompts:

* a condition that holds now and held before keeps its prompt (same id, its first-seen build and date);
* a condition that holds now for the first time opens a prompt, first seen in this build;
* an open prompt whose condition no longer holds (a danger rectified, a level back down, an accident out of
  its window) is closed: ``closed_build`` and ``closed_at`` are this build's.

The snapshot's ``prompts.parquet`` holds this build's open prompts and those it closed (older closed ones
are in the builds that closed them). It is written into the staging directory, so it is published
atomically with the snapshot; after publishing, `archive` hard-links it to ``STORE/prompts/<snapshot
id>.parquet``, which pruning old snapshots does not remove, so the prompts of any past build can be listed
(`read_build`). A build column left empty (``first_seen_build``, ``closed_build``, ``last_seen_build``)
means "this build": the snapshot's id is only known once it is published; readers fill it in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import InputRejected, StoreEmpty, StoreError, UnitNotFound
from geo.prompts.evaluate import Previous, Tables, evaluate
from geo.prompts.rules import SEVERITIES, AlertRules, load_rules
from geo.store import Store
from geo.values import member, positions, take

__all__ = ["FILE", "archive", "read_build", "read_prompts", "records", "select", "stage", "write"]

FILE = "prompts.parquet"
ARCHIVE = "prompts"
LEDGER_COLUMNS = ("status", "first_seen_build", "first_seen", "last_seen_build", "closed_build", "closed_at", "as_of")
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}


# ------------------------------------------------------------------------------------------------ build side
PLACE_COLUMNS = ["adcode", "name", "admin_level", "parent_adcode", "geometry"]


def places(boundaries: pd.DataFrame) -> pd.DataFrame:
    """Every region's name, a point inside it (lon, lat) and its province, city and county adcodes (itself
    at its own level), found by following parent codes level by level."""
    import shapely

    b = boundaries[PLACE_COLUMNS].reset_index(drop=True)
    pts = shapely.point_on_surface(np.asarray(b["geometry"].to_numpy(), dtype=object))
    out = b[["adcode", "name"]].assign(lon=shapely.get_x(pts), lat=shapely.get_y(pts))
    level_of = b.set_index("adcode")["admin_level"]
    parent_of = b.set_index("adcode")["parent_adcode"]
    code = b["adcode"].astype(object)
    for lvl in ("province", "city", "county"):
        out[f"{lvl}_adcode"] = None
    for _ in range(8):  # deeper than any admin hierarchy
        lvl = code.map(level_of)
        for name in ("province", "city", "county"):
            hit = (lvl == name).to_numpy()
            out.loc[hit, f"{name}_adcode"] = code[hit].to_numpy()
        code = code.map(parent_of)
        if code.isna().all():
            break
    return out


def _previous(store: Store, records: Path | None = None) -> tuple[Previous | None, pd.DataFrame | None]:
    """The published build (the one this build follows) and the region indices of the kept builds. When it
    scored the same records file as this build (`records`: the file this build scores), its unit ids are
    this build's and are not read again."""
    from geo.snapshot import current

    try:
        snap = current(store)
    except (StoreEmpty, StoreError):
        return None, None
    prompts = read_prompts(snap)
    same = records is not None and _same_file(snap.path / "records.parquet", records)
    prev = Previous(
        as_of=snap.as_of,
        units=snap.units(columns=["risk_level", "risk_score"] if same else ["id", "risk_level", "risk_score"]),
        hazards=snap.hazards(columns=["id", "risk_level", "risk_score"]),
        regions=snap.region_levels(["adcode", "domain", "risk_level", "risk_index"]),
        prompts=prompts.loc[prompts["status"] == "open"] if len(prompts) else prompts,
        same_units=same,
    )
    return prev, snap.index_history()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def reconcile(now: pd.DataFrame, before: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    """This build's prompt table from the conditions that hold now and the previous build's open prompts."""
    day = as_of.isoformat()
    now = now.copy()
    now["status"] = "open"
    now["first_seen_build"], now["first_seen"] = None, day
    now["last_seen_build"], now["closed_build"], now["closed_at"] = None, None, None
    if before is not None and len(before):
        at = positions(now["id"], before["id"])  # an id's first row in the build before, -1 if new
        held = at >= 0
        for col in ("first_seen_build", "first_seen"):
            now.loc[held, col] = take(before[col], at[held])
        gone = before.loc[~member(before["id"], now["id"])].copy()
        gone["status"], gone["closed_build"], gone["closed_at"] = "closed", None, day
        now = pd.concat([now, gone[[c for c in now.columns if c in gone.columns]]], ignore_index=True)
    now["as_of"] = day
    return order(now)


def order(frame: pd.DataFrame) -> pd.DataFrame:
    """Open before closed, gravest first, newest first, then by id."""
    if not len(frame):
        return frame.reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "s": (frame["status"] != "open").to_numpy(),
            "v": frame["severity"].map(_SEV_RANK).fillna(9).to_numpy(),
            "f": frame["first_seen"].fillna("").to_numpy(),
            "i": frame["id"].to_numpy(),
        }
    )
    idx = keys.sort_values(["s", "v", "f", "i"], ascending=[True, True, False, True], kind="stable").index
    return frame.iloc[idx].reset_index(drop=True)


def stage(
    store: Store,
    *,
    as_of: date,
    units: pd.DataFrame,
    hazards: pd.DataFrame,
    regions: pd.DataFrame,
    rules: AlertRules | None = None,
    rules_source: str = "default",
    events: pd.DataFrame | None = None,
    records: Path | None = None,
    boundaries: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate the rules on a build about to be published: the prompt table to store with it, and what the
    snapshot's meta records of it (rules, counts, skipped rules). `events`: the store's events as the build
    read them for scoring (read here when not given). `records`: the records file `units` were read from
    (the snapshot's ``records.parquet``), when there is one. `boundaries`: the store's, when the build has
    read them (read here when not given: all of China takes 2 s)."""
    used = rules or load_rules()
    prev, history = _previous(store, records)
    if events is None and store.has("events"):
        events = store.read("events")
    tables = Tables(
        as_of=as_of,
        units=units,
        hazards=hazards,
        regions=regions,
        events=events if events is not None else pd.DataFrame(),
        places=places(boundaries if boundaries is not None else store.read("boundaries", columns=PLACE_COLUMNS)),
        previous=prev,
        index_history=history,
    )
    table = reconcile(evaluate(used, tables), prev.prompts if prev is not None else None, as_of)
    opened = table.loc[table["status"] == "open"]
    return table, {
        "rules": used.to_dict(),
        "rules_source": rules_source,
        "rules_fingerprint": used.fingerprint(),
        "previous": None if prev is None else prev.as_of.isoformat(),
        "open": {r.id: int((opened["rule"] == r.id).sum()) for r in used.active()},
        "new": int((opened["first_seen_build"].isna() & (opened["first_seen"] == as_of.isoformat())).sum()),
        "closed": int((table["status"] == "closed").sum()),
        "skipped": dict(tables.skipped),
    }


def write(table: pd.DataFrame, path: Path) -> None:
    """The prompt table of a build into its staging directory (``prompts.parquet``)."""
    table.to_parquet(path, index=False, compression="zstd")


def archive(store: Store, snap_id: str, snap_path: Path) -> None:
    """Keep the snapshot's prompt table beyond the snapshot's own life (a hard link; a copy if impossible)."""
    src = snap_path / FILE
    if not src.exists():
        return
    dst = store.root / ARCHIVE / f"{snap_id}.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except FileExistsError:
        return
    except OSError:
        shutil.copyfile(src, dst)


# ------------------------------------------------------------------------------------------------ read side
def _fill_builds(frame: pd.DataFrame, snap_id: str) -> pd.DataFrame:
    frame["first_seen_build"] = frame["first_seen_build"].fillna(snap_id)
    frame["last_seen_build"] = frame["last_seen_build"].fillna(snap_id)
    closed = frame["status"] == "closed"
    frame.loc[closed, "closed_build"] = frame.loc[closed, "closed_build"].fillna(snap_id)
    frame["build"] = snap_id
    return frame


def read_prompts(snapshot: Any) -> pd.DataFrame:
    """A snapshot's prompts (open, and closed by this build), with every build column filled in; empty for
    a snapshot built before prompts existed."""
    raw = snapshot.raw_prompts()
    if raw is None:
        return pd.DataFrame(columns=["id", "rule", "severity", "status", "first_seen", "closed_at"])
    return _fill_builds(raw, snapshot.id)


def builds(store: Store) -> list[str]:
    """Ids of every build whose prompts are kept (archived or in a kept snapshot), oldest first."""
    if store.backend == "postgis":
        from geo.pgsnapshot import prompt_builds

        return prompt_builds(store)
    names = {p.stem for p in (store.root / ARCHIVE).glob("*.parquet")} if (store.root / ARCHIVE).is_dir() else set()
    snaps = store.root / "snapshots"
    if snaps.is_dir():
        names |= {p.name for p in snaps.iterdir() if (p / FILE).exists()}
    return sorted(names)


def read_build(store: Store, build_id: str) -> pd.DataFrame:
    """The prompts of any build kept, by snapshot id."""
    if store.backend == "postgis":
        from geo.pgsnapshot import read_prompt_build

        frame = read_prompt_build(store, build_id)
        if frame is not None:
            return _fill_builds(frame, build_id)
        raise UnitNotFound(
            f"no prompts of build {build_id!r} in {store.label}; builds with prompts: {_tail(builds(store))}"
        )
    for path in (store.root / "snapshots" / build_id / FILE, store.root / ARCHIVE / f"{build_id}.parquet"):
        if path.exists():
            return _fill_builds(pd.read_parquet(path), build_id)
    raise UnitNotFound(f"no prompts of build {build_id!r} in {store.root}; builds with prompts: {_tail(builds(store))}")


def _tail(names: list[str]) -> str:
    return ", ".join(names[-5:]) or "none yet (run `riskmap build`)"


def _severities(text: str | None, rules: AlertRules) -> set[str] | None:
    """`text` names a severity (code or zh/en label): it and every graver one."""
    if not text:
        return None
    want = text.strip().lower()
    for i, code in enumerate(SEVERITIES):
        label = rules.severities[code]  # type: ignore[index]
        if want in (code, label.zh, label.en.lower()):
            return set(SEVERITIES[: i + 1])
    raise InputRejected(f"severity={text!r}: use one of {', '.join(SEVERITIES)} (or 紧急, 重要, 一般)")


def select(
    frame: pd.DataFrame,
    *,
    since: date | None = None,
    region: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    rules: AlertRules | None = None,
) -> pd.DataFrame:
    """Prompts that changed on or after `since` (first seen or closed), belong to `region` (its province,
    city or county adcode, or the region itself), are `severity` or graver, and have `status` (open, closed
    or all, the default)."""
    if status not in (None, "", "all", "open", "closed"):
        raise InputRejected(f"status={status!r}: use open, closed or all")
    out = frame
    if len(out) == 0:
        return out
    if status in ("open", "closed"):
        out = out.loc[out["status"] == status]
    if since is not None:
        day = since.isoformat()
        out = out.loc[(out["first_seen"].fillna("") >= day) | (out["closed_at"].fillna("") >= day)]
    if region:
        cols = [c for c in ("province_adcode", "city_adcode", "county_adcode", "target_id") if c in out]
        out = out.loc[np.logical_or.reduce([(out[c] == region).to_numpy() for c in cols])]
    sev = _severities(severity, rules or load_rules())
    if sev is not None:
        out = out.loc[out["severity"].isin(sev)]
    return order(out)


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return round(float(v), 6)
    return v


EVIDENCE = ("before", "after", "value_before", "value_after", "before_date", "count", "days", "event_id")
EVIDENCE_MORE = ("event_date", "due_date", "deaths", "injuries", "grade")


def records(frame: pd.DataFrame, rules: AlertRules | None = None) -> list[dict[str, Any]]:
    """Prompts as JSON-ready dicts (what `/alerts` and `riskmap alerts --json` print)."""
    used = rules or load_rules()
    out = []
    for rec in frame.to_dict(orient="records"):  # prompts, not units: hundreds, at most thousands
        r = {k: _clean(v) for k, v in rec.items()}
        evidence = {k: r.get(k) for k in (*EVIDENCE, *EVIDENCE_MORE) if r.get(k) is not None}
        out.append(
            {
                "id": r["id"],
                "rule": r["rule"],
                "kind": r["kind"],
                "severity": r["severity"],
                "severity_label": {lang: used.severity_label(r["severity"], lang) for lang in ("zh", "en")},
                "status": r["status"],
                "target": {k: r.get(k) for k in ("target_kind", "target_id", "name", "domain", "admin_level")}
                | {"unit_id": r.get("unit_id"), "lon": r.get("lon"), "lat": r.get("lat")},
                "regions": {lvl: r.get(f"{lvl}_adcode") for lvl in ("province", "city", "county")},
                "evidence": evidence,
                "text": {"zh": r.get("text_zh"), "en": r.get("text_en")},
                "first_seen": {"build": r.get("first_seen_build"), "date": r.get("first_seen")},
                "closed": None
                if r["status"] != "closed"
                else {"build": r.get("closed_build"), "date": r.get("closed_at")},
                "build": r.get("build"),
                "as_of": r.get("as_of"),
            }
        )
    return out


def counts(frame: pd.DataFrame, by: Iterable[str] = ("severity",)) -> dict[str, int]:
    if not len(frame):
        return {}
    col = next(iter(by))
    return {str(k): int(v) for k, v in frame[col].value_counts().items()}
