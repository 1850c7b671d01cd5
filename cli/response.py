"""`riskmap incident`: the incident briefing for a point in the terminal, as JSON, or as the printable page."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo.store import Store


def add_parser(sub: Any, store_arg: Callable, date_type: Callable, handler: Callable) -> None:
    p = sub.add_parser(
        "incident", help="incident briefing: risks around a point, responders by travel time, shelters, experts"
    )
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--radius", type=float, default=1000.0, help="metres (default 1000)")
    p.add_argument("--crs", default="wgs84", help="wgs84, cgcs2000, gcj02, bd09 or EPSG:<n>")
    p.add_argument("--lang", default="zh", choices=["zh", "en"])
    p.add_argument("--json", action="store_true", help="print the JSON that GET /incident returns")
    p.add_argument("--html", type=Path, help="write the printable one-page briefing (GET /incident?f=html) here")
    store_arg(p)
    p.set_defaults(func=handler)


def run(args: argparse.Namespace, store: Store) -> int:
    from geo.query import SnapshotReader
    from geo.response.incident import incident_payload
    from geo.snapshot import current

    doc = incident_payload(SnapshotReader.open(current(store)), args.lon, args.lat, args.radius, args.crs)
    if args.html:
        from layers.incident import incident_html

        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(incident_html(doc, args.lang), encoding="utf-8")
        print(f"wrote {args.html}")
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        return 0
    _print(doc, args.lang)
    return 0


def _print(doc: dict[str, Any], lang: str) -> None:
    zh = lang == "zh"
    q = doc["query"]
    where = " › ".join(r["name"] for r in doc["regions"]) or "—"
    print(f"{'位置' if zh else 'location'}: {where}  ({q['lon_wgs84']}, {q['lat_wgs84']}; {q['as_of']})")
    method = doc["travel"]["method"]
    print(f"{'通行时间' if zh else 'travel times'}: {'路网' if zh and method == 'road' else '估算' if zh else method}")
    s = doc["summary"]
    print(
        f"{'半径' if zh else 'within'} {q['radius_m']:.0f} m: {'企业' if zh else 'enterprises'} {s['enterprises']}, "
        f"{'隐患点' if zh else 'hazard sites'} {s['hazards']}; {', '.join(f'{k} {v}' for k, v in s['counts'].items())}"
    )
    for u in doc["enterprises"][:10]:
        grade = f" 重大危险源{u['major_hazard_level']}级" if u.get("major_hazard_level") is not None else ""
        print(f"  {u['distance_m']:7.0f} m  {u['risk_level']:6s}  {u.get('domain') or '':12s}  {u.get('name')}{grade}")
    label = "救援力量" if zh else "responders"
    print(f"{label}:")
    for r in doc["responders"]:
        t = "不可达" if zh and r["minutes"] is None else r["minutes"]
        kind = r["kind_zh"] if zh else r["kind_en"]
        print(
            f"  {t} min  {r['distance_m']:7.0f} m  {kind}  {r.get('name')}  "
            f"staff {r.get('staff')} vehicles {r.get('vehicles')}"
        )
    sh = doc["shelters"]
    print(
        f"{'避灾场所' if zh else 'shelters'}: {len(sh['nearest'])}, "
        f"{'合计可容纳' if zh else 'capacity'} {sh['capacity']}"
    )
    for key, name in (("warehouses", "物资仓库"), ("depots", "装备库"), ("experts", "专家")):
        items = doc[key]
        print(f"{name if zh else key}: " + ("; ".join(f"{i.get('name')} ({i['minutes']} min)" for i in items) or "—"))
