"""The incident briefing as one printable A4 page (`GET /incident?f=html`, `riskmap incident --html`): the
place, the units and sites within the radius, the responders by travel time, shelters, stocks and experts,
and a small map drawn as inline SVG (nothing fetched: it prints offline). Chinese by default."""

from __future__ import annotations

import html
import math
from typing import Any

from layers.styles import Styles, load_styles

#: the page's words, zh and en
WORDS = {
    "zh": {
        "title": "事故/事件初报研判",
        "where": "位置",
        "as_of": "数据截至",
        "radius": "研判半径",
        "risks": "周边风险（按风险等级、重大危险源/危化品优先、距离排序）",
        "sites": "周边隐患点/风险点",
        "responders": "救援力量（按到达时间）",
        "shelters": "就近避灾场所",
        "capacity": "合计可容纳",
        "people": "人",
        "warehouses": "应急物资仓库",
        "depots": "应急装备库",
        "experts": "相关领域专家",
        "hospitals": "医院",
        "none": "无",
        "minutes": "分钟",
        "unreached": "不可达",
        "method_road": "按路网计算通行时间",
        "method_estimate": "按直线距离×绕行系数估算通行时间（未导入路网）",
        "name": "名称",
        "level": "等级",
        "distance": "距离(m)",
        "time": "到达(分钟)",
        "staff": "人员",
        "vehicles": "车辆",
        "holds": "风险要素",
        "major_hazard": "重大危险源",
        "processes": "重点监管工艺",
        "workers": "从业人员",
        "stock": "物资/装备",
        "domain": "领域",
        "phone": "电话",
        "type": "类型",
        "units": "企业",
        "site_count": "隐患点",
    },
    "en": {
        "title": "Incident briefing",
        "where": "Location",
        "as_of": "Data as of",
        "radius": "Radius",
        "risks": "Risks nearby (gravest first; major hazard sources and hazchem first; then distance)",
        "sites": "Hazard sites nearby",
        "responders": "Responders (by travel time)",
        "shelters": "Nearest shelters",
        "capacity": "Total capacity",
        "people": "people",
        "warehouses": "Material warehouses",
        "depots": "Equipment depots",
        "experts": "Experts for the domains present",
        "hospitals": "Hospitals",
        "none": "none",
        "minutes": "min",
        "unreached": "not reached",
        "method_road": "travel times by road network",
        "method_estimate": "travel times estimated: straight line × detour (no road network loaded)",
        "name": "Name",
        "level": "Level",
        "distance": "Distance (m)",
        "time": "Time (min)",
        "staff": "Staff",
        "vehicles": "Vehicles",
        "holds": "Holds",
        "major_hazard": "major hazard source grade",
        "processes": "key processes",
        "workers": "workers",
        "stock": "Stock",
        "domain": "Domain",
        "phone": "Phone",
        "type": "Type",
        "units": "enterprises",
        "site_count": "hazard sites",
    },
}


def _e(v: Any) -> str:
    return "" if v is None else html.escape(str(v))


def _minutes(v: Any, w: dict[str, str]) -> str:
    return w["unreached"] if v is None else f"{v:.1f}"


def _holds(u: dict[str, Any], w: dict[str, str]) -> str:
    parts = []
    if u.get("major_hazard_level") is not None:
        parts.append(f"{w['major_hazard']} {u['major_hazard_level']}")
    if u.get("hazardous_processes"):
        parts.append(f"{w['processes']} {u['hazardous_processes']}")
    if u.get("workers"):
        parts.append(f"{w['workers']} {u['workers']}")
    return "；".join(parts)


def _table(headers: list[str], rows: list[list[str]], none: str) -> str:
    if not rows:
        return f"<p class='none'>{_e(none)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _map(doc: dict[str, Any], st: Styles, size: int = 300) -> str:
    """The point, the radius, the units and sites within it, and the resources of the briefing that lie
    within twice the radius, on an equirectangular sketch (north up, scale bar)."""
    q = doc["query"]
    lon0, lat0, r = q["lon_wgs84"], q["lat_wgs84"], float(q["radius_m"])
    half = 2 * r
    kx = 111_320.0 * math.cos(math.radians(lat0))

    def xy(lon: float, lat: float) -> tuple[float, float] | None:
        dx, dy = (lon - lon0) * kx, (lat - lat0) * 110_574.0
        if abs(dx) > half or abs(dy) > half:
            return None
        return size / 2 + dx / half * size / 2, size / 2 - dy / half * size / 2

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{size}' height='{size}' viewBox='0 0 {size} {size}'>",
        f"<rect width='{size}' height='{size}' fill='#F4F7FA' stroke='#999'/>",
        f"<circle cx='{size / 2}' cy='{size / 2}' r='{size / 4}' fill='none' stroke='#555' stroke-dasharray='4 3'/>",
    ]
    for u in doc["enterprises"]:
        if "lon" in u and (p := xy(u["lon"], u["lat"])):
            fill = st.level_color(u["risk_level"])
            out.append(f"<circle cx='{p[0]:.1f}' cy='{p[1]:.1f}' r='4' fill='{fill}' stroke='#222'/>")
    for res in _resources(doc):
        if p := xy(res["lon"], res["lat"]):
            sym = st.resource_symbol(res["kind"])
            out.append(
                f"<circle cx='{p[0]:.1f}' cy='{p[1]:.1f}' r='8' fill='{sym.color}' stroke='#fff'/>"
                f"<text x='{p[0]:.1f}' y='{p[1] + 3.5:.1f}' font-size='9' text-anchor='middle' "
                f"fill='#fff'>{_e(sym.glyph)}</text>"
            )
    c = size / 2
    out.append(
        f"<path d='M{c} {c - 9} L{c + 3} {c - 3} L{c + 9} {c - 3} L{c + 4} {c + 2} L{c + 6} {c + 9} L{c} {c + 5} "
        f"L{c - 6} {c + 9} L{c - 4} {c + 2} L{c - 9} {c - 3} L{c - 3} {c - 3} Z' fill='#D50000' stroke='#fff'/>"
    )
    out.append(f"<line x1='10' y1='{size - 12}' x2='{10 + size / 4}' y2='{size - 12}' stroke='#222' stroke-width='2'/>")
    out.append(f"<text x='10' y='{size - 16}' font-size='10'>{r:.0f} m</text>")
    out.append(f"<text x='{size - 14}' y='16' font-size='12' text-anchor='middle'>N↑</text></svg>")
    return "".join(out)


