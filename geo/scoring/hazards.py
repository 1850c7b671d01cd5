"""Score hazard sites (隐患点/风险点): an assessed level wins; otherwise type weight, population and scale.

    computed = min(100, base_points × base_weight(type) + steps(population) + steps_type(scale))
    assessed level L given → basis "assessed", score = computed clipped into L's band of [levels]
    status closed          → basis "closed", score 0, blue (and no weight in regional loads)
    otherwise              → basis "scale_population", level = bands(computed)

Every number is in `[hazards]` of the scoring model; docs/scoring.md explains them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.catalogue import LEVELS, Catalogue, normalize_name
from geo.scoring.model import ScoringModel, Steps
from geo.scoring.units import _num, _rank, _resolve, _round1

__all__ = ["score_hazards"]

_LEVEL_OF_RANK = np.array([None, *LEVELS], dtype=object)


def _steps(values: np.ndarray, steps: Steps) -> np.ndarray:
    """Points of the highest step reached by each value (0 below the first step and for NaN)."""
    lut = np.array([0.0, *steps.points])
    k = np.searchsorted(np.asarray(steps.thresholds), np.nan_to_num(values, nan=-np.inf), side="right")
    return lut[k]


def _type_codes(hazards: pd.DataFrame, catalogue: Catalogue) -> np.ndarray:
    """The catalogue code of each site's type (None where unknown)."""
    if "type" not in hazards.columns:
        return np.full(len(hazards), None, dtype=object)
    codes, uniques = pd.factorize(hazards["type"])
    lut = np.array([catalogue.hazard_type_code(str(u)) for u in uniques] + [None], dtype=object)
    return lut[codes]


def _computed(hazards: pd.DataFrame, types: np.ndarray, model: ScoringModel, catalogue: Catalogue) -> np.ndarray:
    hz = model.hazards
    weights = {h.code: h.base_weight for h in catalogue.hazard_types}
    base = np.array([weights.get(t, hz.default_base_weight) for t in pd.unique(types)], dtype=np.float64)
    base_of = dict(zip(pd.unique(types), base, strict=True))
    weight = pd.Series(types, dtype=object).map(base_of).to_numpy(dtype=np.float64)
    score = hz.base_points * weight + _steps(_num(hazards, "population"), hz.population)
    scale = _num(hazards, "scale")
    for code, steps in hz.scale.items():
        sel = types == code
        if sel.any():
            score[sel] += _steps(scale[sel], steps)
    return np.minimum(100.0, score)


def _closed(hazards: pd.DataFrame, model: ScoringModel) -> np.ndarray:
    if "status" not in hazards.columns or not model.hazards.closed_statuses:
        return np.zeros(len(hazards), dtype=bool)
    closed = {normalize_name(s) for s in model.hazards.closed_statuses}
    flag = _resolve(hazards["status"], len(hazards), lambda s: 1.0 if normalize_name(s) in closed else None)
    return ~np.isnan(flag)


def score_hazards(hazards: pd.DataFrame, model: ScoringModel, catalogue: Catalogue) -> pd.DataFrame:
    """Score hazard sites: one row per input row, in order, indexed like the input.

    Columns: `id`, `risk_score` (0–100, 0.1), `risk_level`, `basis` ('assessed' | 'scale_population' |
    'closed'). An assessed `level` the catalogue does not recognise is ignored (basis scale_population).
    """
    n = len(hazards)
    types = _type_codes(hazards, catalogue)
    computed = _round1(_computed(hazards, types, model, catalogue))

    def rank(text: str) -> float | None:
        code = catalogue.level_code(text)
        return float(LEVELS.index(code) + 1) if code else None

    assessed = _resolve(hazards.get("level"), n, rank)
    has_level = ~np.isnan(assessed)
    a_rank = np.where(has_level, assessed, 4).astype(np.int64)
    lo = np.array([0.0, model.levels.red, model.levels.orange, model.levels.yellow, 0.0])
    hi = np.array([100.0, 100.0, model.levels.red - 0.1, model.levels.orange - 0.1, model.levels.yellow - 0.1])
    score = np.where(has_level, np.clip(computed, lo[a_rank], hi[a_rank]), computed)
    rank_ = np.where(has_level, a_rank, _rank(score, model.levels.edges()))
    closed = _closed(hazards, model)
    score = np.where(closed, 0.0, score)
    rank_ = np.where(closed, 4, rank_)
    basis = np.where(closed, "closed", np.where(has_level, "assessed", "scale_population")).astype(object)
    return pd.DataFrame(
        {
            "id": hazards["id"].to_numpy(dtype=object) if "id" in hazards.columns else None,
            "risk_score": score,
            "risk_level": _LEVEL_OF_RANK[rank_],
            "basis": basis,
        },
        index=hazards.index,
    )
