"""The HTML map: offline by design, four colours on screen, untrusted text shown as text, page size.

Browser tests drive Debian's chromium (/usr/bin/chromium) through the `playwright` package, never a browser
playwright downloads; every request that is not local (file:, data:, or the test's own 127.0.0.1 server) is
blocked and recorded, and the test fails if any was attempted or if any request failed.
"""

from __future__ import annotations

import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from geo.snapshot import publish
from geo.store import Store
from layers.maps import json_for_script, render_map
from layers.sample import sample_tables
from layers.styles import load_styles
from layers.view import MapView
from layers.webgeom import decode_line
from tests.browser import ARGS, CHROMIUM
from tests.conftest import require_tool

HOSTILE = "<img src=x onerror=alert(1)>"
MAX_PAGE_BYTES = 1_500_000


@pytest.fixture(scope="module")
def snap(tmp_path_factory, boundaries):
    store = Store.open(tmp_path_factory.mktemp("maps") / "store")
    store.write("boundaries", boundaries)
    units, hazards, regions = sample_tables(boundaries, n_units=600, seed=1, hostile_name=HOSTILE)
    return publish(store, units, hazards, regions, meta={"as_of": "2026-11-01"})


@pytest.fixture(scope="module")
def page_html(snap, boundaries) -> str:
    return render_map(snap, boundaries, view=MapView(level="county"))


def _config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="riskmap-config">(.*?)</script>', html, re.S)
    assert m, "the page carries its data document"
    return json.loads(m.group(1))


# -- the page, without a browser ---------------------------------------------------------------------------
def test_inline_page_references_nothing_outside(page_html):
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["'](?!data:)""", page_html, re.I)
    styles = "".join(re.findall(r"<style>(.*?)</style>", page_html, re.S))
    for url in re.findall(r"url\(([^)]*)\)", styles):
        assert url.strip("'\"").startswith("data:"), url
    assert "default-src 'none'" in html.unescape(page_html)  # the CSP forbids loading anything at all


def test_page_escapes_untrusted_text(page_html):
    assert HOSTILE not in page_html  # only ever as escaped JSON data, never as markup
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page_html
    cfg = _config(page_html)
    assert HOSTILE in [u[0] for u in cfg["units"]]  # … which decodes back to the exact text


def test_json_for_script_cannot_close_the_element():
    text = json_for_script({"a": "</script><script>alert(1)</script>", "b": "<!--", "c": "\u2028"})
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text)["a"] == "</script><script>alert(1)</script>"


def test_title_and_as_of(page_html):
    assert "<title>浙江省安全生产风险四色图</title>" in page_html
    assert _config(page_html)["meta"]["as_of"] == "2026-11-01"


def test_english_labels(snap, boundaries):
    html = render_map(snap, boundaries, view=MapView(level="city", lang="en"))
    cfg = _config(html)
    assert [lv["label"] for lv in cfg["styles"]["levels"]] == ["major", "considerable", "general", "low"]
    assert cfg["text"]["legend"] == "Risk level" and cfg["domains"][0]["label"] == "All domains"


def test_zhejiang_county_page_is_small_even_with_many_enterprises(tmp_path, boundaries):
    store = Store.open(tmp_path / "big")
    units, hazards, regions = sample_tables(boundaries, n_units=60_000, seed=3)
    snap = publish(store, units, hazards, regions, meta={"as_of": "2026-11-01"})
    html = render_map(snap, boundaries, view=MapView(level="county"))
    size = len(html.encode("utf-8"))
    assert size < MAX_PAGE_BYTES, f"county page is {size / 1e6:.2f} MB"
    ent = _config(html)["enterprises"]
    assert not ent["complete"] and len(ent["points"]) <= load_styles().enterprises.inline_points
    assert ent["zooms"], "clusters are embedded for the saved page"


@pytest.mark.parametrize("mode", ["inline", "served"])
@pytest.mark.parametrize(
    ("level", "parent"), [("province", None), ("city", None), ("county", None), ("county", "330300")]
)
def test_every_view_renders(snap, boundaries, mode, level, parent):
    cfg = _config(render_map(snap, boundaries, view=MapView(level=level, parent=parent, domain="road"), mode=mode))
    assert cfg["meta"]["view"]["level"] == level and cfg["meta"]["view"]["domain"] == "road"
    assert any(r["l"] == level for r in cfg["regions"])


def test_bad_requests_are_refused(snap, boundaries):
    from geo.errors import BoundaryNotFound
    from layers.maps import MapRejected

    with pytest.raises(MapRejected, match="level"):
        render_map(snap, boundaries, view=MapView(level="street"))
    with pytest.raises(MapRejected, match="domain"):
        render_map(snap, boundaries, view=MapView(domain="space"))
    with pytest.raises(BoundaryNotFound):
        render_map(snap, boundaries, view=MapView(parent="999999"))


