"""The region page (`GET /regions/{adcode}?f=html`): the level, the reasons and the trend, readable."""

from __future__ import annotations

import re
from datetime import date

import pytest

from geo.catalogue import LEVELS, load_catalogue
from layers.regionpage import render_region_page
from layers.styles import load_styles
from tests.conftest import require_tool

DATES = (date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1))


@pytest.fixture(scope="module")
def built(tmp_path_factory, boundaries):
    """A small demo census built on three dates (three kept snapshots: a trend of three points)."""
    from geo.build import build
    from geo.ingest import IngestOptions, ingest_file
    from geo.store import Store
    from synth import generate_demo

    root = tmp_path_factory.mktemp("regionpage")
    store = Store.open(root / "store")
    store.write("boundaries", boundaries)
    files = generate_demo(
        root / "in", boundaries.loc[boundaries["admin_level"] == "county"], n_enterprises=2000, seed=5
    )
    for kind, paths in files.items():
        for p in paths:
            ingest_file(store, p, kind, IngestOptions(crs="gcj02" if "gcj02" in p.name else None))
    snap = None
    for d in DATES:
        snap, _ = build(store, d)
    return store, snap


def _body(snap, adcode: str) -> dict:
    body = snap.explain(adcode)
    body["trend"] = snap.history(adcode)
    return body


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("adcode", ["330100", "330106"])
def test_region_page_reads_in_chinese(built, adcode):
    _, snap = built
    body = _body(snap, adcode)
    html = render_region_page(body)
    st, cat = load_styles(), load_catalogue()
    text = _text(html)
    assert body["name"] in text and cat.level(body["risk_level"]).zh in text
    assert f'style="background: {st.level_color(body["risk_level"])}"' in html  # the level in its colour
    assert f"{body['risk_index']:.1f}" in text
    top = body["explanation"]["top"]
    assert top and all(u["name"] in text for u in top)  # the top contributors, by name
    for code in body["domains"]:
        assert cat.domain(code).zh in text  # domains by their Chinese names, not codes
    assert "hazchem" not in text and "<script" not in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # nothing fetched
    counts = body["explanation"]["counts"]
    for kind in ("units", "sites"):
        assert all(f">{counts[kind][lv]}<" in html for lv in LEVELS)
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg and len(body["trend"]) == len(DATES)
    assert svg.group(0).count('class="rm-trend-point"') == len(body["trend"])  # one point per trend entry
    assert html.count("<polyline") == 1


def test_rules_that_fired_are_listed_with_their_floor(built):
    _, snap = built
    regions = snap.regions()
    fired = regions.loc[(regions["domain"] == "all") & (regions["rules"].map(len) > 0), "adcode"]
    assert len(fired)
    body = _body(snap, fired.iloc[0])
    text = _text(render_region_page(body))
    for rule in body["explanation"]["rules"]:
        assert rule["text"] in text and f"≥ {load_catalogue().level(rule['at_least']).zh}" in text


def test_english_and_untrusted_text(built):
    _, snap = built
    body = _body(snap, "330106")
    body["explanation"]["top"][0]["name"] = "<img src=x onerror=alert(1)>"
    html = render_region_page(body, lang="en")
    assert '<html lang="en">' in html and "Top contributors" in html and "Risk by domain" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert load_catalogue().level(body["risk_level"]).en in _text(html)


def test_region_page_through_the_service(built):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    store, _ = built
    client = TestClient(create_app(Settings(store=store.root)))
    page = client.get("/regions/330106", params={"f": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "区域风险详情" in page.text and "风险指数变化" in page.text and "<svg" in page.text
    en = client.get("/regions/330106", params={"f": "html", "lang": "en"})
    assert "Risk index over time" in en.text and en.headers["etag"] != page.headers["etag"]
    assert client.get("/regions/330106", params={"f": "html", "lang": "fr"}).status_code == 400
    assert client.get("/regions/330106").json()["adcode"] == "330106"  # the JSON body is unchanged
    served = client.get("/map", params={"level": "city"}).text
    assert "/regions/{adcode}?f=html\\u0026lang={lang}" in served  # the map's popups and info panel link here


@pytest.mark.browser
def test_region_page_in_chromium(built, tmp_path):
    """The page as a person sees it: no request, no error, the level's colour on screen."""
    require_tool("chromium")
    from playwright import sync_api

    from tests.test_maps import Browser

    _, snap = built
    path = tmp_path / "region.html"
    body = _body(snap, "330100")
    path.write_text(render_region_page(body), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        b = Browser(pw)
        try:
            b.page.goto(path.as_uri())
            level = b.page.inner_text(".level")
            points = b.page.locator("svg .rm-trend-point").count()
            png = b.page.screenshot(full_page=True)
        finally:
            b.close()
    assert b.external == [] and b.errors == [] and b.failed == []
    assert level == load_catalogue().level(body["risk_level"]).zh and points == len(DATES)
    (tmp_path / "region.png").write_bytes(png)
