"""Invented Chinese names: the vocabulary and the builders of enterprise, park, address and hazard-site names."""

from __future__ import annotations

import numpy as np

from geo.catalogue import Catalogue
from synth.values import pick

# Name tails by industry code (industries not listed get _DEFAULT_TAILS).
_TAILS: dict[str, tuple[str, ...]] = {
    "hazchem_production": (
        "化工有限公司",
        "石化有限公司",
        "化学股份有限公司",
        "精细化工有限公司",
        "新材料科技有限公司",
    ),
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
}
_DEFAULT_TAILS = ("实业有限公司", "有限公司")

# Word pools: middle words of enterprise names, towns and roads of addresses, park suffixes, villages and
# highways of hazard-site names.
_WORDS = tuple(
    "恒达 宏远 鑫源 华盛 永兴 天成 金泰 新华 东方 盛发 瑞丰 信达 金鼎 光明 和平 长城 海天 正泰 同创 "
    "富春 锦程 万通 隆鑫 联合 中天 大洋 振兴 宏达 嘉华 银河 佳友 元通 汇丰 国泰 远大 泰和 兴旺 顺发 "
    "安达 博远 凯盛 华联 时代 诚信 德润 新城 宝利 伟业 众鑫 明珠 绿源 海峰 天和 利民 金鹰 云栖 青山 "
    "江南 美华 协力".split()
)
_TOWNS = tuple(
    "城关镇 新城街道 东湖街道 城南街道 城北街道 临江镇 石门镇 新塘镇 白沙街道 龙山镇 清溪镇 高桥镇 "
    "长安镇 溪口镇 沙河街道 西湖街道 太平镇 双林镇".split()
)
_ROADS = tuple(
    "人民路 解放路 中山路 建设路 文化路 工业大道 创业路 环城东路 环城西路 新华路 振兴路 滨江路 "
    "兴业路 科技大道 学院路 迎宾大道 江滨路 东风路".split()
)
_PARK_SUFFIXES = ("经济开发区", "工业园区", "高新技术产业园区", "化工园区", "临港产业园")
_VILLAGES = tuple(
    "石门 东山 下塘 上村 溪口 岭脚 山头 新塘 后畈 前洋 黄泥坞 大岭 龙潭 白岩 金竹 桥头 塘下 横山 坑口 岙里".split()
)
_HIGHWAYS = ("G104国道", "G320国道", "G235国道", "S202省道", "S313省道", "县道X105", "沿江公路", "城东快速路")
_HAZARD_NAME_TAIL = {
    "ground_collapse": ("地面塌陷点", "采空塌陷区", "岩溶塌陷点"),
    "geological": ("滑坡隐患点", "崩塌隐患点", "泥石流沟", "不稳定斜坡"),
    "tailings_pond": ("尾矿库", "头顶库"),
    "flood_lowland": ("低洼易涝区", "易涝点", "积水点"),
}
_CHEMICAL_PARK_TAILS = ("化工园区", "精细化工园区", "化工集中区")


def short_name(name: str) -> str:
    """A county's name as used inside other names: 桐庐县 -> 桐庐, 景宁畲族自治县 -> 景宁畲族."""
    for suffix in ("自治县", "林区", "特区", "新区"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    if len(name) > 2 and name[-1] in "区县市旗":
        return name[:-1]
    return name or "本地"


def enterprise_names(rng: np.random.Generator, cat: Catalogue, ind: np.ndarray, place: np.ndarray) -> np.ndarray:
    """place + word + industry tail, e.g. 桐庐恒达化工有限公司 (vectorised through a flat tail table)."""
    tails = [_TAILS.get(i.code, _DEFAULT_TAILS) for i in cat.industries]
    flat = np.asarray([t for group in tails for t in group], dtype=object)
    count = np.array([len(t) for t in tails])
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    at = offset[ind] + (rng.random(len(ind)) * count[ind]).astype(np.int64)
    return place + pick(rng, _WORDS, len(ind)) + flat[at]


def addresses(rng: np.random.Generator, county_name: np.ndarray, park_name: np.ndarray | None) -> np.ndarray:
    """county + town (or the park, where there is one) + road + number, e.g. 桐庐县城南街道人民路12号."""
    n = len(county_name)
    town = pick(rng, _TOWNS, n)
    if park_name is not None:
        town = np.where(park_name != "", park_name, town)
    number = rng.integers(1, 999, n).astype(str).astype(object)
    return county_name + town + pick(rng, _ROADS, n) + number + "号"


def park_names(rng: np.random.Generator, place: np.ndarray) -> np.ndarray:
    """place + park suffix, e.g. 桐庐经济开发区."""
    return place + pick(rng, _PARK_SUFFIXES, len(place))


def hazard_site_names(rng: np.random.Generator, place: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Hazard-site names from the short name of each site's county and its type (catalogue code)."""
    n = len(kind)
    village = place + pick(rng, _VILLAGES, n)
    names = village + "隐患点"
    for kind_code, tails in _HAZARD_NAME_TAIL.items():
        sel = kind == kind_code
        names[sel] = village[sel] + pick(rng, tails, int(sel.sum()))
    bs = kind == "accident_blackspot"
    km = rng.integers(1, 180, int(bs.sum())).astype(str).astype(object)
    metre = rng.integers(0, 10, int(bs.sum())).astype(str).astype(object)
    names[bs] = pick(rng, _HIGHWAYS, int(bs.sum())) + "K" + km + "+" + metre + "00事故多发点段"
    chem = kind == "chemical_park"
    names[chem] = place[chem] + pick(rng, _CHEMICAL_PARK_TAILS, int(chem.sum()))
    return names
