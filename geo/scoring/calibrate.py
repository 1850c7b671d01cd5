"""Calibration: refit the regional constants of a scoring model to a census (docs/scoring.md §5).

The regional index saturates at a load set by `k` (`geo.scoring.regions`), and loads grow with the number of
units per region: constants that fit a 20,000-unit census turn nearly every county red at 1,000,000 units.
`propose(regions, base, units)` reads the loads that `regional_levels` computed with the `base` model and
proposes, per admin level, domain and rule:

* **k, fitted** (an admin level with a target and at least `min_regions` non-empty regions): the red edge of
  the index (threshold T_red, 75) falls at load k·t, t = −ln(1 − T_red/100) (ln 4). With m = round(s_red × n)
  (s_red the target red share, n the level's regions), the red edge is put halfway between the m-th and the
  (m+1)-th heaviest loads, L_red, and k = L_red / t: exactly m regions are red by index (ties aside). The
  other shares follow from the loads (orange starts at L_red / 2, yellow at 0.21 L_red); they are reported.
* **k, scaled** (fewer regions, e.g. one province; and `default`, for finer levels): k × c, with c the units
  per region now over units per region in the census the base model records (`[calibration] units`,
  `regions`); `default` (and levels the record does not list) take c of the finest recorded level present.
* **domain_factor**: each domain's share of the total load of the county level (the domain rows' loads over
  the `all` rows'), rounded to 0.01 (at least 0.01; a domain without load keeps its factor).
* **min_count** of the rules in `scale_rules` (shipped: both rules): round(min_count × c), at least 1.

Loads are the regions' `explanation.inputs.load`, divided by the area factor when the model has one (so
that k·t is the edge in the same terms). k is rounded to 3 significant digits. The model is otherwise the
base model: the same formula with other constants, so every invariant of docs/scoring.md §4 holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import RootModel

from geo import configfile
from geo.catalogue import LEVELS
from geo.errors import CalibrationRejected, ModelInvalid
from geo.scoring.model import Calibration, Code, LevelShares, ScoringModel, load_model

__all__ = [
    "HINT_MIN_REGIONS",
    "Targets",
    "HINT_SHARE",
    "Crowding",
    "LevelFit",
    "Proposal",
    "counts_by_level",
    "crowded",
    "parse_targets",
    "propose",
]

#: the build's hint: an admin level of at least this many regions with more than this share in one level
HINT_MIN_REGIONS = 10
HINT_SHARE = 0.8


@dataclass(frozen=True)
class LevelFit:
    """How one admin level's k was proposed."""

    admin_level: str
    method: str  # fitted | scaled | kept
    k_base: float
    k: float
    regions: int = 0  # regions of the level (domain `all`)
    nonempty: int = 0  # of them, holding a unit or an open site
    target: LevelShares | None = None
    red_regions: int | None = None  # m, the red regions aimed at (fitted)
    red_edge_load: float | None = None  # L_red (fitted)
    scale: float | None = None  # c, units per region now over the reference's (scaled)
    note: str = ""

    def describe(self) -> str:
        if self.method == "fitted":
            return (
                f"fitted: red edge at load {self.red_edge_load:,.1f} ({self.red_regions} of {self.regions} "
                f"red by index, target {self.target.red if self.target else 0:g})"
            )
        if self.method == "scaled":
            return f"scaled ×{self.scale:.3g}, units per region now / in the base's census ({self.note})"
        return f"kept: {self.note}"


@dataclass(frozen=True)
class Proposal:
    """A calibrated model and how each of its new numbers came about."""

    model: ScoringModel
    base: ScoringModel
    fits: list[LevelFit]
    domain_factor: dict[str, tuple[float, float]]  # domain → (base, proposed)
    min_count: dict[str, dict[str, tuple[int, int]]]  # rule id → admin level → (base, proposed)
    units: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------
class Targets(RootModel[dict[Code, LevelShares]]):
    """Target shares by admin level (what `--target` gives; `[calibration.targets]` in a model file)."""


