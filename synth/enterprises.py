"""The enterprises of the census: industry, id, location, name, address, risk indicators and assessments.

Indicators are driven by a latent risk per enterprise, `r = base_weight(industry) + noise`, so that riskier
industries carry more major hazard sources, hazardous processes, flags and graver declared levels (and, in
synth.events, more events).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from synth.names import addresses, enterprise_names
from synth.places import Counties, Parks, scatter, uniform_many
from synth.values import masked_int, masked_object

# --------------------------------------------------------------------------------------------------
# Demo parameters (not catalogue data: only how often things occur in this synthetic census).
# Codes missing from the catalogue are ignored; catalogue codes missing here get the defaults.
# --------------------------------------------------------------------------------------------------
_DOMAIN_SHARE = {
    "hazchem": 0.06,
    "industry": 0.38,
    "fire": 0.20,
    "road": 0.06,
    "waterway": 0.04,
    "construction": 0.09,
    "urban": 0.06,
    "tourism": 0.11,
}
_INDUSTRY_FREQ = {  # relative frequency inside a domain (default 1)
    "hazchem_production": 0.8,
    "hazchem_trade": 1.5,
    "gas_station": 2.0,
    "fireworks": 0.4,
    "non_coal_mine": 0.3,
    "tailings": 0.1,
    "machinery": 3.0,
    "light_industry": 2.5,
    "textile": 2.5,
    "tobacco": 0.1,
    "commerce_warehousing": 1.5,
    "small_venues": 4.0,
    "crowded_places": 1.5,
    "building_construction": 2.0,
    "special_equipment": 2.0,
    "urban_rail": 0.2,
    "homestay": 2.0,
    "retail": 3.0,
    "amusement_facilities": 0.4,
    "fishing_vessel": 2.0,
}
_RURAL = {
    "non_coal_mine": 0.8,
    "tailings": 0.9,
    "scenic_area": 0.8,
    "homestay": 0.8,
    "fishing_vessel": 0.6,
    "fireworks": 0.4,
    "water_works": 0.6,
    "transport_works": 0.4,
    "ferry": 0.6,
}
_PARK_DOMAINS = {"hazchem": 0.65, "industry": 0.45}
_PROCESS_RATE = {"hazchem_production": 2.5, "hazchem_use": 1.0, "hazchem_storage_trade": 0.2, "pharmaceutical": 1.5}
_DUST = {
    "metallurgy": 0.25,
    "nonferrous": 0.4,
    "machinery": 0.2,
    "light_industry": 0.2,
    "textile": 0.15,
    "building_materials": 0.12,
    "tobacco": 0.3,
    "commerce_warehousing": 0.03,
}
_AMMONIA = {"cold_storage": 0.85, "light_industry": 0.06, "retail": 0.01, "fishing_vessel": 0.05, "port_terminal": 0.03}
_CONFINED = {
    "underground_pipelines": 0.85,
    "gas": 0.4,
    "municipal_works": 0.6,
    "textile": 0.3,
    "light_industry": 0.3,
    "cold_storage": 0.4,
}


_USCC_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)


def uscc(rng: np.random.Generator, county_codes: np.ndarray) -> np.ndarray:
    """Unique 18-character 统一社会信用代码-like ids (with a valid GB 32100 check character)."""
    n = len(county_codes)
    space = 31**9
    serial = rng.integers(0, space, n)
    for _ in range(50):
        _, first = np.unique(serial, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        serial[dup] = rng.integers(0, space, int(dup.sum()))
    digits = np.empty((n, 17), dtype=np.int64)
    digits[:, 0] = 9  # registered by market regulation
    digits[:, 1] = 1  # enterprise
    adm = np.frombuffer("".join(county_codes.tolist()).encode("ascii"), dtype=np.uint8).reshape(n, 6)
    digits[:, 2:8] = adm.astype(np.int64) - ord("0")
    digits[:, 8:17] = (serial[:, None] // (31 ** np.arange(8, -1, -1, dtype=np.int64))) % 31
    check = (31 - (digits * _USCC_WEIGHTS).sum(axis=1) % 31) % 31
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = _USCC_CHARS[digits]
    chars[:, 17] = _USCC_CHARS[check]
    return chars.view("S18").ravel().astype(str)


def _lookup(table: dict[str, float], codes: list[str], default: float) -> np.ndarray:
    return np.array([table.get(code, default) for code in codes], dtype=np.float64)


def _industry_probs(cat: Catalogue) -> np.ndarray:
    codes = [i.code for i in cat.industries]
    weight = _lookup({i.code: i.base_weight for i in cat.industries}, codes, 0.5)
    freq = _lookup(_INDUSTRY_FREQ, codes, 1.0) * np.exp(-1.5 * weight)
    domain_of = [i.domain for i in cat.industries]
    probs = np.empty(len(codes))
    for d in cat.domains:
        members = np.array([dom == d.code for dom in domain_of])
        if members.any():
            share = _DOMAIN_SHARE.get(d.code, 1.0 / len(cat.domains))
            probs[members] = share * freq[members] / freq[members].sum()
    return probs / probs.sum()


def _park_of(rng: np.random.Generator, c: Counties, parks: Parks, county_idx: np.ndarray) -> np.ndarray:
    """A random park of each enterprise's own county, or -1 where the county has none."""
    order = np.argsort(parks.county, kind="stable")
    count = np.bincount(parks.county, minlength=len(c))
    first = np.cumsum(count) - count
    k = count[county_idx]
    slot = first[county_idx] + (rng.random(len(county_idx)) * k).astype(np.int64)
    return np.where(k > 0, order[np.clip(slot, 0, len(order) - 1)], -1)


