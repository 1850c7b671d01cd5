"""Build: score every unit, site and region as of a date, and publish a snapshot.

`compute` does the work in memory (used by `trend` and `explain` for dates other than the published one);
`build` computes and publishes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from geo.boundaries import EQUAL_AREA
from geo.catalogue import LEVELS, RISK_LEVEL_RANK, load_catalogue
from geo.errors import StoreEmpty
from geo.prompts import archive as archive_prompts
from geo.prompts import load_rules
from geo.prompts import stage as stage_prompts
from geo.prompts.ledger import FILE as PROMPTS_FILE
from geo.prompts.ledger import write as write_prompts
from geo.response.config import ResponseConfig, load_response
from geo.response.coverage import UNIT_COLUMNS as RESCUE_COLUMNS
from geo.response.coverage import EstimateRouter, Rescue, rescue_coverage, rescue_router
from geo.scoring.hazards import score_hazards
from geo.scoring.model import ScoringModel, load_model
from geo.scoring.regions import closed_sites, region_grid, regional_levels
from geo.scoring.units import OUTPUT_COLUMNS as UNIT_SCORE_COLUMNS
from geo.scoring.units import score_enterprises, with_scores
from geo.snapshot import Snapshot, discard, publish, stage_records
from geo.store import Store, checkpoint, write_parquet

SCORE_COLUMNS = (frozenset(UNIT_SCORE_COLUMNS) | frozenset(RESCUE_COLUMNS)) - {"id"}
EVENT_COLUMNS = [
    "id",
    "enterprise_id",
    "type",
    "severity",
    "found_date",
    "due_date",
    "closed_date",
    "deaths",
    "injuries",
]


@dataclass
class Computed:
    as_of: date
    model: ScoringModel
    units: pd.DataFrame  # a GeoDataFrame from `compute`; from `build`, the attributes only
    hazards: gpd.GeoDataFrame
    regions: pd.DataFrame
    model_path: str
    rescue: Rescue | None = None  # the rescue circle, when the store holds responders
    resources: pd.DataFrame | None = None  # the store's resources as the build read them (once)


def boundaries_with_area(store: Store) -> gpd.GeoDataFrame:
    b = store.read("boundaries")
    b["area_km2"] = b.to_crs(EQUAL_AREA).area.to_numpy() / 1e6
    return b


def empty_events() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    for c in ("found_date", "due_date", "closed_date"):
        frame[c] = pd.Series(dtype="datetime64[ns]")
    for c in ("deaths", "injuries"):
        frame[c] = pd.Series(dtype="Int64")
    return frame


def _read_optional(store: Store, name: str) -> pd.DataFrame | None:
    return store.read(name) if store.has(name) else None


def compute(
    store: Store, as_of: date, model_path: Path | None = None, *, model: ScoringModel | None = None
) -> Computed:
    """Score everything as of `as_of` in memory with `model` (else the file `model_path`, else the store's
    calibrated model, else the default); `units` and `hazards` are GeoDataFrames. A published snapshot's dated
    view is `Snapshot.dated`."""
    _require_enterprises(store)
    enterprises = store.read("enterprises")
    path = model_path or store.calibrated_model()
    used = model or load_model(path)
    resources = _read_optional(store, "resources")
    scored, hazards, regions, rescue = _score(store, enterprises, as_of, used, resources=resources)
    units = gpd.GeoDataFrame(scored, geometry="geometry", crs="EPSG:4326")
    source = "given" if model is not None else str(path or "default")
    return Computed(as_of, used, units, hazards, regions, source, rescue)


def _require_enterprises(store: Store) -> None:
    if not store.has("enterprises"):
        raise StoreEmpty(f"store {store.label} has no enterprises; run `riskmap ingest FILE --kind enterprises` first")


def _score(
    store: Store,
    enterprises: pd.DataFrame,
    as_of: date,
    model: ScoringModel,
    response: ResponseConfig | None = None,
    events: pd.DataFrame | None = None,
    scorer: Callable[..., pd.DataFrame] = score_enterprises,
    resources: pd.DataFrame | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame, Rescue | None]:
    """Unit scores (the records with their score columns, replacing any stale ones), scored hazard sites,
    the rescue circle (minutes from the nearest responder on every unit and site) and regional levels.
    `events`: the store's when the caller has read them already; `resources`: the store's (read by the caller,
    which also keeps them in the snapshot). `scorer`: what scores the units
    (`score_enterprises` here, or a `geo.engine.DaskEngine` on a cluster: the same frame); an engine with
    `score_and_tally` also tallies the units into the regional grid where it scores them. `boundaries`: the
    store's, with their areas (`boundaries_with_area`), when the caller has read them already."""
    catalogue = load_catalogue()
    events = events if events is not None else _read_optional(store, "events")
    events = empty_events() if events is None else events
    boundaries = boundaries if boundaries is not None else boundaries_with_area(store)
    response = response or load_response()
    roads = _read_optional(store, "roads")
    router = rescue_router(resources, roads, boundaries, response, catalogue)
    score_and_tally = getattr(scorer, "score_and_tally", None)
    # an engine that scores elsewhere also tallies the units there, and times them by the estimate (one road
    # search for every unit stays here); the coping term reads the times, so without them it tallies here
    sent = router if isinstance(router, EstimateRouter) else None
    unit_tally, unit_times = None, None
    if score_and_tally is not None and (model.region.coping.lack == 0 or router is None or sent is not None):
        grid = region_grid(boundaries, model, catalogue)
        scores, unit_tally, unit_times = score_and_tally(enterprises, events, as_of, model, catalogue, grid, sent)
    else:
        scores = scorer(enterprises, events, as_of, model, catalogue)
    units = with_scores(enterprises, scores, RESCUE_COLUMNS)
    hazards = _read_optional(store, "hazards")
    if hazards is None:
        hazards = gpd.GeoDataFrame(
            {"id": [], "name": [], "type": [], "level": [], "population": [], "scale": [], "status": []},
            geometry=[],
            crs="EPSG:4326",
        )
        for level in ("province", "city", "county"):
            hazards[f"{level}_adcode"] = pd.Series(dtype=object)
    hz_scores = score_hazards(hazards, model, catalogue).reset_index(drop=True)
    hazards = hazards.reset_index(drop=True)
    hazards = gpd.GeoDataFrame(
        pd.concat([hazards, hz_scores.drop(columns=["id"])], axis=1), geometry="geometry", crs="EPSG:4326"
    )
    rescue = rescue_coverage(
        units,
        hazards,
        resources,
        roads,
        boundaries,
        response,
        catalogue,
        closed_sites(hazards, model),
        router=router,
        unit_times=unit_times,
        cache=store.cache_dir,
    )
    if rescue is not None:
        units = pd.concat([units, rescue.units], axis=1)
        hazards = gpd.GeoDataFrame(
            pd.concat([hazards.drop(columns=list(RESCUE_COLUMNS), errors="ignore"), rescue.sites], axis=1),
            geometry="geometry",
            crs="EPSG:4326",
        )
    regions = regional_levels(units, hazards, boundaries, model, unit_tally=unit_tally)
    return units, hazards, regions, rescue