def test_served_page_links_assets_and_fetches_clusters(snap, boundaries):
    html = render_map(
        snap,
        boundaries,
        view=MapView(level="county", parent="330100"),
        mode="served",
        asset_base="/assets",
        api_base="/api",
    )
    assert '<script src="/assets/leaflet/leaflet.js">' in html and '<script src="/assets/riskmap/riskmap.js">' in html
    cfg = _config(html)
    assert cfg["enterprises"]["url"].startswith("/api/clusters/enterprises?bbox={bbox}&zoom={zoom}")
    assert cfg["links"]["map"].startswith("/api/map?level={level}&parent={parent}")
    levels = {r["a"]: r["l"] for r in cfg["regions"]}
    assert {a for a, lv in levels.items() if lv == "county"} and all(
        a.startswith("3301") for a, lv in levels.items() if lv == "county"
    )


def test_gcj02_basemap_shifts_every_overlay(snap, boundaries):
    plain = _config(render_map(snap, boundaries, view=MapView(level="county")))
    amap = _config(render_map(snap, boundaries, view=MapView(level="county"), basemap="amap"))
    assert amap["meta"]["crs"] == "gcj02" and amap["basemap"]["url"].startswith("https://webrd0{s}")
    a = {r["a"]: decode_line(r["g"][0][0])[0] for r in plain["regions"]}
    b = {r["a"]: decode_line(r["g"][0][0])[0] for r in amap["regions"]}
    shift = np.array([b[k] - a[k] for k in a])
    assert (np.abs(shift[:, 0]) > 0.002).all() and (np.abs(shift[:, 0]) < 0.01).all()  # GCJ-02: a few hundred m
    pa, pb = plain["enterprises"]["points"][0], amap["enterprises"]["points"][0]
    assert pa[0] != pb[0] and abs(pa[0] - pb[0]) < 1000  # units of 1e-5°
    assert "img-src data: https://*.is.autonavi.com" in render_map(snap, boundaries, basemap="amap")


# -- in a browser ----------------------------------------------------------------------------------------
class Browser:
    """A chromium page that blocks and records every non-local request."""

    def __init__(self, pw, allow_hosts: tuple[str, ...] = ()):
        self.browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.page = self.browser.new_page(viewport={"width": 1920, "height": 1080})
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.allow_hosts = allow_hosts
        self.page.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url[:120]} {r.failure}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname in self.allow_hosts:
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("window.riskmapReady === true", timeout=30_000)
        return self.page

    def close(self):
        self.browser.close()


@pytest.fixture()
def pw():
    require_tool("chromium")
    from playwright import sync_api  # a test dependency: missing it must fail, never skip

    with sync_api.sync_playwright() as p:
        yield p


def _level_pixels(png: bytes, styles, opacity: float, background: str) -> dict[str, int]:
    """How many screenshot pixels show each level's fill (its colour blended over the page background)."""
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    bg = np.array([int(background[i : i + 2], 16) for i in (1, 3, 5)])
    out = {}
    for lv in styles.resolved_levels:
        rgb = np.array([int(lv.color[i : i + 2], 16) for i in (1, 3, 5)])
        want = np.round(rgb * opacity + bg * (1 - opacity))
        out[lv.code] = int((np.abs(img - want).sum(axis=2) <= 24).sum())
    return out


@pytest.mark.browser
def test_saved_page_offline_four_colours_and_no_failed_request(pw, page_html, tmp_path):
    path = tmp_path / "map.html"
    path.write_text(page_html, encoding="utf-8")
    b = Browser(pw)
    try:
        page = b.open(path.as_uri())
        page.wait_for_timeout(300)
        png = page.screenshot()
        (tmp_path / "map.png").write_bytes(png)
        legend = page.inner_text(".rm-legend")
        title = page.inner_text(".rm-title")
    finally:
        b.close()
    assert b.external == [], f"external requests attempted: {b.external}"
    assert b.failed == [], f"failed requests: {b.failed}"
    assert b.errors == [], f"page errors: {b.errors}"
    st = load_styles()
    pixels = _level_pixels(png, st, st.regions.fill_opacity, st.theme.background)
    assert all(n > 2000 for n in pixels.values()), f"level colours on screen (pixels): {pixels}"
    assert "重大风险" in legend and "低风险" in legend and "2026-11-01" in legend
    assert title == "浙江省安全生产风险四色图"


@pytest.mark.browser
def test_untrusted_names_show_as_text_everywhere(pw, page_html, tmp_path, snap):
    path = tmp_path / "map.html"
    path.write_text(page_html, encoding="utf-8")
    units = snap.units(columns=["id", "name", "county_adcode", "city_adcode"])
    hostile = units.loc[units["name"] == HOSTILE].iloc[0]
    b = Browser(pw)
    try:
        page = b.open(path.as_uri())
        assert page.evaluate("riskmap.openHazard('HZ00')")  # the first hazard site carries the hostile name
        hazard_popup = page.inner_text(".leaflet-popup-content")
        assert page.evaluate(f"riskmap.openRegion('{hostile.county_adcode}')")
        popup = page.inner_text(".leaflet-popup-content")
        page.evaluate(f"riskmap.view('county', '{hostile.city_adcode}')")
        page.evaluate("riskmap.map.setZoom(11)")
        page.wait_for_timeout(400)
        assert page.evaluate(f"riskmap.openEnterprise('{hostile.id}')")
        unit_popup = page.inner_text(".leaflet-popup-content")
        info = page.inner_text(".rm-info")
        injected = page.evaluate("document.querySelectorAll('img[src=\"x\"], img[onerror]').length")
        page.wait_for_timeout(300)
    finally:
        b.close()
    assert HOSTILE in popup, popup
    assert HOSTILE in hazard_popup, hazard_popup
    assert HOSTILE in unit_popup, unit_popup
    assert HOSTILE in info  # the drilled-down city's top contributors
    assert injected == 0 and b.dialogs == [] and b.external == [] and b.failed == [] and b.errors == []


