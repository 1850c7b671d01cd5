"""Travel times without a road network: straight-line distance × detour factor at a declared speed, per
setting (urban or rural) of the target's county (geo/data/response.toml `[estimate]`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.response.config import ResponseConfig
from geo.response.network import LocalProjection

if TYPE_CHECKING:
    from scipy.spatial import cKDTree


def urban_counties(boundaries: pd.DataFrame, config: ResponseConfig) -> set[str]:
    """The adcodes whose name ends in one of the urban suffixes (市辖区 "…区")."""
    suffixes = tuple(config.estimate.urban.name_suffixes)
    if not suffixes:
        return set()
    names = boundaries["name"].astype(str)
    return set(boundaries.loc[names.str.endswith(suffixes), "adcode"].astype(str))


@dataclass(frozen=True)
class Estimator:
    """Responders indexed for nearest-by-straight-line queries in a local projection."""

    proj: LocalProjection
    tree: cKDTree | None
    config: ResponseConfig
    urban: frozenset[str]

    @classmethod
    def build(
        cls, lon: np.ndarray, lat: np.ndarray, config: ResponseConfig, urban: set[str], proj: LocalProjection
    ) -> Estimator:
        ok = np.isfinite(lon) & np.isfinite(lat)
        if not ok.any():
            return cls(proj, None, config, frozenset(urban))
        from scipy.spatial import cKDTree

        x, y = proj.to_m(lon, lat)
        pts = np.column_stack([np.where(ok, x, 1e12), np.where(ok, y, 1e12)])
        return cls(proj, cKDTree(pts), config, frozenset(urban))

    def factor(self, county: np.ndarray) -> np.ndarray:
        """Minutes per straight-line metre for targets in `county` (adcodes)."""
        u, r = self.config.estimate.urban, self.config.estimate.rural
        is_urban = pd.Series(county, dtype=object).isin(self.urban).to_numpy()
        return np.where(is_urban, u.detour / (u.speed_kmh * 1000 / 60), r.detour / (r.speed_kmh * 1000 / 60))

    def nearest(self, lon: np.ndarray, lat: np.ndarray, county: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minutes from the nearest responder (straight line) to each target, and which responder."""
        n = len(lon)
        minutes, who = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if self.tree is None or not ok.any():
            return minutes, who
        x, y = self.proj.to_m(lon[ok], lat[ok])
        d, i = self.tree.query(np.column_stack([x, y]), k=1)
        minutes[ok] = d * self.factor(np.asarray(county, dtype=object)[ok])
        who[ok] = i
        return minutes, who

    def all_to(self, lon: float, lat: float, county: str | None, r_lon: np.ndarray, r_lat: np.ndarray) -> np.ndarray:
        """Minutes from every resource at (r_lon, r_lat) to one point, by the same estimate."""
        x, y = self.proj.to_m(np.array([lon]), np.array([lat]))
        rx, ry = self.proj.to_m(r_lon, r_lat)
        d = np.hypot(rx - x[0], ry - y[0])
        return d * self.factor(np.array([county], dtype=object))[0]