def parse_targets(specs: list[str], source: str = "--target") -> dict[str, LevelShares]:
    """Targets from `LEVEL=RED,ORANGE,YELLOW,BLUE` strings (`county=0.10,0.25,0.35,0.30`), validated like the
    model file's `[calibration.targets]`; a bad one raises `ModelInvalid` naming it and the field."""
    raw: dict[str, Any] = {}
    for spec in specs:
        level, sep, values = spec.partition("=")
        parts = [p.strip() for p in values.split(",")]
        if not sep or not level.strip() or len(parts) != len(LEVELS):
            raise ModelInvalid(
                f"{source} {spec!r}: write LEVEL=RED,ORANGE,YELLOW,BLUE, the shares of the level's regions "
                "in each level, e.g. county=0.10,0.25,0.35,0.30"
            )
        try:
            raw[level.strip()] = dict(zip(LEVELS, (float(p) for p in parts), strict=True))
        except ValueError as exc:
            raise ModelInvalid(f"{source} {spec!r}: the shares must be numbers ({exc})") from exc
    return configfile.validate(raw, Targets, source).root


# --------------------------------------------------------------------------------------------------
# Reading the regions table
# --------------------------------------------------------------------------------------------------
def _frame(regions: pd.DataFrame) -> pd.DataFrame:
    """admin_level, adcode, domain, nonempty, load, eff_load (load over the area factor) per region row."""
    inputs = [e["inputs"] for e in regions["explanation"]]
    load = np.array([i["load"] for i in inputs], dtype=np.float64)
    k = np.array([i["k"] for i in inputs], dtype=np.float64)
    k_level = np.array([i["k_admin_level"] for i in inputs], dtype=np.float64)
    dom = np.array([i["domain_factor"] for i in inputs], dtype=np.float64)
    non_level = np.where(k > 0, k / (k_level * dom), 1.0)  # the area factor
    return pd.DataFrame(
        {
            "admin_level": regions["admin_level"].to_numpy(),
            "adcode": regions["adcode"].to_numpy(),
            "domain": regions["domain"].to_numpy(),
            "nonempty": (regions["n_units"] + regions["n_hazards"]).to_numpy() > 0,
            "load": load,
            "eff_load": load / non_level,
        }
    )


def _round_k(x: float) -> float:
    return float(f"{x:.3g}")


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _red_edge(loads: np.ndarray, m: int) -> float:
    """A load with exactly `m` of `loads` at or above it: halfway between the m-th and (m+1)-th heaviest."""
    desc = np.sort(loads)[::-1]
    if m <= 0:
        return float(desc[0]) * 1.05
    if m >= len(desc):
        return float(desc[-1]) * 0.95
    return float(desc[m - 1] + desc[m]) / 2.0


# --------------------------------------------------------------------------------------------------
# The proposal
# --------------------------------------------------------------------------------------------------
def _scales(frame: pd.DataFrame, levels: list[str], units: int, ref: Calibration | None) -> dict[str, float]:
    """c per admin level: units per region now over units per region in the reference census."""
    if ref is None:
        return {}
    n_regions = frame.loc[frame["domain"] == "all"].groupby("admin_level", sort=False).size()
    out = {}
    for lvl in levels:
        if lvl in ref.regions and n_regions.get(lvl, 0) > 0:
            out[lvl] = (units / float(n_regions[lvl])) / (ref.units / float(ref.regions[lvl]))
    return out


def _level_fit(
    lvl: str, rows: pd.DataFrame, base: ScoringModel, target: LevelShares | None, min_regions: int, c: float | None
) -> LevelFit:
    """k of one admin level (its `all` rows): fitted to the target red share when there are enough non-empty
    regions, else scaled by `c`, else kept."""
    n_all, nonempty = len(rows), int(rows["nonempty"].sum())
    k_base = base.region.k_for(lvl)
    if target is not None and nonempty >= min_regions:
        m = min(max(_half_up(target.red * n_all), 0), nonempty)
        edge = _red_edge(rows.loc[rows["nonempty"], "eff_load"].to_numpy(), m)
        if edge > 0:
            t = -math.log(1.0 - base.region.thresholds.red / 100.0)
            return LevelFit(lvl, "fitted", k_base, _round_k(edge / t), n_all, nonempty, target, m, edge)
    if target is None:
        why = "no target for this admin level"
    else:
        why = f"{nonempty} non-empty region{'s' if nonempty != 1 else ''} < min_regions {min_regions}"
    if c is None:
        return LevelFit(lvl, "kept", k_base, k_base, n_all, nonempty, note=f"{why}; no reference size")
    return LevelFit(lvl, "scaled", k_base, _round_k(k_base * c), n_all, nonempty, scale=c, note=why)


