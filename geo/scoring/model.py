"""The scoring model: every weight, threshold, window and rule of riskmap's scores, as validated data.

The default model lives in `geo/data/model.toml`; `load_model(path)` reads another. Validation on load
enforces what the scoring invariants rely on: thresholds ascend, weights and points are non-negative and in
range, level weights never rank a graver level below a milder one, windows are positive, the regional scheme
is one of fixed | quantiles | natural_breaks, calibration targets are shares summing to 1. A bad file raises
`ModelInvalid` naming the file, the key path and the problem. The optional `[calibration]` record says what
census the regional constants fit and what `riskmap calibrate` aims at (`geo.scoring.calibrate`).

    >>> m = load_model()
    >>> m.levels.red, m.methods.lec.red, m.region.scheme
    (70.0, 320.0, 'fixed')
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo import configfile
from geo.catalogue import LevelCode

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "model.toml"

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Points = Annotated[float, Field(ge=0.0, le=100.0)]
Increment = Annotated[float, Field(ge=0.0, le=10.0)]
Weight01 = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
Days = Annotated[int, Field(gt=0, le=36500)]

REGION_COUNTS = ("veto_units", "red_units", "red_sites", "red")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Bands(_Frozen):
    """Lower edges (inclusive) of the yellow, orange and red bands on a 0–100 scale."""

    yellow: Annotated[float, Field(gt=0.0, lt=100.0)]
    orange: Annotated[float, Field(gt=0.0, lt=100.0)]
    red: Annotated[float, Field(gt=0.0, le=100.0)]

    @model_validator(mode="after")
    def _ascending(self) -> Bands:
        if not self.yellow < self.orange < self.red:
            raise ValueError(
                f"thresholds must ascend yellow < orange < red (got yellow={self.yellow}, "
                f"orange={self.orange}, red={self.red})"
            )
        return self

    def edges(self) -> tuple[float, float, float]:
        """(yellow, orange, red)."""
        return (self.yellow, self.orange, self.red)


class MethodBands(_Frozen):
    """Band edges of an assessed method on its own scale, and the value (`top`) that maps to score 100."""

    yellow: Positive
    orange: Positive
    red: Positive
    top: Positive

    @model_validator(mode="after")
    def _ascending(self) -> MethodBands:
        if not self.yellow < self.orange < self.red < self.top:
            raise ValueError(
                f"thresholds must ascend yellow < orange < red < top (got yellow={self.yellow}, "
                f"orange={self.orange}, red={self.red}, top={self.top})"
            )
        return self


class MajorHazardPoints(_Frozen):
    """Points per GB 18218 grade; 一级 (grade 1) is the gravest and may not score below the others."""

    grade_1: Points
    grade_2: Points
    grade_3: Points
    grade_4: Points

    @model_validator(mode="after")
    def _graver_more(self) -> MajorHazardPoints:
        if not self.grade_1 >= self.grade_2 >= self.grade_3 >= self.grade_4:
            raise ValueError("points must not increase from grade_1 (gravest) to grade_4")
        return self


class Processes(_Frozen):
    per_process: Points
    max: Points


class Flags(_Frozen):
    dust_explosion: Points
    confined_space: Points
    ammonia_refrigeration: Points


class Workers(_Frozen):
    per_log10: Points
    max: Points


class Inherent(_Frozen):
    industry_points: Points
    unknown_weight: Weight01
    major_hazard: MajorHazardPoints
    processes: Processes
    flags: Flags
    workers: Workers


class Control(_Frozen):
    """Multipliers per 安全生产标准化 grade (1 best); `none` for units without a grade."""

    grade_1: Annotated[float, Field(gt=0.0, le=2.0)]
    grade_2: Annotated[float, Field(gt=0.0, le=2.0)]
    grade_3: Annotated[float, Field(gt=0.0, le=2.0)]
    none: Annotated[float, Field(gt=0.0, le=2.0)]

    @model_validator(mode="after")
    def _better_lower(self) -> Control:
        if not self.grade_1 <= self.grade_2 <= self.grade_3 <= self.none:
            raise ValueError(
                "factors must satisfy grade_1 <= grade_2 <= grade_3 <= none (a better grade never raises "
                f"the score; got {self.grade_1}, {self.grade_2}, {self.grade_3}, {self.none})"
            )
        return self


class HiddenDangerTerm(_Frozen):
    open_general: Increment
    open_major: Increment
    overdue: Increment
    max: Increment


class AccidentTerm(_Frozen):
    window_days: Days
    per_accident: Increment
    per_death: Increment
    per_injury: Increment
    max: Increment


class AlarmTerm(_Frozen):
    window_days: Days
    per_alarm: Increment
    max: Increment


class Dynamic(_Frozen):
    max_factor: Annotated[float, Field(ge=1.0, le=10.0)]
    hidden_danger: HiddenDangerTerm
    accident: AccidentTerm
    alarm: AlarmTerm


class Methods(_Frozen):
    order: tuple[Literal["lec", "ls"], ...]
    lec: MethodBands
    ls: MethodBands

    @field_validator("order")
    @classmethod
    def _unique(cls, order: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(order)) != len(order):
            raise ValueError(f"methods may appear once each (got {list(order)})")
        return order


class Overrides(_Frozen):
    major_hidden_danger: bool
    declared_level: bool


class Steps(_Frozen):
    """Points by step: a value >= thresholds[i] earns points[i] (the highest step reached)."""

    thresholds: tuple[Annotated[float, Field(ge=0.0)], ...]
    points: tuple[Points, ...]

    @model_validator(mode="after")
    def _steps(self) -> Steps:
        if len(self.thresholds) != len(self.points) or not self.thresholds:
            raise ValueError(
                f"thresholds and points must be non-empty and of equal length "
                f"(got {len(self.thresholds)} and {len(self.points)})"
            )
        if any(b <= a for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            raise ValueError(f"thresholds must strictly ascend (got {list(self.thresholds)})")
        if any(b < a for a, b in zip(self.points, self.points[1:], strict=False)):
            raise ValueError(f"points must not decrease (got {list(self.points)})")
        return self


class Hazards(_Frozen):
    base_points: Points
    default_base_weight: Weight01
    closed_statuses: tuple[str, ...] = ()
    population: Steps
    scale: dict[Code, Steps] = {}
    domains: dict[Code, Code] = {}


class LevelWeights(_Frozen):
    """Unit-equivalent weight of each level in a region's load; graver levels never weigh less."""

    red: Annotated[float, Field(ge=0.0, le=1000.0)]
    orange: Annotated[float, Field(ge=0.0, le=1000.0)]
    yellow: Annotated[float, Field(ge=0.0, le=1000.0)]
    blue: Annotated[float, Field(ge=0.0, le=1000.0)]

    @model_validator(mode="after")
    def _monotone(self) -> LevelWeights:
        if not self.red >= self.orange >= self.yellow >= self.blue:
            raise ValueError(
                "weights must satisfy red >= orange >= yellow >= blue (otherwise a graver unit could "
                f"lower a region; got {self.red}, {self.orange}, {self.yellow}, {self.blue})"
            )
        return self

    def of(self, level: str) -> float:
        return float(getattr(self, level))


