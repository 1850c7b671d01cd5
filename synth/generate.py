"""Synthetic safety-risk census: enterprises, hazard sites and events for a set of counties.

`generate_demo(out_dir, counties)` writes a realistic, deterministic (per seed) census over any counties
GeoDataFrame (EPSG:4326), split across files that exercise the real input paths: a UTF-8 CSV with English
headers, a GB18030 CSV with Chinese headers and GCJ-02 coordinates, a GeoJSON of hazard sites and a CSV of
events with Chinese headers. A handful of deliberately bad rows are appended (see `BAD_ENTERPRISE_ROWS` and
the README.txt written next to the data).

Everything is vectorised over enterprises (numpy, shapely 2 array functions); only counties, cities and
hazard types are looped over. A million enterprises take seconds.

Indicators are driven by a latent risk per enterprise, `r = base_weight(industry) + noise`, so that riskier
industries carry more major hazard sources, hazardous processes, flags, events and graver declared levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import Catalogue, load_catalogue
from geo.errors import CRSUnknown

__all__ = ["BAD_ENTERPRISE_ROWS", "ENTERPRISE_COLUMNS", "GBK_COLUMNS", "EVENT_COLUMNS", "generate_demo"]

_KM_PER_DEG = 111.32

#: Canonical columns of enterprises.csv, in file order.
ENTERPRISE_COLUMNS: tuple[str, ...] = (
    "id", "name", "domain", "industry", "lon", "lat", "address", "county_code", "workers",
    "major_hazard_level", "hazardous_processes", "dust_explosion", "confined_space",
    "ammonia_refrigeration", "standardization_grade", "declared_level",
    "lec_l", "lec_e", "lec_c", "ls_l", "ls_s",
)  # fmt: skip

#: Canonical column -> Chinese header of enterprises_gcj02_gbk.csv (no LEC/LS columns in that file).
GBK_COLUMNS: dict[str, str] = {
    "id": "统一社会信用代码", "name": "企业名称", "domain": "领域", "industry": "行业",
    "lon": "经度", "lat": "纬度", "address": "地址", "county_code": "区县代码", "workers": "从业人员数",
    "major_hazard_level": "重大危险源等级", "hazardous_processes": "重点监管危险化工工艺",
    "dust_explosion": "涉爆粉尘", "confined_space": "有限空间", "ammonia_refrigeration": "涉氨制冷",
    "standardization_grade": "安全生产标准化等级", "declared_level": "自评等级",
}  # fmt: skip

#: Chinese headers of events.csv, in file order.
EVENT_COLUMNS: tuple[str, ...] = (
    "事件编号", "企业编号", "类型", "隐患等级", "发现日期", "整改期限", "销号日期", "死亡人数", "受伤人数",
)  # fmt: skip

#: The deliberately bad rows appended, in this order, at the end of enterprises.csv.
BAD_ENTERPRISE_ROWS: tuple[str, ...] = (
    "missing_coordinates",  # empty lon/lat -> rejected
    "non_numeric_latitude",  # lat '30,2x' -> rejected
    "swapped_coordinates",  # lat/lon swapped -> rejected (or flagged) as outside the area
    "outside_province",  # a point in Beijing -> rejected as outside every county
    "unknown_domain",  # domain 'mining' -> rejected
    "duplicate_id",  # repeats the first row's id -> rejected as duplicate
    "empty_id",  # empty id -> rejected
    "county_code_mismatch",  # declared county_code disagrees with the location -> warning only
    "unknown_industry",  # industry not in the catalogue -> warning only (domain default weight)
)

# Chinese value written in the GBK file for each declared level (as field forms print them).
_LEVEL_ZH_SHORT = {"red": "重大", "orange": "较大", "yellow": "一般", "blue": "低"}

# --------------------------------------------------------------------------------------------------
# Demo parameters (not catalogue data: only how often things occur in this synthetic census).
# Codes missing from the catalogue are ignored; catalogue codes missing here get the defaults.
# --------------------------------------------------------------------------------------------------
_DOMAIN_SHARE = {
    "hazchem": 0.06, "industry": 0.38, "fire": 0.20, "road": 0.06,
    "waterway": 0.04, "construction": 0.09, "urban": 0.06, "tourism": 0.11,
}  # fmt: skip
_INDUSTRY_FREQ = {  # relative frequency inside a domain (default 1)
    "hazchem_production": 0.8, "hazchem_trade": 1.5, "gas_station": 2.0, "fireworks": 0.4,
    "non_coal_mine": 0.3, "tailings": 0.1, "machinery": 3.0, "light_industry": 2.5, "textile": 2.5,
    "tobacco": 0.1, "commerce_warehousing": 1.5, "small_venues": 4.0, "crowded_places": 1.5,
    "building_construction": 2.0, "special_equipment": 2.0, "urban_rail": 0.2, "homestay": 2.0,
    "retail": 3.0, "amusement_facilities": 0.4, "fishing_vessel": 2.0,
}  # fmt: skip
_RURAL = {"non_coal_mine": 0.8, "tailings": 0.9, "scenic_area": 0.8, "homestay": 0.8, "fishing_vessel": 0.6,
          "fireworks": 0.4, "water_works": 0.6, "transport_works": 0.4, "ferry": 0.6}  # fmt: skip
_PARK_DOMAINS = {"hazchem": 0.65, "industry": 0.45}
_PROCESS_RATE = {"hazchem_production": 2.5, "hazchem_use": 1.0, "hazchem_storage_trade": 0.2,
                 "pharmaceutical": 1.5}  # fmt: skip
_DUST = {"metallurgy": 0.25, "nonferrous": 0.4, "machinery": 0.2, "light_industry": 0.2, "textile": 0.15,
         "building_materials": 0.12, "tobacco": 0.3, "commerce_warehousing": 0.03}  # fmt: skip
_AMMONIA = {"cold_storage": 0.85, "light_industry": 0.06, "retail": 0.01, "fishing_vessel": 0.05,
            "port_terminal": 0.03}  # fmt: skip
_CONFINED = {"underground_pipelines": 0.85, "gas": 0.4, "municipal_works": 0.6, "textile": 0.3,
             "light_industry": 0.3, "cold_storage": 0.4}  # fmt: skip

_TAILS: dict[str, tuple[str, ...]] = {
    "hazchem_production": ("化工有限公司", "石化有限公司", "化学股份有限公司", "精细化工有限公司",
                           "新材料科技有限公司"),
    "hazchem_storage_trade": ("化工贸易有限公司", "石化仓储有限公司", "化工物资有限公司"),
    "hazchem_trade": ("化工贸易有限公司", "化学品经营部", "化工原料商行"),
    "hazchem_use": ("涂装有限公司", "电镀有限公司", "表面处理有限公司", "新材料有限公司"),
    "gas_station": ("加油站", "石油加油站", "加油加气站"),
    "fireworks": ("烟花爆竹有限公司", "烟花爆竹批发有限公司"),
    "pharmaceutical": ("药业有限公司", "制药股份有限公司"),
    "non_coal_mine": ("矿业有限公司", "石料开采有限公司", "建材矿业有限公司"),
    "tailings": ("矿业有限公司", "选矿有限公司"),
    "metallurgy": ("钢铁有限公司", "特钢有限公司", "冶金有限公司", "铸造有限公司"),
    "nonferrous": ("铝业有限公司", "铜业有限公司", "有色金属有限公司"),
    "building_materials": ("水泥有限公司", "建材有限公司", "新型墙材有限公司", "玻璃有限公司"),
    "machinery": ("机械有限公司", "机械制造有限公司", "汽车配件有限公司", "五金有限公司", "机电有限公司"),
    "light_industry": ("食品有限公司", "家具有限公司", "塑业有限公司", "纸业有限公司", "工艺品有限公司"),
    "textile": ("纺织有限公司", "印染有限公司", "服饰有限公司", "化纤有限公司"),
    "tobacco": ("卷烟厂", "烟草有限公司"),
    "commerce_warehousing": ("物流有限公司", "仓储有限公司", "商贸有限公司"),
    "cold_storage": ("冷链物流有限公司", "冷冻食品有限公司", "冷藏有限公司"),
    "crowded_places": ("影城", "体育馆", "会展中心", "文化中心"),
    "high_rise": ("大厦", "国际大厦", "中心大厦", "公寓"),
    "commercial_complex": ("广场", "购物中心", "商业综合体"),
    "hospital": ("医院", "人民医院", "中医院", "诊所"),
    "school": ("中学", "小学", "幼儿园", "职业技术学校"),
    "elderly_care": ("养老院", "颐养中心", "敬老院"),
    "entertainment_venue": ("KTV", "娱乐会所", "酒吧"),
    "small_venues": ("小吃店", "便利店", "理发店", "五金店", "旅馆"),
    "passenger_transport": ("客运有限公司", "汽车客运站", "旅游客运有限公司"),
    "dangerous_goods_transport": ("危险品运输有限公司", "化工物流有限公司"),
    "freight_transport": ("货运有限公司", "运输有限公司", "物流有限公司"),
    "port_terminal": ("港务有限公司", "码头有限公司", "港口有限公司"),
    "fishing_vessel": ("渔业有限公司", "水产专业合作社", "远洋渔业有限公司"),
    "inland_shipping": ("航运有限公司", "船务有限公司"),
    "ferry": ("渡口", "渡运站"),
    "building_construction": ("建设有限公司", "建筑工程有限公司", "建工集团有限公司"),
    "municipal_works": ("市政工程有限公司", "市政建设有限公司"),
    "transport_works": ("交通工程有限公司", "路桥建设有限公司"),
    "gas": ("燃气有限公司", "液化气站", "天然气有限公司"),
    "underground_pipelines": ("管网有限公司", "水务有限公司", "排水管理所"),
    "special_equipment": ("电梯有限公司", "锅炉有限公司", "压力容器有限公司"),
    "bridges_tunnels": ("隧道管理所", "桥梁养护中心"),
    "urban_rail": ("轨道交通有限公司", "地铁运营有限公司"),
    "scenic_area": ("风景区", "景区", "旅游度假区"),
    "amusement_facilities": ("游乐园", "乐园", "游乐有限公司"),
    "homestay": ("民宿", "农家乐", "山庄"),
    "new_business": ("密室逃脱馆", "剧本杀店", "露营地", "电竞馆"),
    "hotel": ("大酒店", "宾馆", "酒店"),
    "retail": ("超市", "商场", "商贸有限公司", "批发市场"),
}  # fmt: skip
_DEFAULT_TAILS = ("实业有限公司", "有限公司")

_WORDS = (
    "恒达", "宏远", "鑫源", "华盛", "永兴", "天成", "金泰", "新华", "东方", "盛发", "瑞丰", "信达", "金鼎",
    "光明", "和平", "长城", "海天", "正泰", "同创", "富春", "锦程", "万通", "隆鑫", "联合", "中天", "大洋",
    "振兴", "宏达", "嘉华", "银河", "佳友", "元通", "汇丰", "国泰", "远大", "泰和", "兴旺", "顺发", "安达",
    "博远", "凯盛", "华联", "时代", "诚信", "德润", "新城", "宝利", "伟业", "众鑫", "明珠", "绿源", "海峰",
    "天和", "利民", "金鹰", "云栖", "青山", "江南", "美华", "协力",
)  # fmt: skip
_TOWNS = (
    "城关镇", "新城街道", "东湖街道", "城南街道", "城北街道", "临江镇", "石门镇", "新塘镇", "白沙街道",
    "龙山镇", "清溪镇", "高桥镇", "长安镇", "溪口镇", "沙河街道", "西湖街道", "太平镇", "双林镇",
)  # fmt: skip
_ROADS = (
    "人民路", "解放路", "中山路", "建设路", "文化路", "工业大道", "创业路", "环城东路", "环城西路",
    "新华路", "振兴路", "滨江路", "兴业路", "科技大道", "学院路", "迎宾大道", "江滨路", "东风路",
)  # fmt: skip
_PARK_SUFFIXES = ("经济开发区", "工业园区", "高新技术产业园区", "化工园区", "临港产业园")
_VILLAGES = (
    "石门", "东山", "下塘", "上村", "溪口", "岭脚", "山头", "新塘", "后畈", "前洋", "黄泥坞", "大岭",
    "龙潭", "白岩", "金竹", "桥头", "塘下", "横山", "坑口", "岙里",
)  # fmt: skip
_HIGHWAYS = ("G104国道", "G320国道", "G235国道", "S202省道", "S313省道", "县道X105", "沿江公路", "城东快速路")

# Hazard-site mix: type -> (share, {geometry: probability}, size range in m, median threatened population).
_HAZARD_MIX: dict[str, tuple[float, dict[str, float], tuple[float, float], float]] = {
    "ground_collapse": (0.15, {"point": 1.0}, (5.0, 40.0), 30.0),
    "geological": (0.30, {"point": 0.8, "line": 0.2}, (40.0, 200.0), 40.0),
    "tailings_pond": (0.08, {"polygon": 1.0}, (120.0, 450.0), 150.0),
    "accident_blackspot": (0.25, {"point": 0.5, "line": 0.5}, (150.0, 600.0), 200.0),
    "chemical_park": (0.05, {"polygon": 1.0}, (900.0, 2800.0), 5000.0),
    "flood_lowland": (0.17, {"polygon": 1.0}, (150.0, 700.0), 300.0),
}
_HAZARD_NAME_TAIL = {
    "ground_collapse": ("地面塌陷点", "采空塌陷区", "岩溶塌陷点"),
    "geological": ("滑坡隐患点", "崩塌隐患点", "泥石流沟", "不稳定斜坡"),
    "tailings_pond": ("尾矿库", "头顶库"),
    "flood_lowland": ("低洼易涝区", "易涝点", "积水点"),
}


# --------------------------------------------------------------------------------------------------
# Counties
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Counties:
    codes: np.ndarray  # str adcodes
    names: np.ndarray  # full names (object)
    short: np.ndarray  # names without 区/县/市 (object)
    city: np.ndarray  # parent adcode (object)
    geoms: np.ndarray  # prepared shapely geometries
    bounds: np.ndarray  # (n, 4)
    seat_x: np.ndarray
    seat_y: np.ndarray
    area_km2: np.ndarray
    size: np.ndarray  # random "economic size", sums to 1

    def __len__(self) -> int:
        return len(self.codes)


def _short_name(name: str) -> str:
    for suffix in ("自治县", "林区", "特区", "新区"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    if len(name) > 2 and name[-1] in "区县市旗":
        return name[:-1]
    return name or "本地"


def _prepare_counties(counties: gpd.GeoDataFrame, rng: np.random.Generator) -> _Counties:
    crs = counties.crs
    if crs is None or crs.to_epsg() not in (4326, 4490):
        raise CRSUnknown(
            f"demo counties must be in EPSG:4326 (WGS84), got {crs!r}; reproject them with "
            "counties.to_crs(4326) (or set_crs(4326) if the coordinates already are WGS84)"
        )
    missing = {"adcode", "name", "geometry"} - set(counties.columns)
    if missing or len(counties) == 0:
        raise ValueError(f"demo counties need columns adcode, name, geometry and at least one row; missing {missing}")
    codes = counties["adcode"].astype(str).to_numpy()
    names = counties["name"].fillna("").astype(str).to_numpy(dtype=object)
    if "parent_adcode" in counties.columns:
        city = counties["parent_adcode"].fillna("").astype(str).to_numpy(dtype=object)
    else:
        city = np.array([c[:4] + "00" for c in codes], dtype=object)
    geoms = shapely.make_valid(np.asarray(counties.geometry.values, dtype=object))
    shapely.prepare(geoms)
    seats = shapely.get_coordinates(shapely.point_on_surface(geoms))
    lat_cos = np.cos(np.radians(seats[:, 1]))
    area_km2 = shapely.area(geoms) * _KM_PER_DEG**2 * lat_cos
    size = rng.lognormal(0.0, 0.8, len(codes)) * np.sqrt(np.maximum(area_km2, 1.0))
    return _Counties(
        codes=codes,
        names=names,
        short=np.array([_short_name(n) for n in names], dtype=object),
        city=city,
        geoms=geoms,
        bounds=shapely.bounds(geoms),
        seat_x=seats[:, 0],
        seat_y=seats[:, 1],
        area_km2=area_km2,
        size=size / size.sum(),
    )


def _group(idx: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Positions of `idx` grouped by value 0..n_groups-1 (one argsort, no per-group scan)."""
    order = np.argsort(idx, kind="stable")
    cuts = np.cumsum(np.bincount(idx, minlength=n_groups))[:-1]
    return np.split(order, cuts)


