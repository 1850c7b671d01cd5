"""`geo/data/response.toml`: thresholds, road speeds, the off-road leg, the estimate without roads, the area
grid. Validated on load (`load_response`); a bad file raises `ModelInvalid` naming the file and the key."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from geo import configfile
from geo.catalogue import normalize_name

DEFAULT_PATH = Path(__file__).parent.parent / "data" / "response.toml"

Speed = Annotated[float, Field(gt=0.0, le=200.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoadSpeeds(_Frozen):
    offroad_kmh: Speed
    max_offroad_m: Annotated[float, Field(gt=0.0)]
    default_kmh: Speed
    class_kmh: dict[str, Speed]
    not_for_vehicles: tuple[str, ...] = ()

    _lookup: dict[str, float] = PrivateAttr(default_factory=dict)

    def model_post_init(self, _context: object) -> None:
        self._lookup = {normalize_name(k): v for k, v in self.class_kmh.items()}

    @field_validator("class_kmh")
    @classmethod
    def _distinct(cls, table: dict[str, float]) -> dict[str, float]:
        seen: dict[str, str] = {}
        for name in table:
            other = seen.setdefault(normalize_name(name), name)
            if other != name:
                raise ValueError(f"road classes {other!r} and {name!r} are the same name; keep one")
        return table

    def class_speed(self, classes: pd.Series) -> np.ndarray:
        """The declared speed of each road class (NaN: not in the table)."""
        uniques = pd.unique(classes.dropna())
        table = {u: self._lookup.get(normalize_name(str(u)), np.nan) for u in uniques}
        return classes.map(table).to_numpy(dtype=np.float64, na_value=np.nan)

    def not_vehicle(self, classes: pd.Series) -> np.ndarray:
        banned = {normalize_name(v) for v in self.not_for_vehicles}
        return classes.map(lambda c: isinstance(c, str) and normalize_name(c) in banned).to_numpy(dtype=bool)


class Setting(_Frozen):
    detour: Annotated[float, Field(ge=1.0, le=5.0)]
    speed_kmh: Speed
    name_suffixes: tuple[str, ...] = ()


class Estimate(_Frozen):
    urban: Setting
    rural: Setting


class Area(_Frozen):
    cell_m: Annotated[float, Field(ge=50.0, le=50_000.0)]
    max_cells: Annotated[int, Field(ge=1_000, le=50_000_000)] = 1_000_000


class Near(_Frozen):
    per_kind: Annotated[int, Field(ge=1, le=50)]
    shelters: Annotated[int, Field(ge=1, le=100)]


class ResponseConfig(_Frozen):
    """The validated response file."""

    thresholds: tuple[Annotated[float, Field(gt=0.0, le=600.0)], ...]
    headline: float
    road: RoadSpeeds
    estimate: Estimate
    area: Area
    near: Near

    @model_validator(mode="after")
    def _check(self) -> ResponseConfig:
        if not self.thresholds:
            raise ValueError("thresholds: declare at least one, e.g. [5, 10, 15, 30]")
        if list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError(f"thresholds must be distinct and ascending (got {list(self.thresholds)})")
        if self.headline not in self.thresholds:
            raise ValueError(f"headline {self.headline:g} is not one of the thresholds {list(self.thresholds)}")
        return self

    def label(self, minutes: float) -> str:
        """How a threshold names its columns: 15 → "15", 7.5 → "7_5"."""
        return f"{minutes:g}".replace(".", "_")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


@functools.lru_cache(maxsize=1)
def _default() -> ResponseConfig:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> ResponseConfig:
    return configfile.load(path, ResponseConfig, "response file", known_keys="geo/data/response.toml")


def load_response(path: Path | None = None) -> ResponseConfig:
    """The bundled response file (cached), or the one at `path`."""
    return _default() if path is None else _load(Path(path))
