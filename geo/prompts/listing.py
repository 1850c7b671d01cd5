"""The one listing of prompts that `GET /alerts`, `riskmap alerts` and the feeds share."""

from __future__ import annotations

from datetime import date
from typing import Any

from geo.errors import UnitNotFound
from geo.prompts.ledger import read_build, read_prompts, records, select
from geo.prompts.rules import SEVERITIES, load_rules
from geo.store import Store

__all__ = ["listing"]


def listing(
    store: Store,
    *,
    snapshot: Any = None,
    build: str | None = None,
    since: date | None = None,
    region: str | None = None,
    severity: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The prompts of `build` (a snapshot id), else of `snapshot`, else of the published build, filtered
    (see `geo.prompts.ledger.select`), as a JSON-ready document."""
    rules = load_rules()
    if build:
        frame = read_build(store, build)
        as_of = str(frame["as_of"].iloc[0]) if len(frame) else build.rpartition("-asof-")[2]
        build_id = build
    else:
        if snapshot is None:
            from geo.snapshot import current

            snapshot = current(store)
        frame = read_prompts(snapshot)
        as_of, build_id = snapshot.as_of.isoformat(), snapshot.id
    if region and store.has("boundaries") and region not in set(store.read("boundaries", columns=["adcode"])["adcode"]):
        raise UnitNotFound(
            f"region={region!r}: no such adcode in {store.root}; list them with `riskmap boundaries list`"
        )
    sel = select(frame, since=since, region=region, severity=severity, status=status, rules=rules)
    items = records(sel, rules)
    by_sev = {s: 0 for s in SEVERITIES}
    for p in items:
        by_sev[p["severity"]] += 1
    return {
        "build": build_id,
        "as_of": as_of,
        "filters": {
            "since": since.isoformat() if since else None,
            "region": region,
            "severity": severity,
            "status": status or "all",
        },
        "count": len(items),
        "counts": {"severity": by_sev, "open": sum(p["status"] == "open" for p in items)},
        "prompts": items,
    }