def _uniform_in(rng: np.random.Generator, c: _Counties, county: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k points uniformly inside one county (vectorised rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = c.bounds[county]
    geom = c.geoms[county]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    for _ in range(200):
        if got >= k:
            break
        m = max(64, 3 * (k - got))
        x = np.round(rng.uniform(minx, maxx, m), 6)  # test what will be written (6 decimals)
        y = np.round(rng.uniform(miny, maxy, m), 6)
        inside = shapely.contains_xy(geom, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        got += int(inside.sum())
    if got < k:  # a sliver county: fall back to its seat
        xs.append(np.full(k, c.seat_x[county]))
        ys.append(np.full(k, c.seat_y[county]))
    return np.concatenate(xs)[:k], np.concatenate(ys)[:k]


def _uniform_many(rng: np.random.Generator, c: _Counties, county_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One uniform point inside county county_idx[i] for every i."""
    x = np.empty(len(county_idx))
    y = np.empty(len(county_idx))
    for county, pos in enumerate(_group(county_idx, len(c))):
        if len(pos):
            x[pos], y[pos] = _uniform_in(rng, c, county, len(pos))
    return x, y


def _scatter(
    rng: np.random.Generator,
    c: _Counties,
    county_idx: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    sigma_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scatter around (cx, cy), resampling points that fall outside their county."""
    x = np.empty(len(cx))
    y = np.empty(len(cy))
    for county, pos in enumerate(_group(county_idx, len(c))):
        todo = pos
        for _ in range(30):
            if len(todo) == 0:
                break
            sig_y = sigma_km[todo] / _KM_PER_DEG
            sig_x = sig_y / np.cos(np.radians(cy[todo]))
            px = np.round(cx[todo] + rng.normal(0.0, 1.0, len(todo)) * sig_x, 6)
            py = np.round(cy[todo] + rng.normal(0.0, 1.0, len(todo)) * sig_y, 6)
            inside = shapely.contains_xy(c.geoms[county], px, py)
            x[todo[inside]], y[todo[inside]] = px[inside], py[inside]
            todo = todo[~inside]
        if len(todo):
            x[todo], y[todo] = _uniform_in(rng, c, county, len(todo))
    return x, y


@dataclass(frozen=True)
class _Parks:
    county: np.ndarray  # county index of each park
    x: np.ndarray
    y: np.ndarray
    name: np.ndarray  # object


def _make_parks(rng: np.random.Generator, c: _Counties) -> _Parks:
    """A few industrial parks per city, each at a random point inside one of the city's counties."""
    county_of_park: list[int] = []
    for city in sorted(set(c.city)):
        members = np.flatnonzero(c.city == city)
        k = int(rng.integers(2, 5))
        p = c.size[members] / c.size[members].sum()
        county_of_park.extend(rng.choice(members, size=k, p=p).tolist())
    county = np.asarray(county_of_park, dtype=np.int64)
    x, y = _uniform_many(rng, c, county)
    suffix = np.asarray(_PARK_SUFFIXES, dtype=object)[rng.integers(0, len(_PARK_SUFFIXES), len(county))]
    return _Parks(county=county, x=x, y=y, name=c.short[county] + suffix)


# --------------------------------------------------------------------------------------------------
# Enterprises
# --------------------------------------------------------------------------------------------------
_USCC_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)


def _uscc(rng: np.random.Generator, county_codes: np.ndarray) -> np.ndarray:
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


def _masked_int(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    """Nullable Int64 column: values where keep, empty elsewhere."""
    return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~np.asarray(keep, dtype=bool))


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


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _names(rng: np.random.Generator, cat: Catalogue, ind: np.ndarray, place: np.ndarray) -> np.ndarray:
    """place + word + industry tail, e.g. 桐庐恒达化工有限公司 (vectorised through a flat tail table)."""
    tails = [_TAILS.get(i.code, _DEFAULT_TAILS) for i in cat.industries]
    flat = np.asarray([t for group in tails for t in group], dtype=object)
    count = np.array([len(t) for t in tails])
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    pick = offset[ind] + (rng.random(len(ind)) * count[ind]).astype(np.int64)
    return place + _pick(rng, _WORDS, len(ind)) + flat[pick]


def _addresses(rng: np.random.Generator, county_name: np.ndarray, park_name: np.ndarray | None) -> np.ndarray:
    n = len(county_name)
    town = _pick(rng, _TOWNS, n)
    if park_name is not None:
        town = np.where(park_name != "", park_name, town)
    number = rng.integers(1, 999, n).astype(str).astype(object)
    return county_name + town + _pick(rng, _ROADS, n) + number + "号"


def _park_of(rng: np.random.Generator, c: _Counties, parks: _Parks, county_idx: np.ndarray) -> np.ndarray:
    """A random park of each enterprise's own county, or -1 where the county has none."""
    order = np.argsort(parks.county, kind="stable")
    count = np.bincount(parks.county, minlength=len(c))
    first = np.cumsum(count) - count
    k = count[county_idx]
    slot = first[county_idx] + (rng.random(len(county_idx)) * k).astype(np.int64)
    return np.where(k > 0, order[np.clip(slot, 0, len(order) - 1)], -1)


def _place(
    rng: np.random.Generator,
    c: _Counties,
    parks: _Parks,
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
    x[~rural], y[~rural] = _scatter(rng, c, county_idx[~rural], cx[~rural], cy[~rural], sigma[~rural])
    x[rural], y[rural] = _uniform_many(rng, c, county_idx[rural])
    park_name = np.where(mode == 1, parks.name[np.clip(park, 0, None)], "").astype(object)
    return x, y, park_name


def _indicators(rng: np.random.Generator, cat: Catalogue, ind: np.ndarray, dom: np.ndarray) -> dict[str, object]:
    """Risk indicators, all driven by the latent risk r = base_weight + noise."""
    n = len(ind)
    codes = [i.code for i in cat.industries]
    w = np.array([i.base_weight for i in cat.industries])[ind]
    r = np.clip(w + rng.normal(0.0, 0.12, n), 0.0, 1.0)
    hazchem = dom == "hazchem"
    workers = np.clip(np.rint(rng.lognormal(np.log(6.0) + 2.2 * r, 1.0)), 1, 50000).astype(np.int64)
    mh_p = np.where(hazchem, 0.05 + 0.5 * r**3, 0.003 + 0.02 * r**3)
    mh_grade = rng.choice([1, 2, 3, 4], size=n, p=[0.06, 0.14, 0.30, 0.50])
    major_hazard = _masked_int(mh_grade, rng.random(n) < mh_p)
    processes = rng.poisson(_lookup(_PROCESS_RATE, codes, 0.002)[ind] * r**2)
    confined_base = np.where(np.isin(dom, ["hazchem", "industry", "urban", "construction"]), 0.05 + 0.35 * r, 0.02)
    confined_p = np.maximum(confined_base, _lookup(_CONFINED, codes, 0.0)[ind])
    graded = rng.random(n) < 0.25 + 0.6 * w
    std = _masked_int(rng.choice([1, 2, 3], size=n, p=[0.05, 0.25, 0.70]), graded)
    return {
        "r": r,
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
    declared = np.where(rng.random(n) < 0.08, level, None)
    u = rng.random(n)
    lec = u < 0.05
    ls = (u >= 0.05) & (u < 0.10)

    def scale(values: list[float]) -> np.ndarray:
        k = np.clip(np.rint(r * (len(values) - 1) + rng.normal(0.0, 1.0, n)), 0, len(values) - 1).astype(int)
        return np.where(lec, np.asarray(values)[k], np.nan)

    def score15() -> pd.arrays.IntegerArray:
        s = np.clip(np.rint(1 + 4 * r + rng.normal(0.0, 0.8, n)), 1, 5).astype(np.int64)
        return _masked_int(s, ls)

    return {
        "declared_level": declared,
        "lec_l": scale([0.2, 0.5, 1.0, 3.0, 6.0, 10.0]),
        "lec_e": scale([0.5, 1.0, 2.0, 3.0, 6.0, 10.0]),
        "lec_c": scale([1.0, 3.0, 7.0, 15.0, 40.0, 100.0]),
        "ls_l": score15(),
        "ls_s": score15(),
    }


def _enterprises(rng: np.random.Generator, cat: Catalogue, c: _Counties, parks: _Parks, n: int) -> pd.DataFrame:
    county_idx = rng.choice(len(c), size=n, p=c.size)
    ind = rng.choice(len(cat.industries), size=n, p=_industry_probs(cat))
    ind_codes = [i.code for i in cat.industries]
    dom = np.array([i.domain for i in cat.industries], dtype=object)[ind]
    rural_p = _lookup(_RURAL, ind_codes, 0.1)[ind]
    park_p = pd.Series(dom).map(_PARK_DOMAINS).fillna(0.08).to_numpy(dtype=np.float64)
    x, y, park_name = _place(rng, c, parks, county_idx, rural_p, park_p)
    ids = _uscc(rng, c.codes[county_idx])
    ind_zh = np.array([i.zh for i in cat.industries], dtype=object)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": _names(rng, cat, ind, c.short[county_idx]),
            "domain": dom,
            "industry": ind_zh[ind],
            "lon": np.round(x, 6),
            "lat": np.round(y, 6),
            "address": _addresses(rng, c.names[county_idx], park_name),
            "county_code": c.codes[county_idx],
        }
    )
    indicators = _indicators(rng, cat, ind, dom)
    r = indicators.pop("r")
    for key, values in {**indicators, **_assessments(rng, r)}.items():
        frame[key] = values
    frame["_risk"] = r  # used to weight events; never written
    return frame


def _spare_ids(rng: np.random.Generator, c: _Counties, taken: set[str], k: int) -> list[str]:
    """k ids that look real but belong to no generated enterprise."""
    out: list[str] = []
    while len(out) < k:
        for candidate in _uscc(rng, c.codes[rng.integers(0, len(c), k)]).tolist():
            if candidate not in taken and candidate not in out and len(out) < k:
                out.append(candidate)
    return out


def _bad_rows(good: pd.DataFrame, c: _Counties, spare: list[str]) -> pd.DataFrame:
    """The rows of BAD_ENTERPRISE_ROWS, each a realistic copy of a good row with one thing wrong."""
    base = good.iloc[: len(BAD_ENTERPRISE_ROWS)].copy().astype(object).reset_index(drop=True)
    base = base.reindex(range(len(BAD_ENTERPRISE_ROWS)), method="ffill")
    base["id"] = spare[: len(base)]
    base["name"] = base["name"] + "(补录)"
    rows = {kind: base.iloc[i].copy() for i, kind in enumerate(BAD_ENTERPRISE_ROWS)}
    rows["missing_coordinates"]["lon"] = rows["missing_coordinates"]["lat"] = ""
    rows["non_numeric_latitude"]["lat"] = "30,2x"
    row = rows["swapped_coordinates"]
    row["lon"], row["lat"] = row["lat"], row["lon"]
    row = rows["outside_province"]
    row["lon"], row["lat"], row["address"] = 116.397428, 39.90923, "北京市东城区东长安街1号"
    rows["unknown_domain"]["domain"] = "mining"
    rows["duplicate_id"]["id"] = good["id"].iloc[0]
    rows["empty_id"]["id"] = ""
    row = rows["county_code_mismatch"]
    others = [code for code in c.codes if code != row["county_code"]]
    row["county_code"] = others[0] if others else row["county_code"][:4] + "99"
    rows["unknown_industry"]["industry"] = "宠物美容"
    rows["unknown_industry"]["domain"] = "tourism"
    return pd.DataFrame(list(rows.values()), columns=good.columns)


def _write_enterprises(
    rng: np.random.Generator, cat: Catalogue, frame: pd.DataFrame, c: _Counties, out: Path
) -> tuple[list[Path], list[str]]:
    """enterprises.csv (UTF-8, English, WGS84, ~70% + bad rows) and the GB18030/GCJ-02 file (~30%)."""
    from geo.crs import wgs84_to_gcj02

    in_gbk = rng.random(len(frame)) < 0.3
    columns = list(ENTERPRISE_COLUMNS)
    utf = frame.loc[~in_gbk, columns]
    spare = _spare_ids(rng, c, set(frame["id"]), len(BAD_ENTERPRISE_ROWS) + 1)
    bad = _bad_rows(utf if len(utf) else frame[columns], c, spare)
    utf_path = out / "enterprises.csv"
    utf.to_csv(utf_path, index=False, encoding="utf-8", lineterminator="\n")
    bad.to_csv(utf_path, index=False, header=False, mode="a", encoding="utf-8", lineterminator="\n")

    gbk = frame.loc[in_gbk, list(GBK_COLUMNS)].copy()
    gx, gy = wgs84_to_gcj02(gbk["lon"].to_numpy(), gbk["lat"].to_numpy())
    gbk["lon"], gbk["lat"] = np.round(gx, 6), np.round(gy, 6)
    gbk["domain"] = gbk["domain"].map({d.code: d.zh for d in cat.domains})
    gbk["declared_level"] = gbk["declared_level"].map(_LEVEL_ZH_SHORT)
    gbk_path = out / "enterprises_gcj02_gbk.csv"
    gbk.rename(columns=GBK_COLUMNS).to_csv(gbk_path, index=False, encoding="gb18030", lineterminator="\r\n")
    return [utf_path, gbk_path], [*bad["id"].tolist(), spare[-1]]


# --------------------------------------------------------------------------------------------------
# Hazard sites
# --------------------------------------------------------------------------------------------------
def _hazard_plan(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Type and geometry of each site; the first sites cover every (type, geometry) pair."""
    pairs = [(t, g) for t, (_, geoms, _, _) in _HAZARD_MIX.items() for g in geoms]
    types = list(_HAZARD_MIX)
    shares = np.array([_HAZARD_MIX[t][0] for t in types])
    kind = np.asarray(types, dtype=object)[rng.choice(len(types), size=n, p=shares / shares.sum())]
    geom = np.empty(n, dtype=object)
    for t in types:
        names, probs = zip(*_HAZARD_MIX[t][1].items(), strict=True)
        sel = kind == t
        geom[sel] = np.asarray(names, dtype=object)[rng.choice(len(names), size=int(sel.sum()), p=probs)]
    k = min(n, len(pairs))
    kind[:k] = [p[0] for p in pairs[:k]]
    geom[:k] = [p[1] for p in pairs[:k]]
    return kind, geom


def _hazard_centres(
    rng: np.random.Generator, c: _Counties, parks: _Parks, kind: np.ndarray, geom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Centres: chemical parks at industrial parks, other sites anywhere; some polygons on county borders."""
    n = len(kind)
    weight = np.sqrt(np.maximum(c.area_km2, 1e-6)) * c.size
    county = rng.choice(len(c), size=n, p=weight / weight.sum())
    x, y = _uniform_many(rng, c, county)
    chem = np.flatnonzero(kind == "chemical_park")
    if len(chem) and len(parks.x):
        at = np.arange(len(chem)) % len(parks.x)
        x[chem], y[chem] = parks.x[at], parks.y[at]
    border = np.flatnonzero((geom == "polygon") & (rng.random(n) < 0.2))
    if len(border):  # deliberately straddle a county border
        edges = shapely.boundary(c.geoms[county[border]])
        pts = shapely.line_interpolate_point(edges, rng.random(len(border)), normalized=True)
        xy = shapely.get_coordinates(pts)
        x[border], y[border] = xy[:, 0], xy[:, 1]
    return x, y


def _offsets_deg(dx_m: np.ndarray, dy_m: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m_per_deg = _KM_PER_DEG * 1000.0
    return dx_m / (m_per_deg * np.cos(np.radians(lat))), dy_m / m_per_deg


def _shapes(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size_m: np.ndarray, geom: np.ndarray) -> np.ndarray:
    """Points, star-shaped polygons (12 jittered vertices) and wandering lines (6 vertices), vectorised."""
    out = shapely.points(x, y)
    poly = np.flatnonzero(geom == "polygon")
    if len(poly):
        k = 12
        angles = (np.arange(k) + rng.uniform(-0.3, 0.3, (len(poly), k))) * (2 * np.pi / k)
        radius = size_m[poly, None] * rng.uniform(0.6, 1.0, (len(poly), k))
        dx, dy = _offsets_deg(radius * np.cos(angles), radius * np.sin(angles), y[poly, None])
        ring = np.stack([x[poly, None] + dx, y[poly, None] + dy], axis=-1)
        ring = np.concatenate([ring, ring[:, :1]], axis=1)
        out[poly] = shapely.polygons(ring)
    line = np.flatnonzero(geom == "line")
    if len(line):
        k = 6
        heading = rng.uniform(0, 2 * np.pi, (len(line), 1)) + np.cumsum(rng.normal(0, 0.35, (len(line), k)), 1)
        step = size_m[line, None] / (k - 1) * rng.uniform(0.6, 1.4, (len(line), k))
        step[:, 0] = 0.0
        dx, dy = _offsets_deg(np.cumsum(step * np.cos(heading), 1), np.cumsum(step * np.sin(heading), 1), y[line, None])
        out[line] = shapely.linestrings(np.stack([x[line, None] + dx, y[line, None] + dy], axis=-1))
    return out


def _hazard_scale(geoms: np.ndarray, kind: np.ndarray, size_m: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Area m² for polygons and ground collapses, length m for lines and black spots, m³ for geological."""
    cos = np.cos(np.radians(lat))
    m_per_deg = _KM_PER_DEG * 1000.0
    area = shapely.area(geoms) * m_per_deg**2 * cos
    length = shapely.length(geoms) * m_per_deg * np.sqrt(cos)  # rough, direction-averaged
    gtype = shapely.get_type_id(geoms)
    scale = np.where(gtype == 3, area, np.where(gtype == 1, length, size_m))
    scale = np.where((gtype == 0) & (kind == "ground_collapse"), np.pi * size_m**2, scale)
    scale = np.where((gtype == 0) & (kind == "geological"), size_m**3 / 40.0, scale)
    return np.round(scale, 1)


def _hazard_names(rng: np.random.Generator, c: _Counties, kind: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(kind)
    county = np.zeros(n, dtype=np.int64)
    tree = shapely.STRtree(c.geoms)
    hits = tree.query(shapely.points(x, y), predicate="intersects")
    county[hits[0]] = hits[1]
    place = c.short[county] + _pick(rng, _VILLAGES, n)
    names = place + "隐患点"
    for kind_code, tails in _HAZARD_NAME_TAIL.items():
        sel = kind == kind_code
        names[sel] = place[sel] + _pick(rng, tails, int(sel.sum()))
    bs = kind == "accident_blackspot"
    km = rng.integers(1, 180, int(bs.sum())).astype(str).astype(object)
    metre = rng.integers(0, 10, int(bs.sum())).astype(str).astype(object)
    names[bs] = _pick(rng, _HIGHWAYS, int(bs.sum())) + "K" + km + "+" + metre + "00事故多发点段"
    chem = kind == "chemical_park"
    names[chem] = c.short[county[chem]] + _pick(rng, ("化工园区", "精细化工园区", "化工集中区"), int(chem.sum()))
    return names


def _hazards(
    rng: np.random.Generator, cat: Catalogue, c: _Counties, parks: _Parks, n: int, end: date
) -> gpd.GeoDataFrame:
    kind, geom = _hazard_plan(rng, n)
    x, y = _hazard_centres(rng, c, parks, kind, geom)
    lo = np.array([_HAZARD_MIX[k][2][0] for k in kind])
    hi = np.array([_HAZARD_MIX[k][2][1] for k in kind])
    size_m = rng.uniform(lo, hi)
    shapes = _shapes(rng, x, y, size_m, geom)
    base = {h.code: h.base_weight for h in cat.hazard_types}
    weight = np.array([base.get(k, 0.5) for k in kind])
    noisy = weight + rng.normal(0.0, 0.2, n)
    level = np.select([noisy > 0.95, noisy > 0.75, noisy > 0.5], ["red", "orange", "yellow"], "blue").astype(object)
    median_pop = np.array([_HAZARD_MIX[k][3] for k in kind])
    found = np.datetime64(end, "D") - rng.integers(0, 3650, n).astype("timedelta64[D]")
    return gpd.GeoDataFrame(
        {
            "id": [f"HZ{i:06d}" for i in range(1, n + 1)],
            "name": _hazard_names(rng, c, kind, x, y),
            "type": kind,
            "level": np.where(rng.random(n) < 0.5, level, None),
            "population": np.rint(rng.lognormal(np.log(median_pop), 1.0)).astype(np.int64),
            "scale": _hazard_scale(shapes, kind, size_m, y),
            "status": _pick(rng, ("active",) * 11 + ("monitoring",) * 6 + ("closed",) * 3, n),
            "found_date": np.datetime_as_string(found, unit="D"),
        },
        geometry=shapes,
        crs="EPSG:4326",
    )


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------
def _iso(days: np.ndarray) -> np.ndarray:
    """datetime64[D] -> 'YYYY-MM-DD', NaT -> ''."""
    text = np.datetime_as_string(days, unit="D").astype(object)
    text[np.isnat(days)] = ""
    return text


def _hidden_danger_dates(
    rng: np.random.Generator, found: np.ndarray, major: np.ndarray, end: np.datetime64
) -> tuple[np.ndarray, np.ndarray]:
    """Due and closed dates: most closed before the due date, some late, some still open at `end`."""
    n = len(found)
    allowed = np.where(major, rng.integers(30, 181, n), rng.integers(7, 46, n))
    due = found + allowed.astype("timedelta64[D]")
    u = rng.random(n)
    on_time = found + (rng.random(n) * (allowed + 1)).astype(np.int64).astype("timedelta64[D]")
    late = due + rng.integers(1, 91, n).astype("timedelta64[D]")
    closed = np.where(u < 0.84, on_time, np.where(u < 0.96, late, np.datetime64("NaT")))
    closed = np.where(closed > end, np.datetime64("NaT"), closed).astype("datetime64[D]")
    return due, closed


def _events(
    rng: np.random.Generator, frame: pd.DataFrame, n: int, start: date, end: date, unknown_id: str
) -> pd.DataFrame:
    """Hidden dangers, accidents and alarms, riskier (and bigger) enterprises getting more."""
    weight = np.exp(3.0 * frame["_risk"].to_numpy()) * frame["workers"].to_numpy() ** 0.3
    who = rng.choice(len(frame), size=n, p=weight / weight.sum())
    kind = rng.choice(np.array(["隐患", "报警", "事故"], dtype=object), size=n, p=[0.84, 0.14, 0.02])
    end_d = np.datetime64(end, "D")
    span = (end - start).days
    found = np.datetime64(start, "D") + rng.integers(0, span + 1, n).astype("timedelta64[D]")
    danger = kind == "隐患"
    major = danger & (rng.random(n) < 0.03 + 0.03 * frame["_risk"].to_numpy()[who])
    due, closed = _hidden_danger_dates(rng, found, major, end_d)
    nat = np.datetime64("NaT", "D")
    accident = kind == "事故"
    deaths = rng.choice([0, 1, 2, 3, 5], size=n, p=[0.9, 0.07, 0.02, 0.007, 0.003])
    injuries = rng.choice([0, 1, 2, 3, 5, 12], size=n, p=[0.55, 0.3, 0.08, 0.04, 0.02, 0.01])
    order = np.argsort(found, kind="stable")
    events = pd.DataFrame(
        {
            "事件编号": "",
            "企业编号": frame["id"].to_numpy()[who],
            "类型": kind,
            "隐患等级": np.where(danger, np.where(major, "重大", "一般"), ""),
            "发现日期": _iso(found),
            "整改期限": _iso(np.where(danger, due, nat)),
            "销号日期": _iso(np.where(danger, closed, nat)),
            "死亡人数": _masked_int(deaths, accident),
            "受伤人数": _masked_int(injuries, accident),
        }
    ).iloc[order]
    bad = pd.DataFrame([{**events.iloc[len(events) // 2].to_dict(), "企业编号": unknown_id}]) if len(events) else None
    events = pd.concat([events, bad], ignore_index=True) if bad is not None else events.reset_index(drop=True)
    events["事件编号"] = [f"EV{i:08d}" for i in range(1, len(events) + 1)]
    return events[list(EVENT_COLUMNS)]


# --------------------------------------------------------------------------------------------------
# README and entry point
# --------------------------------------------------------------------------------------------------
def _readme(n: int, seed: int, start: date, end: date, bad_ids: list[str], n_hazards: int, n_events: int) -> str:
    bad_lines = "\n".join(f"    {i + 1}. {kind:<22} id={bad_ids[i]!r}" for i, kind in enumerate(BAD_ENTERPRISE_ROWS))
    return f"""riskmap synthetic census (demo data; every name, id and number is invented)
generated by synth.generate_demo(n_enterprises={n}, seed={seed}, start={start}, end={end})

Ingest in this order: enterprises, hazards, events.

enterprises.csv  UTF-8, English headers, WGS84 (EPSG:4326), about 70% of the enterprises.
    columns: {", ".join(ENTERPRISE_COLUMNS)}
    domain is the catalogue code; industry the catalogue Chinese name; flags are 0/1; empty = unknown/none.
    declared_level is a level code (red/orange/yellow/blue); lec_* on ~5% of rows, ls_* on ~5% others.
    The last {len(BAD_ENTERPRISE_ROWS)} rows are deliberately bad, each a copy of a good row with one fault:
{bad_lines}
    Rows 1-7 must be rejected; rows 8 (county_code disagrees with the location) and 9 (industry not in
    the catalogue) are kept with a warning.

enterprises_gcj02_gbk.csv  GB18030 (GBK-compatible) as exported by Excel, CRLF line ends, Chinese headers,
    coordinates in GCJ-02 (Amap), about 30% of the enterprises. Columns:
    {", ".join(GBK_COLUMNS.values())}
    领域 holds the Chinese domain name; 自评等级 holds 重大/较大/一般/低. No LEC/LS columns.

hazards.geojson  RFC 7946 GeoJSON (WGS84), {n_hazards} hazard sites of every type.
    columns: id, name, type (catalogue code), level (assessed; empty for about half), population
    (threatened), scale, status (active/monitoring/closed), found_date (YYYY-MM-DD).
    geometry: ground_collapse points; geological points and lines; accident_blackspot points and road
    segments; tailings_pond, chemical_park and flood_lowland polygons, some straddling county borders.
    scale: area m2 for polygons and ground collapses, length m for lines and black-spot points,
    volume m3 for geological points.

events.csv  UTF-8, Chinese headers, {n_events} rows from {start} to {end}.
    columns: {", ".join(EVENT_COLUMNS)}
    类型 隐患 (hidden danger, with 隐患等级 一般/重大, 整改期限 due and 销号日期 closed dates; some still open
    and overdue at {end}), 事故 (accident, with 死亡人数/受伤人数), 报警 (monitoring alarm).
    The last row is deliberately bad: 企业编号 {bad_ids[-1]!r} is no enterprise.
"""


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def generate_demo(
    out_dir: Path,
    counties: gpd.GeoDataFrame,
    n_enterprises: int = 20000,
    seed: int = 0,
    start: date | None = None,
    end: date = date(2026, 11, 1),
    n_hazards: int | None = None,
    n_events: int | None = None,
) -> dict[str, list[Path]]:
    """Write a synthetic census for `counties` (EPSG:4326; adcode, name, parent_adcode, polygons) to out_dir.

    Deterministic for a seed. `start` defaults to three years before `end`. Returns the written files by
    kind, in the order they must be ingested: {'enterprises': [...], 'hazards': [...], 'events': [...]}.
    Hazard sites default to n_enterprises / 50 (at least 60) and events to 0.6 × n_enterprises.
    """
    if n_enterprises < 1:
        raise ValueError(f"n_enterprises must be at least 1, got {n_enterprises}")
    if start is None:
        start = _years_before(end, 3)
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cat = load_catalogue()
    c = _prepare_counties(counties, rng)
    parks = _make_parks(rng, c)
    frame = _enterprises(rng, cat, c, parks, n_enterprises)
    enterprise_paths, bad_ids = _write_enterprises(rng, cat, frame, c, out)

    hazards = _hazards(rng, cat, c, parks, n_hazards or max(60, n_enterprises // 50), end)
    hazards_path = out / "hazards.geojson"
    hazards_path.unlink(missing_ok=True)
    hazards.to_file(hazards_path, driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})

    events = _events(rng, frame, n_events or max(1, round(0.6 * n_enterprises)), start, end, bad_ids[-1])
    events_path = out / "events.csv"
    events.to_csv(events_path, index=False, encoding="utf-8", lineterminator="\n")

    readme = _readme(n_enterprises, seed, start, end, bad_ids, len(hazards), len(events))
    (out / "README.txt").write_text(readme, encoding="utf-8")
    return {"enterprises": enterprise_paths, "hazards": [hazards_path], "events": [events_path]}
