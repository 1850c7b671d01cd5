"""A region's page: why it has its level, in the map's style and language (``GET /regions/{adcode}?f=html``).

:func:`render_region_page` renders the JSON body the service already answers for a region (the snapshot's
explanation, ``geo.explain``, plus ``trend`` from ``Snapshot.history``): the level (its name in the level's
colour) and index, the enterprises and hazard sites per level, the rules that fired, the top contributors,
the level of each domain (names from the catalogue) and the trend as a small inline SVG chart.

One self-contained HTML page: inline CSS, no script, no font, nothing fetched (its Content-Security-Policy
allows nothing else). Labels come from `layers/styles.toml` (``[text.zh]``/``[text.en]``), level and domain
names from the catalogue; every value from the data is HTML-escaped by the template.

Counts are read generically: ``explanation.counts`` maps a kind (``units``, ``sites``, …) to counts per
level; without it, the body's flat ``counts`` (level → count) stands for the enterprises.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import date
from typing import Any

import jinja2
from markupsafe import Markup, escape

from geo.catalogue import LEVELS
from geo.errors import MapRejected
from layers.styles import LANGS, Styles, load_styles

__all__ = ["TrendChart", "render_region_page", "trend_svg"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
#: which UI string names each kind of count in ``explanation.counts``
_KIND_TEXT = {"units": "enterprises", "sites": "hazards"}


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("layers", "templates"), autoescape=True, keep_trailing_newline=True
    )
    return env.get_template("region.html")


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class TrendChart:
    """Geometry of the trend chart: x by date (by position when a date is missing), y = index 0–100."""

    width, height = 1080, 200
    left, right, top, bottom = 40, 24, 14, 30

    def __init__(self, trend: list[dict[str, Any]]):
        self.trend = [t for t in trend if _num(t.get("risk_index")) is not None]

    def _days(self) -> list[float]:
        try:
            days = [float(date.fromisoformat(str(t.get("as_of"))).toordinal()) for t in self.trend]
        except ValueError:
            days = []
        return days if len(set(days)) == len(self.trend) else [float(i) for i in range(len(self.trend))]

    def points(self) -> list[tuple[float, float]]:
        days = self._days()
        if not days:
            return []
        lo, hi = min(days), max(days)
        span_x = self.width - self.left - self.right
        span_y = self.height - self.top - self.bottom
        out = []
        for d, t in zip(days, self.trend, strict=True):
            x = self.left + (span_x / 2 if hi == lo else span_x * (d - lo) / (hi - lo))
            v = min(max(_num(t["risk_index"]) or 0.0, 0.0), 100.0)
            out.append((round(x, 1), round(self.top + span_y * (1 - v / 100), 1)))
        return out

    def y_of(self, value: float) -> float:
        return round(self.top + (self.height - self.top - self.bottom) * (1 - value / 100), 1)


def trend_svg(trend: list[dict[str, Any]], styles: Styles, lang: str) -> Markup:
    """An inline SVG line chart of the index over the kept snapshots: one dot per entry, in its level colour."""
    chart = TrendChart(trend)
    pts = chart.points()
    w, h = chart.width, chart.height
    parts = [
        f'<svg class="rm-trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'role="img" aria-label="{escape(styles.t("trend", lang))}">'
    ]
    for v in (0, 25, 50, 75, 100):
        y = chart.y_of(v)
        parts.append(f'<line class="rm-grid" x1="{chart.left}" x2="{w - chart.right}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="rm-axis" x="{chart.left - 6}" y="{y + 4}" text-anchor="end">{v}</text>')
    if len(pts) > 1:
        line = " ".join(f"{x},{y}" for x, y in pts)
        parts.append(f'<polyline class="rm-trend-line" points="{line}"/>')
    for (x, y), t in zip(pts, chart.trend, strict=True):
        lv = t.get("risk_level")
        color = styles.level_color(lv) if lv in LEVELS else styles.regions.no_data_color
        label = styles.level_label(lv, lang) if lv in LEVELS else styles.t("no_data", lang)
        tip = f"{t.get('as_of')}: {label} {_num(t['risk_index']):.1f}"
        dot = f'<circle class="rm-trend-point" cx="{x}" cy="{y}" r="5" fill="{color}">'
        parts.append(f"{dot}<title>{escape(tip)}</title></circle>")
    if pts:
        first, last = chart.trend[0].get("as_of"), chart.trend[-1].get("as_of")
        parts.append(f'<text class="rm-axis" x="{pts[0][0]}" y="{h - 8}" text-anchor="start">{escape(first)}</text>')
        if len(pts) > 1:
            parts.append(f'<text class="rm-axis" x="{pts[-1][0]}" y="{h - 8}" text-anchor="end">{escape(last)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _level(code: Any, styles: Styles, lang: str) -> dict[str, Any]:
    if code in LEVELS:
        return {
            "code": code,
            "label": styles.level_label(code, lang),
            "color": styles.level_color(code),
            "dark": code == "yellow",
        }
    return {"code": "none", "label": styles.t("no_data", lang), "color": styles.regions.no_data_color, "dark": True}


def _counts(body: dict[str, Any], styles: Styles, lang: str) -> list[dict[str, Any]]:
    """Rows of counts per level, one per kind (enterprises, hazard sites, …), read from whatever the body holds."""
    nested = (body.get("explanation") or {}).get("counts") or {}
    kinds = {k: v for k, v in nested.items() if isinstance(v, dict) and set(v) & set(LEVELS)}
    if not kinds and isinstance(body.get("counts"), dict):
        kinds = {"units": body["counts"]}
    rows = []
    for kind, per_level in kinds.items():
        key = _KIND_TEXT.get(kind)
        label = styles.t(key, lang) if key else kind
        values = [int(per_level.get(lv) or 0) for lv in LEVELS]
        rows.append({"label": label, "values": values, "total": sum(values)})
    return rows


def _rules(body: dict[str, Any], styles: Styles, lang: str) -> list[dict[str, Any]]:
    fired = (body.get("explanation") or {}).get("rules")
    if not isinstance(fired, list) or not all(isinstance(r, dict) for r in fired):
        return [{"text": str(r), "at_least": None, "raised": False} for r in body.get("rules") or []]
    return [
        {
            "text": str(r.get("text") or r.get("id") or ""),
            "at_least": _level(r["at_least"], styles, lang) if r.get("at_least") in LEVELS else None,
            "raised": bool(r.get("raised")),
        }
        for r in fired
    ]


def _top(body: dict[str, Any], styles: Styles, lang: str) -> list[dict[str, Any]]:
    rows = []
    for t in (body.get("explanation") or {}).get("top") or []:
        share = _num(t.get("share"))
        rows.append(
            {
                "name": t.get("name") or t.get("id") or "",
                "id": t.get("id") or "",
                "kind": styles.t("enterprise" if t.get("kind", "unit") == "unit" else "hazards", lang),
                "domain": styles.domain_label(t["domain"], lang) if t.get("domain") else "",
                "level": _level(t.get("level"), styles, lang),
                "score": _num(t.get("score")),
                "contribution": _num(t.get("contribution")),
                "share": None if share is None else 100 * share,
            }
        )
    return rows


def _domains(body: dict[str, Any], styles: Styles, lang: str) -> list[dict[str, Any]]:
    rows = [
        {
            "name": styles.domain_label(code, lang),
            "level": _level(v.get("risk_level"), styles, lang),
            "index": _num(v.get("risk_index")),
            "n_units": v.get("n_units"),
        }
        for code, v in (body.get("domains") or {}).items()
    ]
    return sorted(rows, key=lambda r: -(r["index"] or 0.0))


def render_region_page(
    body: dict[str, Any], *, lang: str = "zh", styles: Styles | None = None, map_url: str | None = None
) -> str:
    """The HTML page of a region from its JSON body (``GET /regions/{adcode}``: ``explain`` + ``trend``).

    ``lang``: zh (default) or en. ``map_url``: where "back to the map" leads (omitted when None)."""
    if lang not in LANGS:
        raise MapRejected(f"lang={lang!r}: use zh or en")
    st = styles or load_styles()
    admin = body.get("admin_level")
    admin_key = f"admin_{admin}"
    theme = st.theme.model_dump()
    return _template().render(
        html_lang="zh-CN" if lang == "zh" else "en",
        csp=CSP,
        t=st.text[lang],
        theme={k: Markup(re.sub(r"[<>{};\\]", "", str(v))) for k, v in theme.items()},
        name=body.get("name") or body.get("adcode"),
        adcode=body.get("adcode"),
        admin=st.t(admin_key, lang) if admin_key in st.text[lang] else admin,
        as_of=body.get("as_of"),
        snapshot=body.get("snapshot"),
        level=_level(body.get("risk_level"), st, lang),
        index=_num(body.get("risk_index")),
        n_units=body.get("n_units"),
        n_hazards=body.get("n_hazards"),
        levels=[_level(lv, st, lang) for lv in LEVELS],
        counts=_counts(body, st, lang),
        rules=_rules(body, st, lang),
        top=_top(body, st, lang),
        domains=_domains(body, st, lang),
        trend=trend_svg(body.get("trend") or [], st, lang),
        n_trend=len(body.get("trend") or []),
        map_url=map_url,
    )
