"""Prompts for people: the map panel's data, an Atom feed, a JSON Feed and the daily summary page (A4).

All of them read the document of `geo.prompts.listing.listing` (what `GET /alerts` returns as JSON), so
every view lists the same prompts. Every string from the data is escaped (HTML, XML) or sent as JSON data.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from typing import Any

from geo.prompts import SEVERITIES, AlertRules, load_rules, read_prompts, select
from geo.snapshot import Snapshot

__all__ = ["PANEL_LIMIT", "atom_feed", "json_feed", "panel", "summary_html"]

#: prompts a map page carries (open ones, gravest and newest first)
PANEL_LIMIT = 300
#: open prompts listed on the one-page summary (the rest are counted)
SUMMARY_ROWS = 20
SUMMARY_CLOSED_ROWS = 5
_KIND = {"unit": "U", "site": "S", "region": "R"}


def panel(snapshot: Snapshot, lang: str, rules: AlertRules | None = None) -> dict[str, Any]:
    """What the map page's prompts panel reads: labels, severities and the open prompts as compact rows
    ``[id, severity rank, kind U|S|R, target id, text, lon, lat, province, city, county, first seen, domain]``."""
    used = rules or load_rules()
    frame = select(read_prompts(snapshot), status="open", rules=used)
    total = len(frame)
    frame = frame.head(PANEL_LIMIT)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    items = []
    for r in frame.to_dict(orient="records"):  # at most PANEL_LIMIT prompts
        items.append(
            [
                r["id"],
                rank.get(r["severity"], 2),
                _KIND.get(str(r.get("target_kind")), "U"),
                _text(r.get("target_id")),
                _text(r.get(f"text_{lang}")),
                _num(r.get("lon")),
                _num(r.get("lat")),
                _text(r.get("province_adcode")),
                _text(r.get("city_adcode")),
                _text(r.get("county_adcode")),
                _text(r.get("first_seen")),
                _text(r.get("domain")),
            ]
        )
    return {
        "ui": dict(used.ui[lang]),  # type: ignore[index]
        "severities": [
            {"code": s, "label": used.severity_label(s, lang), "color": used.severities[s].color}  # type: ignore[index]
            for s in SEVERITIES
        ],
        "total": total,
        "items": items,
    }


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, 6) if f == f else None


def _updated(p: dict[str, Any]) -> str:
    day = (p["closed"] or {}).get("date") or p["first_seen"]["date"] or p["as_of"]
    return f"{day}T00:00:00Z"


def _title(p: dict[str, Any], lang: str) -> str:
    state = "" if p["status"] == "open" else (" [已解除]" if lang == "zh" else " [closed]")
    return f"[{p['severity_label'][lang]}] {p['text'][lang]}{state}"


def atom_feed(doc: dict[str, Any], base: str, lang: str = "zh", rules: AlertRules | None = None) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of the listing: one entry per prompt, its id stable across builds."""
    used = rules or load_rules()
    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)
    feed = ET.Element(f"{{{ns}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    ET.SubElement(feed, f"{{{ns}}}title").text = f"{used.ui[lang]['title']} · {doc['as_of']}"  # type: ignore[index]
    ET.SubElement(feed, f"{{{ns}}}id").text = f"{base}/alerts#build={doc['build']}"
    ET.SubElement(feed, f"{{{ns}}}updated").text = f"{doc['as_of']}T00:00:00Z"
    ET.SubElement(feed, f"{{{ns}}}link", {"rel": "self", "href": f"{base}/alerts?f=atom"})
    ET.SubElement(ET.SubElement(feed, f"{{{ns}}}author"), f"{{{ns}}}name").text = "riskmap"
    for p in doc["prompts"]:
        entry = ET.SubElement(feed, f"{{{ns}}}entry")
        ET.SubElement(entry, f"{{{ns}}}id").text = f"{base}/alerts/{p['id']}"
        ET.SubElement(entry, f"{{{ns}}}title").text = _title(p, lang)
        ET.SubElement(entry, f"{{{ns}}}updated").text = _updated(p)
        ET.SubElement(entry, f"{{{ns}}}category", {"term": p["severity"], "label": p["severity_label"][lang]})
        ET.SubElement(entry, f"{{{ns}}}category", {"term": p["rule"]})
        ET.SubElement(entry, f"{{{ns}}}summary").text = p["text"][lang]
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def json_feed(doc: dict[str, Any], base: str, lang: str = "zh", rules: AlertRules | None = None) -> dict[str, Any]:
    """A JSON Feed 1.1 of the listing (https://jsonfeed.org/version/1.1), the prompt itself under ``_riskmap``."""
    used = rules or load_rules()
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"{used.ui[lang]['title']} · {doc['as_of']}",  # type: ignore[index]
        "home_page_url": f"{base}/map",
        "feed_url": f"{base}/alerts?f=feed",
        "language": "zh-CN" if lang == "zh" else "en",
        "items": [
            {
                "id": p["id"],
                "title": _title(p, lang),
                "content_text": p["text"][lang],
                "date_published": f"{p['first_seen']['date']}T00:00:00Z",
                "date_modified": _updated(p),
                "tags": [p["severity"], p["rule"], p["status"]],
                "_riskmap": p,
            }
            for p in doc["prompts"]
        ],
    }