class RegionArea(_Frozen):
    exponent: Annotated[float, Field(ge=0.0, le=2.0)]
    reference_km2: Positive


class RegionRule(_Frozen):
    """A floor: where `count` >= min_count[admin level], the region is at least `at_least`."""

    id: Code
    count: Literal["veto_units", "red_units", "red_sites", "red"]
    min_count: dict[Code, Annotated[int, Field(ge=1)]]
    at_least: LevelCode
    text: Annotated[str, Field(min_length=1)]

    @field_validator("text")
    @classmethod
    def _template(cls, text: str) -> str:
        try:
            text.format(count=1, min_count=1, at_least="red", at_least_zh="重大风险")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"text may only use {{count}}, {{min_count}}, {{at_least}}, {{at_least_zh}} (error: {exc!r})"
            ) from exc
        return text


class Coping(_Frozen):
    """Lack of coping capacity: unreached units of `levels` weigh (1 + lack) × their level weight."""

    lack: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    minutes: Annotated[float, Field(gt=0.0, le=600.0)] = 15.0
    levels: tuple[LevelCode, ...] = ("red", "orange")


class Region(_Frozen):
    scheme: Literal["fixed", "quantiles", "natural_breaks"]
    top_n: Annotated[int, Field(ge=0, le=100)]
    site_factor: Annotated[float, Field(ge=0.0, le=100.0)]
    level_weights: LevelWeights
    thresholds: Bands
    k: dict[Code, Positive]
    domain_factor: dict[Code, Positive] = {}
    area: RegionArea
    coping: Coping = Coping()
    rules: tuple[RegionRule, ...] = ()

    @field_validator("k")
    @classmethod
    def _has_default(cls, k: dict[str, float]) -> dict[str, float]:
        if "default" not in k:
            raise ValueError("needs a `default` entry for admin levels not listed (township, village, ...)")
        return k

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[RegionRule, ...]) -> tuple[RegionRule, ...]:
        ids = [r.id for r in rules]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"rule ids must be unique (duplicated: {', '.join(dup)})")
        return rules

    def k_for(self, admin_level: str) -> float:
        """The saturation constant of one admin level (`default` for levels not listed)."""
        return float(self.k.get(admin_level, self.k["default"]))