def _resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *doc["responders"],
        *doc["shelters"]["nearest"],
        *doc["warehouses"],
        *doc["depots"],
        *doc["hospitals"],
    ]


def incident_html(doc: dict[str, Any], lang: str = "zh", styles: Styles | None = None) -> str:
    st = styles or load_styles()
    w = WORDS["en" if lang == "en" else "zh"]
    q = doc["query"]
    where = " › ".join(f"{_e(r['name'])}" for r in doc["regions"]) or "—"
    method = w["method_road"] if doc["travel"]["method"] == "road" else w["method_estimate"]

    def level(code: Any) -> str:
        if code is None:
            return ""
        return f"<span class='lv' style='background:{st.level_color(code)}'></span>{_e(st.level_label(code, lang))}"

    def domain(code: Any) -> Any:
        return st.domain_labels.get(code, {}).get(lang, code) if isinstance(code, str) else code

    units = [
        [
            _e(u.get("name")),
            level(u.get("risk_level")),
            _e(domain(u.get("domain"))),
            _e(_holds(u, w)),
            f"{u['distance_m']:.0f}",
        ]
        for u in doc["enterprises"][:15]
    ]
    sites = [
        [_e(h.get("name")), level(h.get("risk_level")), _e(h.get("type")), f"{h['distance_m']:.0f}"]
        for h in doc["hazards"][:8]
    ]

    def res_rows(items: list[dict[str, Any]], extra: str) -> list[list[str]]:
        return [
            [
                _e(r.get("name")),
                _e(r.get("kind_zh" if lang == "zh" else "kind_en")),
                _e(domain(r.get(extra)) if extra == "domain" else r.get(extra)),
                _minutes(r.get("minutes"), w),
                f"{r['distance_m']:.0f}",
                _e(r.get("phone")),
            ]
            for r in items
        ]

    responders = [
        [
            _e(r.get("name")),
            _e(r.get("kind_zh" if lang == "zh" else "kind_en")),
            _e(r.get("staff")),
            _e(r.get("vehicles")),
            _minutes(r.get("minutes"), w),
            f"{r['distance_m']:.0f}",
            _e(r.get("phone")),
        ]
        for r in doc["responders"]
    ]
    res_head = [w["name"], w["type"], "", w["time"], w["distance"], w["phone"]]
    sections = [
        f"<h2>{w['risks']}</h2>"
        + _table([w["name"], w["level"], w["domain"], w["holds"], w["distance"]], units, w["none"]),
        f"<h2>{w['sites']}</h2>" + _table([w["name"], w["level"], w["type"], w["distance"]], sites, w["none"]),
        f"<h2>{w['responders']}</h2>"
        + _table(
            [w["name"], w["type"], w["staff"], w["vehicles"], w["time"], w["distance"], w["phone"]],
            responders,
            w["none"],
        ),
        f"<h2>{w['shelters']}（{w['capacity']} {doc['shelters']['capacity']} {w['people']}）</h2>"
        + _table(
            [*res_head[:2], w["capacity"], *res_head[3:]], res_rows(doc["shelters"]["nearest"], "capacity"), w["none"]
        ),
        f"<h2>{w['warehouses']}</h2>"
        + _table([*res_head[:2], w["stock"], *res_head[3:]], res_rows(doc["warehouses"], "stock"), w["none"]),
        f"<h2>{w['depots']}</h2>"
        + _table([*res_head[:2], w["stock"], *res_head[3:]], res_rows(doc["depots"], "stock"), w["none"]),
        f"<h2>{w['experts']}</h2>"
        + _table([*res_head[:2], w["domain"], *res_head[3:]], res_rows(doc["experts"], "domain"), w["none"]),
    ]
    return f"""<!doctype html><html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>{w["title"]}</title><style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: {st.theme.font}; font-size: 11px; color: #111; margin: 0; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
h2 {{ font-size: 12.5px; margin: 8px 0 3px; border-bottom: 1px solid #999; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #CCC; padding: 1px 4px; text-align: left; }}
th {{ background: #EEF2F6; }}
.lv {{ display: inline-block; width: 9px; height: 9px; margin-right: 3px; border: 1px solid #333; }}
.head {{ display: flex; gap: 12px; }} .meta p {{ margin: 2px 0; }} .none {{ color: #777; margin: 2px 0; }}
</style></head><body>
<div class="head"><div>{_map(doc, st)}</div><div class="meta"><h1>{w["title"]}</h1>
<p><b>{w["where"]}</b>：{where}</p>
<p>{q["lon_wgs84"]}, {q["lat_wgs84"]} (WGS84) · {w["radius"]} {q["radius_m"]:.0f} m</p>
<p>{w["as_of"]} {_e(q["as_of"])} · {_e(method)}</p>
<p>{level(doc["summary"]["highest_level"])} · {w["units"]} {doc["summary"]["enterprises"]} ·
{w["site_count"]} {doc["summary"]["hazards"]}</p>
</div></div>
{"".join(sections)}
</body></html>"""
