"""Scoring: enterprises (units), hazard sites and regions, as pure functions over DataFrames.

The model (weights, thresholds, windows, rules) is data: `geo/data/model.toml`, read by `load_model()`.
docs/scoring.md gives every formula and default.
"""

from geo.scoring.hazards import score_hazards
from geo.scoring.model import ScoringModel, load_model
from geo.scoring.regions import regional_levels
from geo.scoring.units import explain_unit, score_enterprises

__all__ = ["ScoringModel", "explain_unit", "load_model", "regional_levels", "score_enterprises", "score_hazards"]