def build(
    store: Store,
    as_of: date,
    model_path: Path | None = None,
    *,
    alerts_path: Path | None = None,
    engine: Callable[..., pd.DataFrame] | None = None,
) -> tuple[Snapshot, Computed]:
    """Compute, evaluate the prompt rules (`geo.prompts`, the file `alerts_path` else the default) against
    the build before, and publish. The unit records never become geometry objects, and are not copied: the snapshot
    links the store's enterprise file as it is and adds a table of score columns (see `geo.snapshot`; a
    PostgreSQL store copies them in the database, `geo.pgsnapshot`). `Computed.units` is therefore a plain
    DataFrame without geometry. `engine`: what scores the units (default: in this process; `geo.engine`)."""
    _require_enterprises(store)
    scorer = engine or score_enterprises
    if store.backend == "postgis":
        from geo.pgsnapshot import build_pg

        return build_pg(store, as_of, model_path, alerts_path=alerts_path, scorer=scorer)
    staging = stage_records(store)
    try:
        checkpoint("build:staged")
        enterprises = _read_records(staging / "records.parquet")
        result, meta, scores, prompts = score_build(
            store, enterprises, as_of, model_path, alerts_path, records=staging / "records.parquet", scorer=scorer
        )
        write_prompts(prompts, staging / PROMPTS_FILE)
        _stage_rescue(store, staging, result)
        with store.lock():
            snap = publish(store, scores, result.hazards, result.regions, meta, staging=staging)
            archive_prompts(store, snap.id, snap.path)
    except BaseException:
        discard(staging)
        raise
    return snap, result


def score_build(
    store: Store,
    enterprises: pd.DataFrame,
    as_of: date,
    model_path: Path | None,
    alerts_path: Path | None,
    records: Path | None = None,
    scorer: Callable[..., pd.DataFrame] = score_enterprises,
) -> tuple[Computed, dict, pd.DataFrame, pd.DataFrame]:
    """What a build publishes, whatever the store: the computed tables, the snapshot's meta, the score
    columns (row for row with `enterprises`) and the prompt table. `records`: the file `enterprises` were
    read from, when they come from one (the staged ``records.parquet``). Without `model_path`, the store's
    calibrated model (`riskmap calibrate`) if it has one, else the shipped default."""
    model_path = model_path or store.calibrated_model()
    model = load_model(model_path)
    events = _read_optional(store, "events")  # read once: the scoring and the prompt rules both use them
    resources = _read_optional(store, "resources")  # read once: the rescue circle, the meta, the snapshot's copy
    boundaries = boundaries_with_area(store)  # read once: the scoring, the rescue circle and the prompt rules
    units, hazards, regions, rescue = _score(
        store, enterprises, as_of, model, events=events, scorer=scorer, resources=resources, boundaries=boundaries
    )
    result = Computed(as_of, model, units, hazards, regions, str(model_path or "default"), rescue, resources)
    counts = units["risk_level"].value_counts().reindex(list(LEVELS), fill_value=0)
    meta = {
        "as_of": as_of.isoformat(),
        "model": model.to_dict(),
        "model_source": result.model_path,
        "model_fingerprint": model.fingerprint(),
        "units": int(len(units)),
        "hazards": int(len(hazards)),
        "regions": int(regions["adcode"].nunique()),
        "unit_levels": {k: int(v) for k, v in counts.items()},
        "rescue": _rescue_meta(resources, rescue),
    }
    # every score column, including any the stored records carry stale (they are replaced, as in compute)
    scores = units[[c for c in units.columns if c in SCORE_COLUMNS]]
    rules = load_rules(alerts_path)
    tables = {"units": units, "hazards": hazards, "regions": regions}
    prompts, meta["prompts"] = stage_prompts(
        store,
        as_of=as_of,
        rules=rules,
        rules_source=str(alerts_path or "default"),
        events=events,
        records=records,
        boundaries=boundaries,
        **tables,
    )
    return result, meta, scores, prompts


