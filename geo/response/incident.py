"""The incident briefing (事故/事件初报研判): what a duty officer needs in the first minute about a point, from
one snapshot. Where exactly (the regions); what nearby can make it worse (units and sites within the radius,
gravest first, major hazard sources and hazchem before the rest of a level, with what they hold); who gets
there first (responders by travel time, with staff and vehicles); where people can go (the nearest shelters
and their total capacity); what is stocked nearby (warehouses, depots); who knows the domains present
(experts). `GET /incident`, `riskmap incident`; `layers.incident` draws it as a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo.catalogue import RISK_LEVEL_RANK
from geo.crs import parse_crs, to_wgs84
from geo.near import near
from geo.values import plain

if TYPE_CHECKING:
    from geo.query import SnapshotReader
    from geo.response.nearest import ResourceIndex

DEFAULT_RADIUS_M = 1000.0
#: what the briefing says of a unit within the radius, besides the near-query fields (those present)
UNIT_DETAIL = ("major_hazard_level", "hazardous_processes", "workers", "address", "override", "lon", "lat")
#: responders listed (fastest first)
RESPONDERS = 10
#: warehouses, equipment depots, experts listed (each)
OTHERS = 5


def incident_payload(
    reader: SnapshotReader, lon: float, lat: float, radius_m: float = DEFAULT_RADIUS_M, crs: str = "wgs84"
) -> dict[str, Any]:
    spec = parse_crs(crs)
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, spec))
    found = near(reader.index_near(wlon, wlat, radius_m), wlon, wlat, radius_m, limit=10_000)
    regions = reader.regions_at(wlon, wlat)
    units = _ordered_units(reader, found["enterprises"])
    hazards = sorted(found["hazards"], key=lambda h: (RISK_LEVEL_RANK.get(h.get("risk_level"), 9), h["distance_m"]))
    domains = _domains_present(reader, units, hazards)
    index = reader.resources_near(wlon, wlat, domains)
    return {
        "query": {
            "lon": lon,
            "lat": lat,
            "crs": spec.name,
            "lon_wgs84": round(wlon, 7),
            "lat_wgs84": round(wlat, 7),
            "radius_m": radius_m,
            "as_of": str(reader.as_of),
            "snapshot": reader.snapshot.id,
        },
        "travel": {"method": index.method, "offroad_kmh": index.config.road.offroad_kmh},
        "regions": regions,
        "summary": {**found["summary"], "enterprises": len(units), "hazards": len(hazards), "domains": sorted(domains)},
        "enterprises": units,
        "hazards": hazards,
        **briefing_lists(index, wlon, wlat, reader.county_at(regions), domains),
    }


def briefing_lists(
    index: ResourceIndex, lon: float, lat: float, county: str | None, domains: set[str]
) -> dict[str, Any]:
    """The resources of a briefing at a WGS84 point, fastest first: responders (with staff and vehicles), the
    nearest shelters and their total capacity, warehouses, depots, experts of `domains`, hospitals."""
    minutes, dist = index.times(lon, lat, county)

    def fastest(sel: np.ndarray, n: int) -> np.ndarray:
        return index.ranked(lon, lat, minutes, dist, sel, n)

    experts = index.kind_rows.get("expert", np.zeros(0, dtype=np.int64))
    if "domain" in index.columns:  # the experts' domains only (not a test of every resource: 16 ms at 208,761)
        experts = experts[np.isin(index.columns["domain"][experts], list(domains))]
    else:
        experts = experts[:0]
    rows = {
        "responders": fastest(index.kind_mask(index.catalogue.responder_kinds()), RESPONDERS),
        "shelters": fastest(index.kind_mask(("shelter",)), index.config.near.shelters),
        "warehouses": fastest(index.kind_mask(("warehouse",)), OTHERS),
        "depots": fastest(index.kind_mask(("equipment_depot",)), OTHERS),
        "experts": fastest(experts, OTHERS),
        "hospitals": fastest(index.kind_mask(("hospital",)), OTHERS),
    }
    lists = dict(zip(rows, index.records_of(list(rows.values()), minutes, dist), strict=True))  # read at once
    shelters = lists["shelters"]
    return lists | {"shelters": {"nearest": shelters, "capacity": int(sum(s.get("capacity") or 0 for s in shelters))}}


def _ordered_units(reader: SnapshotReader, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units gravest first; within a level, major hazard sources and hazchem first, then by distance; each
    with what it holds (major hazard grade, key processes, workers)."""
    if not units:
        return []
    columns, detail = reader.unit_detail([u["id"] for u in units], UNIT_DETAIL)
    for u in units:
        held = detail.get(str(u["id"]))
        for c in columns:
            u[c] = None if held is None else plain(held[c])

    def key(u: dict[str, Any]) -> tuple:
        grade = u.get("major_hazard_level")
        major = grade is not None and not pd.isna(grade)
        return (
            RISK_LEVEL_RANK.get(str(u.get("risk_level")), 9),
            not major,
            u.get("domain") != "hazchem",
            u["distance_m"],
        )

    return sorted(units, key=key)


def _domains_present(reader: SnapshotReader, units: list[dict[str, Any]], hazards: list[dict[str, Any]]) -> set[str]:
    domains = {u["domain"] for u in units if isinstance(u.get("domain"), str)}
    site_domains = (reader.snapshot.model.hazards.domains or {}) if hazards else {}
    domains |= {site_domains[h["type"]] for h in hazards if h.get("type") in site_domains}
    return domains