@pytest.mark.browser
def test_drill_down_and_domain_switch_by_clicking(pw, page_html, tmp_path):
    path = tmp_path / "map.html"
    path.write_text(page_html, encoding="utf-8")
    b = Browser(pw)
    try:
        page = b.open(path.as_uri())
        page.click("button.rm-view:has-text('按市')")
        assert page.evaluate("riskmap.state().level") == "city"
        xy = page.evaluate(
            "(() => { const c = riskmap.region('330100').label;"
            " const p = riskmap.map.latLngToContainerPoint([c[1], c[0]]); return [p.x, p.y]; })()"
        )
        page.mouse.click(*xy)  # on 杭州市
        page.wait_for_timeout(300)
        state = page.evaluate("riskmap.state()")
        crumbs = page.inner_text(".rm-crumbs")
        page.click("button.rm-domain:has-text('危险化学品')")
        subtitle = page.inner_text(".rm-subtitle")
        page.click("button.rm-up")
        after_up = page.evaluate("riskmap.state()")
    finally:
        b.close()
    assert state["level"] == "county" and state["parent"] == "330100", state
    assert "杭州市" in crumbs and subtitle.startswith("危险化学品")
    assert after_up["level"] == "city" and after_up["parent"] == "330000" and after_up["domain"] == "hazchem"
    assert b.external == [] and b.failed == [] and b.errors == []


class _Service(BaseHTTPRequestHandler):
    """A stand-in for the service: static assets, the served page and the clusters endpoint."""

    snap = boundaries = index = None
    cluster_calls: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, body: bytes, ctype: str, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's hook
        from layers.assets import static_dirs
        from layers.features import cluster_points

        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/static/"):
            prefix, _, name = url.path[len("/static/") :].partition("/")
            path = static_dirs().get(prefix, Path("/nonexistent")) / name
            if not path.is_file():
                return self._send(b"not found", "text/plain", 404)
            ctype = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}.get(path.suffix, "text/plain")
            return self._send(path.read_bytes(), ctype)
        if url.path == "/map":
            html = render_map(
                self.snap,
                self.boundaries,
                view=MapView(
                    level=q.get("level", "county"), parent=q.get("parent") or None, domain=q.get("domain", "all")
                ),
                mode="served",
            )
            return self._send(html.encode("utf-8"), "text/html; charset=utf-8")
        if url.path == "/clusters/enterprises":
            _Service.cluster_calls.append(q)
            bbox = tuple(float(v) for v in q["bbox"].split(","))
            fc = cluster_points(
                self.index,
                bbox,
                float(q["zoom"]),
                domain=q.get("domain", "all"),
                parent=q.get("parent") or None,
                crs=q.get("crs", "wgs84"),
                max_features=50,
            )
            return self._send(json.dumps(fc, ensure_ascii=False).encode("utf-8"), "application/json")
        return self._send(b"not found", "text/plain", 404)


@pytest.mark.browser
def test_served_page_in_browser_fetches_only_from_the_service(pw, snap, boundaries):
    from layers.features import PointIndex

    _Service.snap, _Service.boundaries = snap, boundaries
    _Service.index = PointIndex.from_units(snap.units())
    _Service.cluster_calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    b = Browser(pw, allow_hosts=("127.0.0.1",))
    try:
        page = b.open(f"{base}/map?level=county&parent=330100")
        page.evaluate("riskmap.map.setZoom(10)")
        page.wait_for_function("document.querySelectorAll('.rm-cluster, .leaflet-rm-units-pane canvas').length > 0")
        page.wait_for_timeout(500)
        png = page.screenshot()
        page.click("button.rm-up")  # a served page drills by navigating
        page.wait_for_url(re.compile(r".*/map\?level=city&parent=330000.*"))
        page.wait_for_function("window.riskmapReady === true")
    finally:
        b.close()
        server.shutdown()
    assert b.external == [] and b.failed == [] and b.errors == [], (b.external, b.failed, b.errors)
    assert _Service.cluster_calls and _Service.cluster_calls[-1]["parent"] == "330100"
    st = load_styles()
    pixels = _level_pixels(png, st, st.regions.fill_opacity, st.theme.background)
    assert sum(n > 500 for n in pixels.values()) >= 3, pixels