def _rescue_meta(resources: pd.DataFrame | None, rescue: Rescue | None) -> dict:
    """What `meta.json` says of the rescue circle: its method and figures, or why there is none."""
    if rescue is None:
        reason = "no resources in the store" if resources is None else "no responder among the resources"
        return {"method": None, "reason": reason, "resources": 0 if resources is None else int(len(resources))}
    return {**rescue.meta, "resources": int(len(resources)) if resources is not None else 0}


def rescue_tables(result: Computed, with_resources: bool = True) -> dict[str, pd.DataFrame]:
    """The tables a snapshot keeps of the response side (keys of `geo.snapshot.RESCUE_FILES`): the resources as
    of the build (unless not `with_resources`), and the rescue circle's region shares and zones when there are
    responders."""
    tables: dict[str, pd.DataFrame] = {}
    resources, rescue = result.resources, result.rescue
    if resources is not None and with_resources:
        tables["resources"] = resources
    if rescue is not None:
        tables["regions"], tables["zones"] = rescue.regions, rescue.zones
    return tables


def _stage_rescue(store: Store, staging: Path, result: Computed) -> None:
    """The response tables into the staging directory (`geo.snapshot.RESCUE_FILES`). The resources file is
    linked as the store holds it (store files are replaced, never changed in place), not rewritten."""
    from geo.snapshot import RESCUE_FILES

    if result.resources is not None:
        source, target = store.table_path("resources"), staging / RESCUE_FILES["resources"]
        try:
            os.link(source, target)
        except OSError:  # another filesystem, or no hard links: a copy
            shutil.copyfile(source, target)
    for key, frame in rescue_tables(result, with_resources=False).items():
        write_parquet(frame, staging / RESCUE_FILES[key])


#: Columns of the stored records that no part of a build reads: where a record came from, how its location was
#: joined, the county code it declared (the located one is used) and its address. The geometry is not read
#: either (the records carry lon and lat). A service reads them from the snapshot, which links the whole file.
NOT_BUILT_FROM = (
    "address",
    "county_code",
    "source_file",
    "source_line",
    "ingested_at",
    "join_status",
    "join_distance_m",
)


def _read_records(path: Path) -> pd.DataFrame:
    """The stored records a build scores, without the columns it never reads (`NOT_BUILT_FROM`): at a million
    records, a third of the time of reading them all."""
    schema = pq.read_schema(path)
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    skip = set(NOT_BUILT_FROM) | set(geo.get("columns", {}))
    return pq.read_table(path, columns=[n for n in schema.names if n not in skip]).to_pandas()


def level_counts(regions: pd.DataFrame, admin_level: str, domain: str = "all") -> dict[str, int]:
    sel = regions.loc[(regions["admin_level"] == admin_level) & (regions["domain"] == domain), "risk_level"]
    counts = sel.value_counts().reindex(list(LEVELS), fill_value=0)
    return {k: int(v) for k, v in counts.items()}


def trend(store: Store, d1: date, d2: date, admin_level: str, domain: str, model: ScoringModel) -> pd.DataFrame:
    """Regional levels as of `d1` and `d2` side by side, both scored with `model`."""
    a = compute(store, d1, model=model).regions
    b = compute(store, d2, model=model).regions
    key = ["adcode", "domain"]
    cols = ["risk_level", "risk_index"]
    sel_a = a.loc[(a["admin_level"] == admin_level) & (a["domain"] == domain), ["adcode", "name", "domain", *cols]]
    sel_b = b.loc[(b["admin_level"] == admin_level) & (b["domain"] == domain), [*key, *cols]]
    merged = sel_a.merge(sel_b, on=key, suffixes=("_from", "_to"))
    delta = merged["risk_level_from"].map(RISK_LEVEL_RANK) - merged["risk_level_to"].map(RISK_LEVEL_RANK)
    merged["change"] = np.select([delta > 0, delta < 0], ["up", "down"], "same")
    merged["index_change"] = (merged["risk_index_to"] - merged["risk_index_from"]).round(1)
    return merged.sort_values(["change", "index_change"], ascending=[True, False]).reset_index(drop=True)