def _k_fits(
    frame: pd.DataFrame, levels: list[str], base: ScoringModel, settings: Calibration, scales: dict[str, float]
) -> list[LevelFit]:
    """A `LevelFit` per admin level present, then `default` (scaled by c of the finest recorded level)."""
    finest = next((scales[lvl] for lvl in reversed(levels) if lvl in scales), None)
    fits = []
    for lvl in levels:
        rows = frame.loc[(frame["admin_level"] == lvl) & (frame["domain"] == "all")]
        target = settings.target_for(lvl)
        fits.append(_level_fit(lvl, rows, base, target, settings.min_regions, scales.get(lvl, finest)))
    k_default = base.region.k["default"]
    if finest is None:
        fits.append(LevelFit("default", "kept", k_default, k_default, note="no reference size"))
    else:
        k = _round_k(k_default * finest)
        fits.append(LevelFit("default", "scaled", k_default, k, scale=finest, note="finer levels"))
    return fits


def _min_counts(
    base: ScoringModel, settings: Calibration, scales: dict[str, float], finest: float | None
) -> dict[str, dict[str, tuple[int, int]]]:
    """(base, proposed) min_count per scaled rule and admin level: round(min_count × c), at least 1."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for rule in base.region.rules:
        if rule.id in settings.scale_rules:
            out[rule.id] = {}
            for lvl, n in rule.min_count.items():
                c = scales.get(lvl, finest)
                out[rule.id][lvl] = (n, n if c is None else max(1, _half_up(n * c)))
    return out


def _domain_factors(frame: pd.DataFrame, base: ScoringModel, domains: list[str]) -> dict[str, tuple[float, float]]:
    """(base, proposed) factor per domain: the domain's share of the county level's total load."""
    levels = list(pd.unique(frame["admin_level"]))
    if "county" in levels:
        at = "county"
    else:
        at = str(frame.loc[frame["domain"] == "all"].groupby("admin_level")["load"].sum().idxmax())
    sel = frame.loc[frame["admin_level"] == at]
    total = float(sel.loc[sel["domain"] == "all", "load"].sum())
    by_domain = sel.loc[sel["domain"] != "all"].groupby("domain")["load"].sum()
    out = {}
    for d in domains:
        old = float(base.region.domain_factor.get(d, 1.0))
        load = float(by_domain.get(d, 0.0))
        out[d] = (old, max(0.01, round(load / total, 2)) if total > 0 and load > 0 else old)
    return out


def propose(
    regions: pd.DataFrame,
    base: ScoringModel,
    units: int,
    targets: dict[str, LevelShares] | None = None,
    *,
    calibrated_on: date | None = None,
    as_of: date | None = None,
    source: str | None = None,
) -> Proposal:
    """The base model refitted to the census whose regional levels (computed with `base`) are `regions`,
    of `units` units (see the module for the method). `targets` override the base's `[calibration.targets]`
    per admin level. The proposal's `[calibration]` records the census, the targets and the provenance."""
    if regions.empty:
        raise CalibrationRejected("no regions to calibrate on: import boundaries and ingest a census first")
    if base.region.thresholds.red >= 100.0:
        raise CalibrationRejected("the red index threshold is 100: no k puts a region there; lower it below 100")
    ref = base.calibration  # the census the base's constants fit (None: unknown, scaled numbers are kept)
    defaults = ref or load_model().calibration
    assert defaults is not None  # the shipped model carries a [calibration] record
    settings = defaults.model_copy(update={"targets": {**defaults.targets, **(targets or {})}})
    frame = _frame(regions)
    levels = [str(v) for v in pd.unique(frame["admin_level"])]  # coarse → fine (regional_levels' order)
    scales = _scales(frame, levels, units, ref)
    fits = _k_fits(frame, levels, base, settings, scales)
    factors = _domain_factors(frame, base, [str(d) for d in pd.unique(frame["domain"]) if d != "all"])
    min_count = _min_counts(base, settings, scales, fits[-1].scale)
    on = calibrated_on or date.today()
    data = base.to_dict()
    data["version"] = f"{base.version.split('+')[0]}+cal{on:%Y%m%d}"
    data["region"]["k"] = {**data["region"]["k"], **{f.admin_level: f.k for f in fits}}
    data["region"]["domain_factor"] = {**data["region"]["domain_factor"], **{d: v for d, (_, v) in factors.items()}}
    for rule in data["region"]["rules"]:
        for lvl, (_, new) in min_count.get(rule["id"], {}).items():
            rule["min_count"][lvl] = new
    data["calibration"] = {
        **settings.model_dump(mode="json"),
        "units": int(units),
        "regions": {f.admin_level: f.regions for f in fits[:-1]},
        "calibrated_on": on.isoformat(),
        "as_of": as_of.isoformat() if as_of else None,
        "source": source,
        "base_fingerprint": base.fingerprint(),
    }
    model = configfile.validate(data, ScoringModel, "the calibrated model")
    notes = [] if ref is not None else ["the base model records no census size ([calibration]): scaled numbers kept"]
    return Proposal(model, base, fits, factors, min_count, int(units), notes)


