"""Regional four-colour levels (区域/领域风险四色图): a level-weighted load of the units and sites inside.

For every boundary unit (province, city, county, finer) and every domain (the catalogue's 8 codes and `all`):

    load  = Σ_units weight[level] + site_factor × Σ_open sites weight[level]
            + coping.lack × Σ_units not reached in coping.minutes, of coping.levels weight[level]   (lack 0: off)
    k     = k[admin_level] × domain_factor[domain] (1 for `all`) × (area_km2 / reference_km2) ** area.exponent
    index = 100 × (1 − exp(−load / k))                    (0 for a region with nothing inside)
    level = scheme(index), then raised to each fired rule's floor (rules never lower a level)

Under the default `fixed` scheme a region's level depends only on what lies inside it, never on other
regions, on row order or on counts of anything else: adding a unit or an open hidden danger can only raise
the levels of the regions holding it. `quantiles` / `natural_breaks` (mapclassify, 4 classes within each
admin level × domain) are for exploratory maps only: they rank regions against each other.

Hazard sites count in `all`, and also in the domain that `[hazards.domains]` maps their type to. Sites
scored `closed` (column `basis`, or a closed `status`) count for nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.boundaries import roll_up
from geo.catalogue import LEVELS, RISK_LEVEL_RANK, Catalogue, load_catalogue, normalize_name
from geo.errors import InputRejected
from geo.scoring.model import ScoringModel
from geo.scoring.units import _rank, _round1
from geo.values import plain as _plain

__all__ = [
    "OUTPUT_COLUMNS",
    "SITE_COUNT_COLUMNS",
    "UNIT_COUNT_COLUMNS",
    "Tally",
    "combine",
    "region_grid",
    "regional_levels",
    "tally",
]

#: enterprises (units) per level, red … blue: they sum to `n_units`
UNIT_COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{lv}_units" for lv in LEVELS)
#: open hazard sites per level, red … blue: they sum to `n_hazards`
SITE_COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{lv}_sites" for lv in LEVELS)

OUTPUT_COLUMNS: tuple[str, ...] = (
    "adcode",
    "name",
    "admin_level",
    "parent_adcode",
    "domain",
    "risk_index",
    "risk_level",
    "risk_level_zh",
    *UNIT_COUNT_COLUMNS,
    "n_units",
    *SITE_COUNT_COLUMNS,
    "n_hazards",
    "rules",
    "explanation",
)

_LEVEL_OF_RANK = np.array([None, *LEVELS], dtype=object)
_STANDARD_ORDER = {"country": -1, "province": 0, "city": 1, "county": 2}
FORMULA = (
    "index = 100 × (1 − exp(−load / k)); load = Σ_units weight[level] + site_factor × Σ_sites weight[level] "
    "+ coping.lack × Σ_unreached units weight[level]; "
    "k = k[admin_level] × domain_factor[domain] × (area_km2 / reference_km2)^exponent"
)


# --------------------------------------------------------------------------------------------------
# Members: every (region, domain) a unit or site counts in
# --------------------------------------------------------------------------------------------------
def _levels_of(frame: pd.DataFrame, what: str) -> pd.Series:
    if "risk_level" not in frame.columns:
        raise InputRejected(f"{what} need a `risk_level` column (red/orange/yellow/blue); score them first")
    level = frame["risk_level"]
    bad = ~level.isin(LEVELS)
    if bad.any():
        examples = ", ".join(repr(v) for v in level[bad].astype(object).unique()[:5])
        raise InputRejected(
            f"{int(bad.sum())} {what} have a risk_level that is not red/orange/yellow/blue ({examples}); "
            "every unit must carry exactly one level: score them with geo.scoring first"
        )
    return level.astype(object)


def _veto(units: pd.DataFrame, level: pd.Series) -> np.ndarray:
    """`veto` when given; else (for frames from elsewhere) a red unit with an override."""
    if "veto" in units.columns:
        return units["veto"].astype("boolean").to_numpy(dtype=bool, na_value=False)
    if "override" in units.columns:
        return (units["override"].notna() & level.eq("red")).to_numpy(dtype=bool)
    return np.zeros(len(units), dtype=bool)


def _base_members(
    units: pd.DataFrame | None,
    hazards: pd.DataFrame | None,
    model: ScoringModel,
    cat: Catalogue,
    code_cols: list[str],
) -> pd.DataFrame:
    """One row per unit and per open site, in input order.

    Columns: kind, id, name, item_domain, level, risk_score, veto, unreached, rank, weight and the region code
    columns.
    """
    keep = ["id", "name", "risk_score", *code_cols]
    frames = []
    if units is not None:
        u_level = _levels_of(units, "units")
        frames.append(
            units.reindex(columns=keep).assign(
                kind="unit",
                item_domain=units["domain"] if "domain" in units.columns else None,
                level=u_level,
                veto=_veto(units, u_level),
                unreached=_unreached(units, u_level, model),
            )
        )
    if hazards is not None and len(hazards):
        h = hazards[~closed_sites(hazards, model)]
        types = h["type"] if "type" in h.columns else pd.Series([None] * len(h), index=h.index, dtype=object)
        mapped = {t: model.hazards.domains.get(cat.hazard_type_code(str(t)) or "") for t in pd.unique(types)}
        level = _levels_of(h, "hazard sites")
        frames.append(
            h.reindex(columns=keep).assign(
                kind="site", item_domain=types.map(mapped), level=level, veto=False, unreached=False
            )
        )
    if not frames:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in keep})
        frames.append(empty.assign(kind="unit", item_domain=None, level=None, veto=False, unreached=False))
    out = pd.concat(frames, ignore_index=True, sort=False)
    lw = model.region.level_weights
    rank = pd.Index(LEVELS).get_indexer(out["level"]) + 1
    out["rank"] = rank
    weight = np.array([np.nan, *(lw.of(lv) for lv in LEVELS)], dtype=np.float64)[rank]
    out["weight"] = np.where(out["kind"].eq("site").to_numpy(), weight * model.region.site_factor, weight)
    return out


def _unreached(units: pd.DataFrame, level: pd.Series, model: ScoringModel) -> np.ndarray:
    """Units the coping term weighs more: of `coping.levels` and not reached within `coping.minutes` (no
    responder within, or none at all). All False when the units carry no rescue minutes (no rescue circle
    computed) or the term is off."""
    coping = model.region.coping
    if coping.lack == 0 or "rescue_minutes" not in units.columns:
        return np.zeros(len(units), dtype=bool)
    minutes = pd.to_numeric(units["rescue_minutes"], errors="coerce").to_numpy(dtype=float)
    return level.isin(list(coping.levels)).to_numpy() & ~(minutes <= coping.minutes)


def _contribution_order(members: pd.DataFrame) -> np.ndarray:
    """Heaviest first: weight ↓, score ↓, sites before units, id ↑, name ↑ (missing first). One Arrow
    multi-key sort (strings compare by code point, as Python's do) instead of factorizing the strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(s: pd.Series) -> pa.Array:
        return pa.array(s.astype("str"), from_pandas=True)  # missing stays null

    score = pd.to_numeric(members["risk_score"], errors="coerce").fillna(-1.0).to_numpy()
    table = pa.table(
        {
            "w": members["weight"].to_numpy(),
            "s": score,
            "u": members["kind"].eq("unit").to_numpy(),
            "i": text(members["id"]),
            "n": text(members["name"]),
        }
    )
    keys = [
        ("w", "descending", "at_start"),
        ("s", "descending", "at_start"),
        ("u", "ascending", "at_start"),
        ("i", "ascending", "at_start"),
        ("n", "ascending", "at_start"),
    ]
    return pc.sort_indices(table, sort_keys=keys).to_numpy()


def closed_sites(hazards: pd.DataFrame, model: ScoringModel) -> np.ndarray:
    closed = np.zeros(len(hazards), dtype=bool)
    if "basis" in hazards.columns:
        closed |= hazards["basis"].eq("closed").to_numpy(dtype=bool, na_value=False)
    if "status" in hazards.columns and model.hazards.closed_statuses:
        names = {normalize_name(s) for s in model.hazards.closed_statuses}
        status = hazards["status"].map(lambda s: isinstance(s, str) and normalize_name(s) in names)
        closed |= status.to_numpy(dtype=bool, na_value=False)
    return closed


Placements = list[tuple[np.ndarray, np.ndarray]]


def _placements(base: pd.DataFrame, grid: pd.DataFrame, domains: list[str], present: set[str]) -> Placements:
    """Where each member counts: per admin level, (member positions, grid rows) for `all`, and again for the
    member's own domain. Grid rows are laid out region-major: row = region_position × n_domains +
    domain_position (`all` = 0). Kept per level (never one array of every pair) so sums stay cheap.
    `present`: the code columns the members were given; a level above all of them (the country, above the
    provinces the records are joined to) is rolled up from a finer level's through the regions' parents."""
    n_dom = len(domains) + 1
    regions = grid.iloc[::n_dom]
    admin = regions["admin_level"].to_numpy()
    own = pd.Index(domains).get_indexer(base["item_domain"].astype(object)) + 1  # 0 where not a domain
    where: dict[str, np.ndarray] = {}  # admin level → each member's region (position in `regions`), -1: none
    levels = [str(v) for v in pd.unique(admin)]
    for lvl in levels:
        col = f"{lvl}_adcode"
        if col not in base.columns or col not in present:
            continue
        at_level = np.flatnonzero(admin == lvl)
        codes = base[col]
        if pd.api.types.is_float_dtype(codes):  # 330102.0 read from a spreadsheet → "330102"
            codes = codes.astype("Int64")
        ids, uniques = pd.factorize(codes)  # a few hundred distinct codes: look each up once
        found = pd.Index(regions["adcode"].to_numpy()[at_level]).get_indexer(pd.Index(uniques).astype("string"))
        pos = np.where(ids >= 0, found[ids] if len(found) else -1, -1)
        where[lvl] = np.where(pos >= 0, at_level[np.maximum(pos, 0)] if len(at_level) else -1, -1)
    adcodes = pd.Index(regions["adcode"].to_numpy())
    if adcodes.is_unique:  # the country from the provinces (`geo.boundaries.roll_up`)
        parent = adcodes.get_indexer(pd.Index(regions["parent_adcode"].to_numpy(dtype=object)).astype("string"))
        roll_up(where, levels, admin, parent)
    out: Placements = []
    for lvl in levels:
        if lvl not in where:
            continue
        inside = np.flatnonzero(where[lvl] >= 0)
        rows = where[lvl][inside].astype(np.int64) * n_dom
        mine = own[inside] > 0
        out += [(inside, rows), (inside[mine], rows[mine] + own[inside][mine])]
    return out


@dataclass(frozen=True)
class Tally:
    """What a set of units and sites adds to the regional grid (`region_grid`), in whole numbers, so that the
    tallies of any split of the members add up to exactly the tally of them all (`combine`): what the Dask
    engine's workers return for their partitions.

    `counts` (grid rows × 8): units red … blue, then open sites red … blue; `vetoes`: units red by veto;
    `unreached` (grid rows × 4): units of `coping.levels` not reached within `coping.minutes`, by level;
    `top`: each row's `top_n` heaviest members (`row` and the member's kind, id, name, item_domain, level,
    risk_score, weight), in contribution order within the row."""

    counts: np.ndarray
    vetoes: np.ndarray
    unreached: np.ndarray
    top: pd.DataFrame


def region_grid(boundaries: pd.DataFrame, model: ScoringModel, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """The grid of regional rows: every boundary unit × (`all` + the catalogue's domains), region-major, with
    each row's k and its factors."""
    cat = catalogue or load_catalogue()
    return _k(_grid(boundaries, [d.code for d in cat.domains]), model)


def tally(
    units: pd.DataFrame | None,
    hazards: pd.DataFrame | None,
    grid: pd.DataFrame,
    model: ScoringModel,
    catalogue: Catalogue | None = None,
) -> Tally:
    """The `Tally` of `units` and `hazards` (either may be None) over `grid` (see `regional_levels` for the
    columns they need)."""
    cat = catalogue or load_catalogue()
    domains = [d.code for d in cat.domains]
    code_cols = [f"{lvl}_adcode" for lvl in pd.unique(grid["admin_level"])]
    base = _base_members(units, hazards, model, cat, code_cols)
    present = {c for frame in (units, hazards) if frame is not None for c in frame.columns}
    placements = _placements(base, grid, domains, present)
    n = len(grid)
    is_unit = base["kind"].eq("unit").to_numpy()
    rank = base["rank"].to_numpy(dtype=np.int64)
    klass = np.where(is_unit, 0, 4) + rank - 1  # units red..blue, sites red..blue
    veto = is_unit & base["veto"].to_numpy(dtype=bool)
    gap = is_unit & base["unreached"].to_numpy(dtype=bool)
    flat, vetoes, unreached = np.zeros(n * 8, np.int64), np.zeros(n, np.int64), np.zeros(n * 4, np.int64)
    for src, rows in placements:
        flat += np.bincount(rows * 8 + klass[src], minlength=n * 8)
        vetoes += np.bincount(rows[veto[src]], minlength=n)
        mine = gap[src]
        unreached += np.bincount(rows[mine] * 4 + rank[src][mine] - 1, minlength=n * 4)
    top = _top(base, placements, n, model.region.top_n)
    return Tally(flat.reshape(n, 8), vetoes, unreached.reshape(n, 4), top)


def combine(tallies: list[Tally], top_n: int) -> Tally:
    """The tally of the union of the tallies' members: the counts added, and each row's `top_n` heaviest of
    the rows' candidates (every member that can be among a row's top_n is a candidate of its own tally)."""
    first = tallies[0]
    if len(tallies) == 1:
        return first
    top = (
        pd.concat([t.top for t in tallies if len(t.top)], ignore_index=True)
        if any(len(t.top) for t in tallies)
        else first.top
    )
    return Tally(
        sum((t.counts for t in tallies[1:]), first.counts.copy()),
        sum((t.vetoes for t in tallies[1:]), first.vetoes.copy()),
        sum((t.unreached for t in tallies[1:]), first.unreached.copy()),
        _first_per_row(top, top_n),
    )


def _first_per_row(members: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The first `top_n` of each row of `members` in contribution order, sorted by row then that order."""
    if not len(members):
        return members
    order = _contribution_order(members)
    position = np.empty(len(members), dtype=np.int64)
    position[order] = np.arange(len(members))
    rows = members["row"].to_numpy(dtype=np.int64)
    sort = np.lexsort((position, rows))
    rows = rows[sort]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    pick = sort[(np.arange(len(rows)) - first) < top_n]
    return members.iloc[pick].reset_index(drop=True)


def _loads(grid: pd.DataFrame, t: Tally, model: ScoringModel) -> pd.DataFrame:
    """The grid with each row's loads and counts: the load is Σ count × weight over the eight (kind, level)
    classes in a fixed order (and the coping term over the four levels), so it does not depend on the order
    of the members nor on how they were split."""
    lw, sf = model.region.level_weights, model.region.site_factor
    unit_load = sum(t.counts[:, i] * lw.of(lv) for i, lv in enumerate(LEVELS))
    site_load = sum(t.counts[:, 4 + i] * (lw.of(lv) * sf) for i, lv in enumerate(LEVELS))
    gap_load = sum(t.unreached[:, i] * lw.of(lv) for i, lv in enumerate(LEVELS))
    coping_load = model.region.coping.lack * gap_load
    cols = {
        "load": unit_load + site_load + coping_load,
        "unit_load": unit_load * 1.0,
        "coping_load": coping_load * 1.0,
        "veto_units": t.vetoes.astype(np.float64),
    }
    for i, lv in enumerate(LEVELS):
        cols[f"unit_{lv}"] = t.counts[:, i].astype(np.float64)
        cols[f"site_{lv}"] = t.counts[:, 4 + i].astype(np.float64)
    return grid.assign(**cols)


# --------------------------------------------------------------------------------------------------
# Index, scheme, rules
# --------------------------------------------------------------------------------------------------
def _column(frame: pd.DataFrame, col: str, default: Any = None) -> Any:
    """A column as an object array with None for missing values; `default` when the column is absent."""
    if col not in frame.columns:
        return default
    s = frame[col].astype(object)
    return s.where(s.notna(), None).to_numpy()


def _grid(boundaries: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    need = {"adcode", "admin_level"} - set(boundaries.columns)
    if need:
        raise InputRejected(f"boundaries need columns adcode and admin_level; missing {sorted(need)}")
    admin = boundaries["admin_level"].astype(str)
    rank = (
        pd.to_numeric(boundaries["level_rank"], errors="coerce")
        if "level_rank" in boundaries.columns
        else admin.map(_STANDARD_ORDER).fillna(9)
    )
    area = pd.to_numeric(boundaries["area_km2"], errors="coerce") if "area_km2" in boundaries.columns else np.nan
    b = pd.DataFrame(
        {
            "adcode": boundaries["adcode"].astype(str).to_numpy(dtype=object),
            "name": _column(boundaries, "name"),
            "admin_level": admin.to_numpy(dtype=object),
            "parent_adcode": _column(boundaries, "parent_adcode"),
            "level_rank": np.asarray(rank, dtype=np.float64),
            "area_km2": np.asarray(area, dtype=np.float64),
        }
    ).drop_duplicates(["admin_level", "adcode"])
    b = b.sort_values(["level_rank", "adcode", "admin_level"], kind="mergesort")
    dom = pd.DataFrame({"domain": ["all", *domains]})
    return b.merge(dom, how="cross").reset_index(drop=True)  # region-major, `all` first


def _k(grid: pd.DataFrame, model: ScoringModel) -> pd.DataFrame:
    r = model.region
    k_level = grid["admin_level"].map(lambda lv: r.k_for(lv)).to_numpy(dtype=np.float64)
    dom_factor = grid["domain"].map(lambda d: 1.0 if d == "all" else r.domain_factor.get(d, 1.0))
    area = grid["area_km2"].to_numpy(dtype=np.float64)
    usable = (r.area.exponent > 0) & np.isfinite(area) & (area > 0)
    area_factor = np.where(usable, (np.where(usable, area, 1.0) / r.area.reference_km2) ** r.area.exponent, 1.0)
    return grid.assign(
        k_level=k_level,
        domain_factor=dom_factor.to_numpy(dtype=np.float64),
        area_factor=area_factor,
        k=k_level * dom_factor.to_numpy(dtype=np.float64) * area_factor,
    )


def _classify(grid: pd.DataFrame, model: ScoringModel) -> np.ndarray:
    """Rank (1 red … 4 blue) of each row's index under the model's scheme; empty regions are blue."""
    edges = model.region.thresholds.edges()
    rank = _rank(grid["risk_index"].to_numpy(dtype=np.float64), edges).astype(np.int64)
    empty = (grid["n_units"] + grid["n_hazards"]).to_numpy() == 0
    if model.region.scheme != "fixed":
        import mapclassify

        scheme = {"quantiles": mapclassify.Quantiles, "natural_breaks": mapclassify.FisherJenks}
        for _, idx in grid[~empty].groupby(["admin_level", "domain"], sort=False).groups.items():
            y = grid.loc[idx, "risk_index"].to_numpy(dtype=np.float64)
            if len(np.unique(y)) < 4:
                continue  # too few distinct values for 4 classes: keep the fixed thresholds
            with warnings.catch_warnings():  # "Numba not installed": the pure-Python path is exact, only slower
                warnings.simplefilter("ignore", UserWarning)
                classes = scheme[model.region.scheme](y, k=4).yb
            rank[grid.index.get_indexer(idx)] = 4 - np.asarray(classes, dtype=np.int64)
    return np.where(empty, 4, rank)


def _rules(grid: pd.DataFrame, model: ScoringModel, cat: Catalogue) -> tuple[np.ndarray, list[list[dict]]]:
    """Floor rank from the fired rules, and per row the fired rules (id, text, count, min_count, at_least)."""
    counts = {
        "veto_units": grid["veto_units"].to_numpy(),
        "red_units": grid["unit_red"].to_numpy(),
        "red_sites": grid["site_red"].to_numpy(),
        "red": (grid["unit_red"] + grid["site_red"]).to_numpy(),
    }
    floor = np.full(len(grid), 4, dtype=np.int64)
    fired: list[list[dict]] = [[] for _ in range(len(grid))]
    for rule in model.region.rules:
        need = grid["admin_level"].map(rule.min_count).to_numpy(dtype=np.float64)
        count = counts[rule.count]
        hit = ~np.isnan(need) & (count >= np.nan_to_num(need, nan=np.inf))
        floor = np.where(hit, np.minimum(floor, RISK_LEVEL_RANK[rule.at_least]), floor)
        zh = cat.level(rule.at_least).zh
        for i in np.flatnonzero(hit):
            c, n = int(count[i]), int(need[i])
            text = rule.text.format(count=c, min_count=n, at_least=rule.at_least, at_least_zh=zh)
            fired[i].append({"id": rule.id, "text": text, "count": c, "min_count": n, "at_least": rule.at_least})
    return floor, fired


# --------------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------------
TOP_COLUMNS = ["kind", "id", "name", "item_domain", "level", "risk_score", "weight"]


def _top(base: pd.DataFrame, placements: Placements, n: int, top_n: int) -> pd.DataFrame:
    """The top_n heaviest members of each of the `n` grid rows, in contribution order (`_contribution_order`):
    `row` and `TOP_COLUMNS`, sorted by row then that order.

    Only members that can be among a row's top_n are sorted on all keys: in each row, a member lighter than
    the row's top_n-th heaviest weight has top_n members ahead of it whatever its other keys."""
    none = pd.DataFrame({"row": pd.Series([], dtype=np.int64), **{c: pd.Series([], dtype=object) for c in TOP_COLUMNS}})
    if top_n == 0 or not placements or not len(base):
        return none
    weights, wcode = np.unique(-base["weight"].to_numpy(), return_inverse=True)  # code 0: heaviest
    k = len(weights)
    cum = np.zeros(n * k, dtype=np.int64)
    for src, rows in placements:
        cum += np.bincount(rows * k + wcode[src], minlength=n * k)
    cum = cum.reshape(n, k).cumsum(axis=1)
    cutoff = np.where(cum[:, -1] >= top_n, np.argmax(cum >= top_n, axis=1), k - 1)
    keep = [wcode[src] <= cutoff[rows] for src, rows in placements]
    rows = np.concatenate([r[m] for (_, r), m in zip(placements, keep, strict=True)])
    src = np.concatenate([s[m] for (s, _), m in zip(placements, keep, strict=True)])
    if len(rows) == 0:
        return none
    members = base[TOP_COLUMNS].iloc[src].reset_index(drop=True)
    return _first_per_row(members.assign(row=rows), top_n)


def _contributors(top: pd.DataFrame) -> dict[int, list[dict]]:
    """Each row's top members as the explanation lists them."""
    out: dict[int, list[dict]] = {}
    for m in top.itertuples(index=False):
        out.setdefault(int(m.row), []).append(
            {
                "kind": m.kind,
                "id": _plain(m.id),
                "name": _plain(m.name),
                "domain": _plain(m.item_domain),
                "level": m.level,
                "score": _plain(m.risk_score),
                "contribution": round(float(m.weight), 4),
            }
        )
    return out


def _explanations(
    grid: pd.DataFrame, top: dict[int, list[dict]], fired: list[list[dict]], model: ScoringModel
) -> list[dict]:
    r = model.region
    per_domain = grid[grid["domain"] != "all"].groupby(["admin_level", "adcode"], sort=False)
    domains = {
        key: dict(zip(g["domain"].tolist(), g["risk_index"].astype(float).tolist(), strict=True))
        for key, g in per_domain
    }
    weights = {lv: r.level_weights.of(lv) for lv in LEVELS}
    out = []
    for i, row in enumerate(grid.itertuples(index=False)):
        load = float(row.load)
        rules = [{**f, "raised": RISK_LEVEL_RANK[f["at_least"]] < row.index_rank} for f in fired[i]]
        contributors = [{**c, "share": round(c["contribution"] / load, 4) if load else 0.0} for c in top.get(i, [])]
        exp = {
            "domain": row.domain,
            "scheme": r.scheme,
            "formula": FORMULA,
            "inputs": {
                "load": round(load, 4),
                "unit_load": round(float(row.unit_load), 4),
                "site_load": round(load - float(row.unit_load) - float(row.coping_load), 4),
                "coping_load": round(float(row.coping_load), 4),
                "coping": r.coping.model_dump(mode="json"),
                "k": round(float(row.k), 4),
                "k_admin_level": float(row.k_level),
                "domain_factor": float(row.domain_factor),
                "area_km2": None if not np.isfinite(row.area_km2) else round(float(row.area_km2), 3),
                "area_factor": round(float(row.area_factor), 6),
                "level_weights": weights,
                "site_factor": r.site_factor,
            },
            "index": float(row.risk_index),
            "index_level": _LEVEL_OF_RANK[row.index_rank],
            "level": _LEVEL_OF_RANK[row.final_rank],
            "counts": {
                "units": {lv: int(getattr(row, f"unit_{lv}")) for lv in LEVELS},
                "sites": {lv: int(getattr(row, f"site_{lv}")) for lv in LEVELS},
                "veto_units": int(row.veto_units),
            },
            "rules": rules,
            "top": contributors,
        }
        if row.domain == "all":
            exp["domains"] = domains.get((row.admin_level, row.adcode), {})
        out.append(exp)
    return out


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
def regional_levels(
    units: pd.DataFrame,
    hazards: pd.DataFrame | None,
    boundaries: pd.DataFrame,
    model: ScoringModel,
    catalogue: Catalogue | None = None,
    *,
    unit_tally: Tally | None = None,
) -> pd.DataFrame:
    """One row per (boundary unit × domain in `all` + the catalogue's domains); see `OUTPUT_COLUMNS`.

    `units`: scored enterprises with `id`, `name`, `domain`, `risk_score`, `risk_level`, `override` (and
    `veto` from `score_enterprises`, which keeps the veto rule monotone), plus `<admin_level>_adcode` for
    every admin level of `boundaries` (a missing column: nothing is located at that level, except above every
    level given: the country is rolled up from the provinces). `hazards`:
    scored sites with `id`, `name`, `type`, `risk_score`, `risk_level`, optional `basis`/`status`, and the
    same code columns. `boundaries`: `adcode`, `name`, `admin_level`, `parent_adcode`, `level_rank`, and
    `area_km2` (used only when the model's area exponent is > 0). Rows are sorted by level_rank, adcode,
    domain (`all` first, then catalogue order), whatever the order of the inputs. `unit_tally`: the units'
    `tally` over `region_grid(boundaries, model)` when already made (by the Dask engine's workers, partition
    by partition, then `combine`d); `units` are then not read again.
    """
    cat = catalogue or load_catalogue()
    grid = region_grid(boundaries, model, cat)
    if unit_tally is None:
        unit_tally = tally(units, None, grid, model, cat)
    sites = tally(None, hazards, grid, model, cat)
    both = combine([unit_tally, sites], model.region.top_n)
    top = _contributors(both.top)
    grid = _loads(grid, both, model)
    for lv, units_col, sites_col in zip(LEVELS, UNIT_COUNT_COLUMNS, SITE_COUNT_COLUMNS, strict=True):
        grid[units_col] = grid[f"unit_{lv}"].astype(np.int64)
        grid[sites_col] = grid[f"site_{lv}"].astype(np.int64)
    grid["n_units"] = grid[[f"unit_{lv}" for lv in LEVELS]].sum(axis=1).astype(np.int64)
    grid["n_hazards"] = grid[[f"site_{lv}" for lv in LEVELS]].sum(axis=1).astype(np.int64)
    grid["risk_index"] = _round1(100.0 * (1.0 - np.exp(-grid["load"].to_numpy() / grid["k"].to_numpy())))
    grid["index_rank"] = _classify(grid, model)
    floor, fired = _rules(grid, model, cat)
    grid["final_rank"] = np.minimum(grid["index_rank"].to_numpy(), floor)
    grid["risk_level"] = _LEVEL_OF_RANK[grid["final_rank"].to_numpy()]
    grid["risk_level_zh"] = grid["risk_level"].map({lv.code: lv.zh for lv in cat.levels})
    grid["rules"] = [[f["text"] for f in row] for row in fired]
    grid["explanation"] = _explanations(grid, top, fired, model)
    out = grid[list(OUTPUT_COLUMNS)].copy()
    for col in ("name", "parent_adcode"):  # object columns with None (not NaN) for missing values
        out[col] = pd.Series(_column(out, col), dtype=object, index=out.index)
    return out