PRINT_CSS = """
@page { size: A4 portrait; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Zen Hei', 'Microsoft YaHei', sans-serif;
  font-size: 9.5pt; color: #111; margin: 0 auto; max-width: 186mm; line-height: 1.3; }
h1 { font-size: 17pt; margin: 0 0 2mm; } h2 { font-size: 12pt; margin: 4mm 0 1.5mm; }
.meta { color: #444; margin-bottom: 2mm; }
.counts span { display: inline-block; margin-right: 6mm; font-weight: 700; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { border-bottom: 0.3mm solid #ccc; padding: 0.8mm 1mm; text-align: left; vertical-align: top; }
th { font-size: 9pt; color: #444; }
td.sev { width: 13mm; font-weight: 700; } td.day { width: 22mm; white-space: nowrap; } td.txt { word-break: break-all; }
.sev-dot { display: inline-block; width: 2.6mm; height: 2.6mm; border-radius: 50%; margin-right: 1mm; }
.more { color: #444; margin-top: 1mm; }
@media print { body { max-width: none; } a { color: inherit; text-decoration: none; } }
"""


def summary_html(doc: dict[str, Any], lang: str = "zh", rules: AlertRules | None = None) -> str:
    """The daily summary page: counts per severity and rule, the gravest open prompts and what this build
    closed, on one A4 page when printed (the rest of a long list is counted, not printed)."""
    used = rules or load_rules()
    ui = used.ui[lang]  # type: ignore[index]
    esc = html.escape
    opened = [p for p in doc["prompts"] if p["status"] == "open"]
    closed = [p for p in doc["prompts"] if p["status"] == "closed"]
    counts = "".join(
        f'<span><i class="sev-dot" style="background:{used.severities[s].color}"></i>'  # type: ignore[index]
        f"{esc(used.severity_label(s, lang))} {sum(p['severity'] == s for p in opened)}</span>"
        for s in SEVERITIES
    )
    per_rule: dict[str, int] = {}
    for p in opened:
        per_rule[p["rule"]] = per_rule.get(p["rule"], 0) + 1
    rule_line = " · ".join(f"{esc(_rule_title(used, k, lang))} {v}" for k, v in per_rule.items()) or esc(ui["none"])

    def rows(items: list[dict[str, Any]], day_key: str) -> str:
        out = []
        for p in items:
            color = used.severities[p["severity"]].color
            day = p["first_seen"]["date"] if day_key == "first" else (p["closed"] or {}).get("date")
            out.append(
                f'<tr><td class="sev"><i class="sev-dot" style="background:{color}"></i>'
                f'{esc(p["severity_label"][lang])}</td><td class="day">{esc(str(day or ""))}</td>'
                f'<td class="txt">{esc(p["text"][lang] or "")}</td></tr>'
            )
        return "".join(out)

    cols = '<colgroup><col style="width:15mm"><col style="width:22mm"><col></colgroup>'
    head = (
        f"{cols}<tr><th>{esc(ui['severity'])}</th><th>{esc(ui['first_seen'])}</th><th>{esc(ui['evidence'])}</th></tr>"
    )
    closed_head = (
        f"{cols}<tr><th>{esc(ui['severity'])}</th><th>{esc(ui['closed_at'])}</th><th>{esc(ui['evidence'])}</th></tr>"
    )
    more = len(opened) - SUMMARY_ROWS
    more_line = f'<p class="more">… +{more}</p>' if more > 0 else ""
    closed_more = len(closed) - SUMMARY_CLOSED_ROWS
    closed_line = f'<p class="more">… +{closed_more}</p>' if closed_more > 0 else ""
    none_row = f"<tr><td>{esc(ui['none'])}</td></tr>"
    region = doc["filters"].get("region")
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{esc(ui["summary"])} {esc(doc["as_of"])}</title><style>{PRINT_CSS}</style></head>
<body>
<h1>{esc(ui["summary"])} · {esc(doc["as_of"])}</h1>
<div class="meta">{esc(ui["region"])}: {esc(region or ui["all"])} · {esc(ui["snapshot"])} {esc(doc["build"])}</div>
<div class="counts">{esc(ui["open"])}: {counts}</div>
<div class="meta">{rule_line}</div>
<h2>{esc(ui["open"])} ({len(opened)})</h2>
<table>{head}{rows(opened[:SUMMARY_ROWS], "first") or none_row}</table>{more_line}
<h2>{esc(ui["closed"])} ({len(closed)})</h2>
<table>{closed_head}{rows(closed[:SUMMARY_CLOSED_ROWS], "closed") or none_row}</table>{closed_line}
</body></html>
"""


def _rule_title(rules: Any, rule_id: str, lang: str) -> str:
    """A rule's name in the page's language (its id for a rule no longer declared)."""
    try:
        return getattr(rules.rule(rule_id).title, lang)
    except KeyError:
        return rule_id