# --------------------------------------------------------------------------------------------------
# Counts and the build's hint
# --------------------------------------------------------------------------------------------------
def counts_by_level(regions: pd.DataFrame, domain: str = "all", column: str = "risk_level") -> dict[str, dict]:
    """admin level → {red: n, orange: n, yellow: n, blue: n} of one domain's regions (coarse → fine)."""
    sel = regions.loc[regions["domain"] == domain]
    out = {}
    for lvl in pd.unique(sel["admin_level"]):
        counts = sel.loc[sel["admin_level"] == lvl, column].value_counts()
        out[str(lvl)] = {lv: int(counts.get(lv, 0)) for lv in LEVELS}
    return out


@dataclass(frozen=True)
class Crowding:
    """An admin level whose regions (domain `all`) nearly all fall in one level: `count` of `regions`, of
    which `by_index` by their index alone and the others raised there by rules (`raised`: rule id → regions)."""

    admin_level: str
    level: str
    count: int
    regions: int
    by_index: int
    raised: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.count / self.regions

    def hint(self, share: float = HINT_SHARE) -> str:
        text = f"hint: {self.count} of {self.regions} {self.admin_level} regions ({self.share:.0%}) are {self.level}"
        if self.by_index / self.regions > share or not self.raised:
            return (
                f"{text}: the model's regional constants do not fit this census's size; run `riskmap calibrate` "
                "(docs/scoring.md §5)"
            )
        rules = ", ".join(f"{rule} {n}" for rule, n in self.raised.items())
        return (
            f"{text}, {self.by_index} by their index and the others raised by rules ({rules}): see the rules' "
            "min_count in the model, or list the rule in [calibration] scale_rules and run `riskmap calibrate` "
            "(docs/scoring.md §5)"
        )


def crowded(regions: pd.DataFrame, *, share: float = HINT_SHARE, min_regions: int = HINT_MIN_REGIONS) -> list[Crowding]:
    """Admin levels of at least `min_regions` regions (domain `all`) with more than `share` of them in one
    level (after rules)."""
    out = []
    sel = regions.loc[regions["domain"] == "all"]
    for lvl, counts in counts_by_level(sel).items():
        n = sum(counts.values())
        level, count = max(counts.items(), key=lambda kv: kv[1])
        if n < min_regions or count / n <= share:
            continue
        rows = sel.loc[(sel["admin_level"] == lvl) & (sel["risk_level"] == level), "explanation"]
        raised: dict[str, int] = {}
        for e in rows:
            for rule in e["rules"]:
                if rule["raised"]:
                    raised[rule["id"]] = raised.get(rule["id"], 0) + 1
        by_index = sum(e["index_level"] == level for e in rows)
        out.append(Crowding(lvl, level, count, n, by_index, raised))
    return out