def _place(
    rng: np.random.Generator,
    c: Counties,
    parks: Parks,
    county_idx: np.ndarray,
    rural_p: np.ndarray,
    park_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Locations: county seat cluster, industrial park cluster, or anywhere in the county (rural)."""
    u = rng.random(len(county_idx))
    park = _park_of(rng, c, parks, county_idx)
    mode = np.where(u < rural_p, 2, np.where((u < rural_p + park_p) & (park >= 0), 1, 0))
    seat_sigma = np.clip(0.18 * np.sqrt(c.area_km2), 1.0, 6.0)[county_idx]
    cx = np.where(mode == 1, parks.x[np.clip(park, 0, None)], c.seat_x[county_idx])
    cy = np.where(mode == 1, parks.y[np.clip(park, 0, None)], c.seat_y[county_idx])
    sigma = np.where(mode == 1, np.clip(0.35 * seat_sigma, 0.5, 2.0), seat_sigma)
    x = np.empty(len(county_idx))
    y = np.empty(len(county_idx))
    rural = mode == 2
    x[~rural], y[~rural] = scatter(rng, c, county_idx[~rural], cx[~rural], cy[~rural], sigma[~rural])
    x[rural], y[rural] = uniform_many(rng, c, county_idx[rural])
    park_name = np.where(mode == 1, parks.name[np.clip(park, 0, None)], "").astype(object)
    return x, y, park_name


def _indicators(
    rng: np.random.Generator, cat: Catalogue, ind: np.ndarray, dom: np.ndarray
) -> tuple[np.ndarray, dict[str, object]]:
    """The latent risk r = base_weight + noise, and the risk indicator columns it drives."""
    n = len(ind)
    codes = [i.code for i in cat.industries]
    w = np.array([i.base_weight for i in cat.industries])[ind]
    r = np.clip(w + rng.normal(0.0, 0.12, n), 0.0, 1.0)
    hazchem = dom == "hazchem"
    workers = np.clip(np.rint(rng.lognormal(np.log(6.0) + 2.2 * r, 1.0)), 1, 50000).astype(np.int64)
    mh_p = np.where(hazchem, 0.05 + 0.5 * r**3, 0.003 + 0.02 * r**3)
    mh_grade = rng.choice([1, 2, 3, 4], size=n, p=[0.06, 0.14, 0.30, 0.50])
    major_hazard = masked_int(mh_grade, rng.random(n) < mh_p)
    processes = rng.poisson(_lookup(_PROCESS_RATE, codes, 0.002)[ind] * r**2)
    confined_base = np.where(np.isin(dom, ["hazchem", "industry", "urban", "construction"]), 0.05 + 0.35 * r, 0.02)
    confined_p = np.maximum(confined_base, _lookup(_CONFINED, codes, 0.0)[ind])
    graded = rng.random(n) < 0.25 + 0.6 * w
    std = masked_int(rng.choice([1, 2, 3], size=n, p=[0.05, 0.25, 0.70]), graded)
    return r, {
        "workers": workers,
        "major_hazard_level": major_hazard,
        "hazardous_processes": processes.astype(np.int64),
        "dust_explosion": (rng.random(n) < _lookup(_DUST, codes, 0.005)[ind] * (0.5 + r)).astype(np.int8),
        "confined_space": (rng.random(n) < confined_p).astype(np.int8),
        "ammonia_refrigeration": (rng.random(n) < _lookup(_AMMONIA, codes, 0.002)[ind]).astype(np.int8),
        "standardization_grade": std,
    }


def _assessments(rng: np.random.Generator, r: np.ndarray) -> dict[str, object]:
    """Declared level (~8%), LEC values (~5%) and LS values (~5% other rows), graver for higher r."""
    n = len(r)
    noisy = r + rng.normal(0.0, 0.15, n)
    level = np.select([noisy > 0.85, noisy > 0.65, noisy > 0.40], ["red", "orange", "yellow"], "blue").astype(object)
    declared = masked_object(level, rng.random(n) < 0.08)
    u = rng.random(n)
    lec = u < 0.05
    ls = (u >= 0.05) & (u < 0.10)

    def scale(values: list[float]) -> np.ndarray:
        k = np.clip(np.rint(r * (len(values) - 1) + rng.normal(0.0, 1.0, n)), 0, len(values) - 1).astype(int)
        return np.where(lec, np.asarray(values)[k], np.nan)

    def score15() -> pd.arrays.IntegerArray:
        s = np.clip(np.rint(1 + 4 * r + rng.normal(0.0, 0.8, n)), 1, 5).astype(np.int64)
        return masked_int(s, ls)

    return {
        "declared_level": declared,
        "lec_l": scale([0.2, 0.5, 1.0, 3.0, 6.0, 10.0]),
        "lec_e": scale([0.5, 1.0, 2.0, 3.0, 6.0, 10.0]),
        "lec_c": scale([1.0, 3.0, 7.0, 15.0, 40.0, 100.0]),
        "ls_l": score15(),
        "ls_s": score15(),
    }


def enterprise_frame(rng: np.random.Generator, cat: Catalogue, c: Counties, parks: Parks, n: int) -> pd.DataFrame:
    """n enterprises in canonical columns (ENTERPRISE_COLUMNS), plus `_risk`, the latent risk (never written)."""
    county_idx = rng.choice(len(c), size=n, p=c.size)
    ind = rng.choice(len(cat.industries), size=n, p=_industry_probs(cat))
    ind_codes = [i.code for i in cat.industries]
    dom = np.array([i.domain for i in cat.industries], dtype=object)[ind]
    rural_p = _lookup(_RURAL, ind_codes, 0.1)[ind]
    park_p = pd.Series(dom).map(_PARK_DOMAINS).fillna(0.08).to_numpy(dtype=np.float64)
    x, y, park_name = _place(rng, c, parks, county_idx, rural_p, park_p)
    ids = uscc(rng, c.codes[county_idx])
    ind_zh = np.array([i.zh for i in cat.industries], dtype=object)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": enterprise_names(rng, cat, ind, c.short[county_idx]),
            "domain": dom,
            "industry": ind_zh[ind],
            "lon": np.round(x, 6),
            "lat": np.round(y, 6),
            "address": addresses(rng, c.names[county_idx], park_name),
            "county_code": c.codes[county_idx],
        }
    )
    r, indicators = _indicators(rng, cat, ind, dom)
    for key, values in {**indicators, **_assessments(rng, r)}.items():
        frame[key] = values
    frame["_risk"] = r  # used to weight events; never written
    return frame
