"""Emergency resources for the demo: every county gets shelters, warehouses, equipment depots, fire and rescue
stations, teams, experts and hospitals, in proportions taken from a district's published list (262 shelters,
75 material warehouses, 22 equipment depots, 62 experts, 3 volunteer teams) scaled to the demo's size, and
fire stations by area (about one per 120 km², at least two a county), so that the estimate gives a rescue
circle with gaps in the large rural counties."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from synth.places import Counties, uniform_many

#: per county at the demo's default 20,000 enterprises (a tenth of the source district's figures), scaled
#: linearly with the number of enterprises; fire stations follow area instead
PER_COUNTY = {
    "shelter": 26.2,
    "warehouse": 7.5,
    "equipment_depot": 2.2,
    "expert": 6.2,
    "rescue_team": 1.3,
    "rescue_station": 1.0,
    "hospital": 2.0,
}
KM2_PER_FIRE_STATION = 120.0
_STOCK = [
    "帐篷 200 顶；折叠床 500 张；棉被 1000 床",
    "救生衣 300 件；冲锋舟 4 艘；抽水泵 6 台",
    "应急照明 80 套；发电机 5 台；沙袋 5000 条",
    "防化服 40 套；空气呼吸器 30 具；堵漏器材 10 套",
]
_EQUIP = ["破拆工具组 6 套；生命探测仪 2 台", "大功率排水车 2 辆；移动照明车 1 辆", "危化品侦检车 1 辆；洗消设备 2 套"]
RESOURCE_COLUMNS = {
    "id": "资源编号",
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "capacity": "容量",
    "staff": "人员",
    "vehicles": "车辆",
    "phone": "联系电话",
    "domain": "专业领域",
    "stock": "物资",
}


NONE = np.array(None, dtype=object)  # an empty cell in np.where


ZHEJIANG_COUNTIES = 90


def resource_frame(rng: np.random.Generator, cat: Catalogue, c: Counties, n_enterprises: int) -> pd.DataFrame:
    """The demo's resources, English canonical columns, Chinese kind names (as a census file would hold)."""
    # PER_COUNTY is per county of a 20,000-unit census over Zhejiang's 90 counties: over more counties, the
    # same census is spread thinner (all of China's 2,874 counties would otherwise get 32× the resources)
    scale = n_enterprises / 20_000 * min(1.0, ZHEJIANG_COUNTIES / len(c))
    county, kind = [], []
    for code, per in PER_COUNTY.items():
        k = np.maximum(1, rng.poisson(per * scale, size=len(c)))
        county.append(np.repeat(np.arange(len(c)), k))
        kind.append(np.full(int(k.sum()), code, dtype=object))
    fire = np.maximum(2, np.round(c.area_km2 / KM2_PER_FIRE_STATION)).astype(int)
    county.append(np.repeat(np.arange(len(c)), fire))
    kind.append(np.full(int(fire.sum()), "fire_station", dtype=object))
    county_idx, kinds = np.concatenate(county), np.concatenate(kind)
    x, y = uniform_many(rng, c, county_idx)
    n = len(kinds)
    zh = {k.code: k.zh for k in cat.resource_kinds}
    number = pd.Series(kinds).groupby([county_idx, kinds]).cumcount().to_numpy() + 1
    names = [
        f"{c.short[i]}{zh[k]}{j}号" if k != "expert" else f"{c.short[i]}专家{j:02d}"
        for i, k, j in zip(county_idx, kinds, number, strict=True)
    ]
    domains = np.array([d.zh for d in cat.domains], dtype=object)
    responders = np.isin(kinds, ["fire_station", "rescue_station", "rescue_team"])
    frame = pd.DataFrame(
        {
            "id": [f"R{c.codes[i]}-{k}-{j:03d}" for i, k, j in zip(county_idx, kinds, number, strict=True)],
            "name": names,
            "kind": [zh[k] for k in kinds],
            "lon": np.round(x, 6),
            "lat": np.round(y, 6),
            "capacity": np.where(
                kinds == "shelter",
                rng.integers(2, 60, n) * 50,
                np.where(kinds == "hospital", rng.integers(1, 12, n) * 50, 0),
            ),
            "staff": np.where(responders, rng.integers(8, 45, n), 0),
            "vehicles": np.where(responders, rng.integers(2, 9, n), 0),
            "phone": [f"0571-{rng.integers(80000000, 89999999)}" for _ in range(n)],
            "domain": np.where(kinds == "expert", domains[rng.integers(0, len(domains), n)], NONE),
            "stock": np.where(
                kinds == "warehouse",
                np.array(_STOCK, dtype=object)[rng.integers(0, len(_STOCK), n)],
                np.where(
                    kinds == "equipment_depot", np.array(_EQUIP, dtype=object)[rng.integers(0, len(_EQUIP), n)], NONE
                ),
            ),
        }
    )
    for col in ("capacity", "staff", "vehicles"):
        frame[col] = frame[col].where(frame[col] > 0, None)
    return frame


def write_resources(frame: pd.DataFrame, path) -> None:
    """A UTF-8 CSV with Chinese headers (as a county's resource register is filed)."""
    frame.rename(columns=RESOURCE_COLUMNS).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