Share = Annotated[float, Field(ge=0.0, le=1.0)]


class LevelShares(_Frozen):
    """Target shares of an admin level's regions per level (by index, before rules); they sum to 1."""

    red: Share
    orange: Share
    yellow: Share
    blue: Share

    @model_validator(mode="after")
    def _sum_to_one(self) -> LevelShares:
        total = self.red + self.orange + self.yellow + self.blue
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"shares must sum to 1 (got red {self.red} + orange {self.orange} + yellow {self.yellow} "
                f"+ blue {self.blue} = {total:g})"
            )
        return self

    def of(self, level: str) -> float:
        return float(getattr(self, level))


class Calibration(_Frozen):
    """What the regional constants were fitted on, and the targets `riskmap calibrate` aims at
    (docs/scoring.md §5). The provenance fields are written by `riskmap calibrate`."""

    units: Annotated[int, Field(ge=1)]
    regions: dict[Code, Annotated[int, Field(ge=1)]]
    min_regions: Annotated[int, Field(ge=2, le=1_000_000)] = 10
    scale_rules: tuple[Code, ...] = ()
    targets: dict[Code, LevelShares] = {}
    calibrated_on: dt.date | None = None
    as_of: dt.date | None = None
    source: str | None = None
    base_fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None

    def target_for(self, admin_level: str) -> LevelShares | None:
        """The target of one admin level (`default` for levels not listed; None without either)."""
        return self.targets.get(admin_level, self.targets.get("default"))


class ScoringModel(_Frozen):
    """The validated scoring model. Build it with `load_model()`."""

    name: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)]
    levels: Bands
    inherent: Inherent
    control: Control
    dynamic: Dynamic
    methods: Methods
    overrides: Overrides
    hazards: Hazards
    region: Region
    calibration: Calibration | None = None

    @model_validator(mode="after")
    def _scaled_rules_exist(self) -> ScoringModel:
        if self.calibration is not None:
            known = {r.id for r in self.region.rules}
            unknown = [r for r in self.calibration.scale_rules if r not in known]
            if unknown:
                raise ValueError(
                    f"calibration.scale_rules: {', '.join(unknown)} is not the id of a rule in [[region.rules]] "
                    f"(rules: {', '.join(sorted(known)) or 'none'})"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON-compatible data (what `fingerprint()` hashes). A model without a
        `[calibration]` record has no `calibration` key (so its fingerprint is what it was before the
        record existed)."""
        data = self.model_dump(mode="json")
        if data.get("calibration") is None:
            data.pop("calibration", None)
        return data

    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of the model: equal numbers → equal fingerprint."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load(path: Path) -> ScoringModel:
    return configfile.load(path, ScoringModel, "scoring model file", known_keys="geo/data/model.toml")


@functools.lru_cache(maxsize=1)
def _default() -> ScoringModel:
    return _load(DEFAULT_PATH)


def load_model(path: Path | str | None = None) -> ScoringModel:
    """Load and validate a scoring model TOML file; the bundled default (cached) when `path` is None.

    Raises `ModelInvalid` naming the file, the key path and the problem.
    """
    if path is None:
        return _default()
    return _load(Path(path))
