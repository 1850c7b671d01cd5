"""What is particular to each kind of record, one `KindHandler` each in `HANDLERS`; every other step of
ingest is the same for all kinds. A new kind is a table in `geo/data/fields.toml`, one entry here and its name
in `geo.store.TABLES`."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from geo.ingest.batch import Batch, reject_duplicates
from geo.ingest.report import Report
from geo.ingest.roads import after_roads_located, check_resources, check_roads
from geo.ingest.upsert import isin_text
from geo.store import Store


@dataclass(frozen=True)
class KindHandler:
    """One kind of record: how it is checked, located and stored.

    `geometry` says how its records are located: "point", one point each (another geometry gives its
    representative point, with a warning; lon/lat columns are stored beside it; a file of points or of lon/lat
    columns goes through coordinate arrays, see `IngestOptions.point_arrays`); "any", points, lines or
    polygons, joined by their geometry; "none", not located (an event belongs to an enterprise)."""

    kind: str  # its data contract (a table of geo/data/fields.toml) and its table in the store
    geometry: Literal["point", "any", "none"]
    check: Callable[[Batch, Store], Batch]  # its own checks once every value is parsed
    critical: frozenset[str]  # fields whose unreadable value rejects the row (elsewhere: a warning)
    key: str = "id"  # the upsert key: a stored record with an accepted record's key is replaced
    ids_given: bool = True  # rows name their ids (a repeated one rejected at parsing); False: `check` does it
    report_id: str | None = None  # the field naming a row in the report when its id is empty
    declared_county: str | None = None  # a field declaring the county, warned of when the location disagrees
    #: geometry types accepted (empty: any); a collection of one kind becomes its Multi* type, others rejected
    geometry_types: frozenset[str] = frozenset()
    #: a last look at the located records before they are stored (may reject some: returns those kept)
    after_locate: Callable[[Batch, Any], Any] | None = None


def check_enterprises(batch: Batch, store: Store) -> Batch:
    """The industry resolved to its catalogue code (`industry_code`); an unknown or missing one is warned of."""
    values, rep = batch.values.copy(deep=False), batch.report
    if "industry" not in values:
        values["industry_code"] = None
        return dataclasses.replace(batch, values=values)
    names = values["industry"]
    ids, uniques = pd.factorize(names)  # a few dozen distinct names: resolve each once
    resolved = [batch.catalogue.industry(u) for u in uniques]
    known = np.array([ind.code if ind else None for ind in resolved] + [None], dtype=object)
    codes = known[ids]  # code -1 (missing name) picks the trailing None
    values["industry_code"] = codes
    unknown = (ids >= 0) & pd.isna(codes)
    reasons = np.empty(len(names), dtype=object)
    reasons[unknown] = (
        "industry '" + names[unknown] + "' is not in the catalogue; the domain's default weight applies"
    ).to_numpy()
    rep.warn(unknown, "industry", reasons)
    rep.warn(names.isna().to_numpy(), "industry", "no industry given; the domain's default weight applies")
    return dataclasses.replace(batch, values=values)


def check_hazards(batch: Batch, store: Store) -> Batch:
    """Columns scoring reads, present (empty) when the file has none."""
    values = batch.values.copy(deep=False)
    for col in ("level", "population", "scale"):
        if col not in values:
            values[col] = None
    return dataclasses.replace(batch, values=values)


def check_events(batch: Batch, store: Store) -> Batch:
    """Each event's enterprise in the store, its dates in order, its grade (hidden dangers only; general when
    none is given), counts of the dead and injured (0 when none), and an id (derived from the row when the
    file gives none; ids unique)."""
    values, rep = batch.values.copy(deep=False), batch.report
    _reject_unknown_enterprises(values["enterprise_id"], rep, store)
    for col in ("severity", "due_date", "closed_date", "deaths", "injuries", "id"):
        if col not in values:
            values[col] = None if col not in ("due_date", "closed_date") else pd.NaT
    closed_early = (values["closed_date"] < values["found_date"]).fillna(False).to_numpy()
    rep.reject(closed_early, "closed_date", "closed (销号) before it was found (发现); check the dates")
    danger = (values["type"] == "hidden_danger").to_numpy()
    no_grade = danger & values["severity"].isna().to_numpy()
    rep.warn(no_grade, "severity", "hidden danger without a grade (隐患等级); treated as general (一般)")
    values.loc[no_grade, "severity"] = "general"
    values.loc[~danger, "severity"] = None
    for col in ("deaths", "injuries"):
        values[col] = values[col].astype("Int64").fillna(0)
    derived = values["id"].isna().to_numpy()
    if derived.any():
        values.loc[derived, "id"] = _event_ids(values, derived)
    reject_duplicates(values, rep, "id")
    return dataclasses.replace(batch, values=values)


def _reject_unknown_enterprises(ent: pd.Series, rep: Report, store: Store) -> None:
    known = store.read("enterprises", columns=["id"])["id"] if store.has("enterprises") else pd.Series([], dtype="str")
    unknown = ent.notna().to_numpy() & ~isin_text(ent, known)
    reasons = np.empty(len(ent), dtype=object)
    reasons[unknown] = (
        "no enterprise with id '" + ent[unknown] + "' in the store; ingest the enterprises first"
    ).to_numpy()
    rep.reject(unknown, "enterprise_id", reasons)


def _event_ids(values: pd.DataFrame, derived: np.ndarray) -> list[str]:
    """Ids for the `derived` events, from what each says: identical rows are distinct events (two same-day
    dangers at one unit), numbered in file order."""

    def text(col: str) -> pd.Series:
        series = values[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            series = series.dt.strftime("%Y-%m-%d")
        return series.astype(object).where(series.notna(), "").astype(str)

    basis = text("enterprise_id")
    for col in ("type", "found_date", "severity", "due_date", "closed_date", "deaths", "injuries"):
        basis = basis + "|" + text(col)
    basis = basis + "#" + basis.groupby(basis).cumcount().astype(str)
    return ["EV" + hashlib.sha1(b.encode("utf-8")).hexdigest()[:14] for b in basis[derived]]


HANDLERS: dict[str, KindHandler] = {
    "enterprises": KindHandler(
        "enterprises",
        geometry="point",
        check=check_enterprises,
        critical=frozenset({"id", "domain", "lon", "lat"}),
        declared_county="county_code",
    ),
    "hazards": KindHandler(
        "hazards",
        geometry="any",
        check=check_hazards,
        critical=frozenset({"id", "type", "found_date", "lon", "lat"}),
        geometry_types=frozenset(
            {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
        ),  # what every export format holds (a GeometryCollection has no Shapefile type)
    ),
    "events": KindHandler(
        "events",
        geometry="none",
        check=check_events,
        critical=frozenset({"id", "enterprise_id", "type", "found_date"}),
        ids_given=False,
        report_id="enterprise_id",
    ),
    "resources": KindHandler(
        "resources",
        geometry="point",
        check=check_resources,
        critical=frozenset({"id", "kind", "lon", "lat"}),
        declared_county="county_code",
    ),
    "roads": KindHandler(
        "roads",
        geometry="any",
        check=check_roads,
        critical=frozenset({"wkt"}),
        ids_given=False,
        geometry_types=frozenset({"LineString", "MultiLineString"}),
        after_locate=after_roads_located,
    ),
}
#: The kinds `ingest_file` accepts, in the order they are best ingested (events name enterprises).
KINDS: tuple[str, ...] = tuple(HANDLERS)
