"""Dynamic risk prompts: each rule with a known answer on tables built in code, the ledger across builds,
rule files that break a rule, and `/alerts` and `riskmap alerts` listing the same prompts."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from geo.errors import AlertRulesInvalid, InputRejected
from geo.prompts.evaluate import Previous, Tables, evaluate
from geo.prompts.ledger import reconcile, select
from geo.prompts.rules import DEFAULT_PATH, load_rules, validate_rules

D0, D1, D2, D3 = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)
RULES = load_rules()


def units(levels: dict[str, str], scores: dict[str, float] | None = None, **extra) -> pd.DataFrame:
    ids = list(levels)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": [f"企业{i}" for i in ids],
            "domain": "hazchem",
            "risk_level": [levels[i] for i in ids],
            "risk_score": [(scores or {}).get(i, 50.0) for i in ids],
            "lon": 120.0,
            "lat": 30.0,
            "province_adcode": "330000",
            "city_adcode": "330100",
            "county_adcode": ["330102" if i != "C" else "330205" for i in ids],
        }
    )
    for k, v in extra.items():
        frame[k] = v
    return frame


PLACES = pd.DataFrame(
    {
        "adcode": ["330000", "330100", "330102"],
        "name": ["浙江省", "杭州市", "上城区"],
        "lon": [120.0, 120.1, 120.2],
        "lat": [30.0, 30.1, 30.2],
        "province_adcode": ["330000"] * 3,
        "city_adcode": [None, "330100", "330100"],
        "county_adcode": [None, None, "330102"],
    }
)


def regions(index: float, level: str = "yellow") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "adcode": ["330102"],
            "admin_level": ["county"],
            "domain": ["all"],
            "risk_level": [level],
            "risk_index": [index],
        }
    )


def event(eid: str, unit: str, kind: str, found: str, severity=None, due=None, closed=None, deaths=None) -> dict:
    return {
        "id": eid,
        "enterprise_id": unit,
        "type": kind,
        "severity": severity,
        "found_date": pd.Timestamp(found),
        "due_date": pd.Timestamp(due) if due else pd.NaT,
        "closed_date": pd.Timestamp(closed) if closed else pd.NaT,
        "deaths": deaths,
        "injuries": 0 if kind == "accident" else None,
    }


def tables(as_of: date, u: pd.DataFrame, events=(), prev: Previous | None = None, **kw) -> Tables:
    ev = pd.DataFrame(list(events)) if events else pd.DataFrame(columns=["id", "enterprise_id", "type", "found_date"])
    hazards = pd.DataFrame({"id": [], "name": [], "risk_level": [], "risk_score": []})
    return Tables(as_of, u, hazards, kw.pop("regions", regions(20.0)), ev, PLACES, prev, **kw)


def previous(as_of: date, u: pd.DataFrame, prompts: pd.DataFrame | None = None, regs=None) -> Previous:
    open_ = prompts.loc[prompts["status"] == "open"] if prompts is not None else pd.DataFrame(columns=["rule", "key"])
    return Previous(
        as_of,
        u[["id", "risk_level", "risk_score"]],
        pd.DataFrame(columns=["id", "risk_level", "risk_score"]),
        regions(20.0) if regs is None else regs,
        open_,
    )


def rule_rows(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    return frame.loc[frame["rule"] == rule].set_index("key")


# -- units: level rises ---------------------------------------------------------------------------------
def test_unit_level_rose_known_answer():
    before = units({"A": "yellow", "B": "orange", "C": "blue"}, {"A": 35.0, "B": 50.0, "C": 10.0})
    now = units({"A": "red", "B": "orange", "C": "yellow"}, {"A": 70.0, "B": 52.0, "C": 31.0})
    got = rule_rows(evaluate(RULES, tables(D1, now, prev=previous(D0, before))), "unit_level_rose")
    assert sorted(got.index) == ["A", "C"]  # B stayed orange
    assert got.loc["A", ["before", "after", "severity"]].tolist() == ["yellow", "red", "urgent"]  # to red: graver
    assert got.loc["C", ["before", "after", "severity"]].tolist() == ["blue", "yellow", "important"]
    assert got.loc["A", "value_before"] == 35.0 and got.loc["A", "value_after"] == 70.0
    assert got.loc["A", "before_date"] == "2026-10-01"
    assert got.loc["A", "text_zh"] == "企业A风险等级由一般风险升为重大风险（分值 35.0 → 70.0）"
    assert got.loc["C", "text_en"] == "企业C: risk level rose from low to general (score 10.0 → 31.0)"
    assert got.loc["A", "id"] == "unit_level_rose:A"
    assert got.loc["C", ["province_adcode", "city_adcode", "county_adcode"]].tolist() == ["330000", "330100", "330205"]


def test_no_previous_build_no_rises():
    now = units({"A": "red"})
    assert "unit_level_rose" not in set(evaluate(RULES, tables(D1, now))["rule"])


def _builds(states: list[tuple[date, pd.DataFrame, list]]) -> list[pd.DataFrame]:
    """Run the rules over successive builds, each against the one before; return each build's prompt table."""
    out: list[pd.DataFrame] = []
    prev = None
    for as_of, u, events in states:
        t = tables(as_of, u, events, prev)
        table = reconcile(evaluate(RULES, t), prev.prompts if prev is not None else None, as_of)
        table["first_seen_build"] = table["first_seen_build"].fillna(str(as_of))
        out.append(table)
        prev = previous(as_of, u, table)
    return out


def test_rise_stays_open_while_level_stays_up_and_closes_when_back():
    b = _builds(
        [
            (D0, units({"A": "yellow"}), []),
            (D1, units({"A": "red"}), []),  # rose: opened
            (D2, units({"A": "orange"}), []),  # down from red but still above yellow: stays open
            (D3, units({"A": "yellow"}), []),  # back: closed
        ]
    )
    assert len(b[0]) == 0
    p1 = b[1].set_index("id").loc["unit_level_rose:A"]
    assert (p1["status"], p1["first_seen"], p1["severity"]) == ("open", "2026-11-01", "urgent")
    p2 = b[2].set_index("id").loc["unit_level_rose:A"]
    assert (p2["status"], p2["before"], p2["after"], p2["first_seen"]) == ("open", "yellow", "orange", "2026-11-01")
    assert p2["severity"] == "important"
    p3 = b[3].set_index("id").loc["unit_level_rose:A"]
    assert (p3["status"], p3["closed_at"], p3["first_seen"]) == ("closed", "2027-01-01", "2026-11-01")


# -- hidden dangers ---------------------------------------------------------------------------------------
def test_overdue_danger_days_and_closed_when_rectified():
    u = units({"A": "red", "B": "yellow"})
    open_events = [
        event("E1", "A", "hidden_danger", "2026-09-01", "major", due="2026-10-20"),  # 12 days overdue at D1
        event("E2", "B", "hidden_danger", "2026-10-01", "general", due="2026-10-31"),  # 1 day
        event("E3", "B", "hidden_danger", "2026-10-01", "general", due="2026-11-01"),  # due today: not overdue
        event("E4", "B", "hidden_danger", "2026-09-01", "general", due="2026-09-15", closed="2026-09-20"),  # closed
        event("E5", "B", "hidden_danger", "2026-11-05", "general", due="2026-11-06"),  # found after as_of
    ]
    got = rule_rows(evaluate(RULES, tables(D1, u, open_events)), "danger_overdue")
    assert got["days"].to_dict() == {"E1": 12, "E2": 1}
    assert got.loc["E1", "severity"] == "urgent" and got.loc["E2", "severity"] == "important"
    assert got.loc["E1", "text_zh"] == "企业A重大隐患E1超过整改期限12天（期限2026-10-20）"
    assert got.loc["E1", "due_date"] == "2026-10-20" and got.loc["E1", "unit_id"] == "A"
    major = rule_rows(evaluate(RULES, tables(D1, u, open_events)), "major_danger_open")
    assert list(major.index) == ["E1"] and major.loc["E1", "severity"] == "urgent"

    rectified = [dict(e) for e in open_events]
    rectified[0]["closed_date"] = pd.Timestamp("2026-11-20")  # E1 rectified before the next build
    b = _builds([(D1, u, open_events), (D2, u, rectified)])
    second = b[1].set_index("id")
    assert second.loc["danger_overdue:E1", "status"] == "closed"
    assert second.loc["danger_overdue:E1", "closed_at"] == "2026-12-01"
    assert second.loc["major_danger_open:E1", "status"] == "closed"
    assert second.loc["danger_overdue:E2", "status"] == "open"
    assert second.loc["danger_overdue:E2", "days"] == 31  # still open a month later: the days grow
    assert second.loc["danger_overdue:E2", "first_seen"] == "2026-11-01"


def test_accident_window_and_alarm_burst():
    u = units({"A": "red", "B": "yellow"})
    evs = [
        event("X1", "A", "accident", "2026-10-03", deaths=1),  # day 30 of the window (as_of − 29): in
        event("X2", "B", "accident", "2026-10-02", deaths=0),  # as_of − 30: out
        *(event(f"L{i}", "A", "alarm", f"2026-10-{26 + i:02d}") for i in range(3)),  # 3 in 7 days
        event("L9", "B", "alarm", "2026-10-30"),
        event("L8", "B", "alarm", "2026-10-20"),  # outside the 7 days
        event("L7", "B", "alarm", "2026-10-31"),
    ]
    got = evaluate(RULES, tables(D1, u, evs))
    acc = rule_rows(got, "accident")
    assert list(acc.index) == ["X1"] and acc.loc["X1", "severity"] == "urgent" and acc.loc["X1", "deaths"] == 1
    alarms = rule_rows(got, "alarm_burst")
    assert list(alarms.index) == ["A"]
    assert alarms.loc["A", "count"] == 3 and alarms.loc["A", "event_date"] == "2026-10-28"
    assert alarms.loc["A", "text_zh"] == "企业A近7天监测报警3次（≥3次）"


# -- regions ----------------------------------------------------------------------------------------------
def test_region_level_rose():
    u = units({"A": "red"})
    prev = previous(D0, u, regs=regions(20.0, "blue"))
    got = rule_rows(evaluate(RULES, tables(D1, u, prev=prev, regions=regions(31.5, "yellow"))), "region_level_rose")
    row = got.loc["330102@all"]
    assert (row["before"], row["after"], row["value_before"], row["value_after"]) == ("blue", "yellow", 20.0, 31.5)
    assert row["name"] == "上城区" and row["target_id"] == "330102" and row["severity"] == "important"
    assert row[["province_adcode", "city_adcode", "county_adcode"]].tolist() == ["330000", "330100", "330102"]


def _history(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "adcode": "330102",
            "domain": "all",
            "risk_index": values,
            "build": range(len(values)),
            "as_of": [f"2026-0{i + 1}-01" for i in range(len(values))],
        }
    )


@pytest.mark.parametrize(
    ("earlier", "now", "count", "before"),
    [
        ([5.0, 10.0, 12.0, 15.0], 20.0, 4, 5.0),  # rose in each of the last 4 builds
        ([10.0, 12.0, 15.0], 20.0, 3, 10.0),  # 3 in a row: the default threshold
        ([10.0, 12.0, 12.0], 20.0, None, None),  # only 1 (12 → 12 is no rise)
        ([10.0, 12.0, 15.0], 15.0, None, None),  # flat now: streak broken
    ],
)
def test_region_index_rising_n_builds(earlier, now, count, before):
    u = units({"A": "red"})
    t = tables(D1, u, prev=previous(D0, u), regions=regions(now), index_history=_history(earlier))
    got = rule_rows(evaluate(RULES, t), "region_index_rising")
    if count is None:
        assert got.empty
        return
    row = got.loc["330102@all"]
    assert (row["count"], row["value_before"], row["value_after"]) == (count, before, now)
    assert row["text_zh"].startswith(f"上城区风险指数连续{count}次上升")


# -- rescue circle ----------------------------------------------------------------------------------------
def test_rescue_gap_only_with_a_rescue_time_column():
    t = tables(D1, units({"A": "red", "B": "red", "C": "yellow"}))
    assert "red_unit_outside_rescue_circle" not in set(evaluate(RULES, t)["rule"])
    assert "rescue_minutes" in t.skipped["red_unit_outside_rescue_circle"]
    covered = units({"A": "red", "B": "red", "C": "yellow"}, rescue_minutes=[22.0, 9.0, 40.0])
    got = rule_rows(evaluate(RULES, tables(D1, covered)), "red_unit_outside_rescue_circle")
    assert list(got.index) == ["A"] and got.loc["A", "value_after"] == 22.0


# -- listing ----------------------------------------------------------------------------------------------
def test_select_filters():
    u = units({"A": "red", "B": "yellow", "C": "yellow"})
    evs = [
        event("E1", "A", "hidden_danger", "2026-09-01", "major", due="2026-10-20"),
        event("E2", "C", "hidden_danger", "2026-10-01", "general", due="2026-10-31"),
    ]
    table = reconcile(evaluate(RULES, tables(D1, u, evs)), None, D1)
    assert list(table["severity"]) == sorted(table["severity"], key=["urgent", "important", "general"].index)
    assert set(select(table, region="330205")["id"]) == {"danger_overdue:E2"}
    assert set(select(table, severity="紧急")["severity"]) == {"urgent"}
    assert len(select(table, severity="important")) == len(table)  # important and graver
    assert len(select(table, since=D2)) == 0
    with pytest.raises(InputRejected, match="severity"):
        select(table, severity="huge")


# -- the rules file ---------------------------------------------------------------------------------------
def _raw() -> dict:
    import tomllib

    return tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def _rule(raw: dict, rule_id: str) -> dict:
    return next(r for r in raw["rules"] if r["id"] == rule_id)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: _rule(r, "alarm_burst").update(min_count=0), "rules[5] (id 'alarm_burst').alarm_burst.min_count"),
        (lambda r: _rule(r, "danger_overdue").update(grades=["minor"]), "(id 'danger_overdue').overdue_danger.grades"),
        (
            lambda r: _rule(r, "accident")["text"].update(zh="{name}{casualties}"),
            "unknown placeholder {casualties}",
        ),
        (lambda r: _rule(r, "region_level_rose").update(domains=["mining"]), "domains: unknown mining"),
        (
            lambda r: _rule(r, "region_index_rising").update(builds=12),
            "(id 'region_index_rising').region_index_streak.builds",
        ),
        (lambda r: _rule(r, "accident").update(severity="critical"), "(id 'accident').accident.severity"),
        (lambda r: _rule(r, "accident").update(kind="fire"), "rules[4] (id 'accident')"),
        (lambda r: _rule(r, "accident").update(window=3), "window: unknown key"),
        (lambda r: r["rules"].append(dict(_rule(r, "accident"))), "id 'accident' appears twice"),
        (lambda r: r["severities"].pop("general"), "missing general"),
    ],
)
def test_rule_files_that_break_a_rule_are_rejected_with_the_key_path(change, message, tmp_path):
    raw = _raw()
    change(raw)
    with pytest.raises(AlertRulesInvalid) as err:
        validate_rules(raw, "prompt rules file x.toml")
    assert message in str(err.value)
    assert "prompt rules file x.toml is invalid" in str(err.value)


def test_rules_file_path_is_named(tmp_path):
    bad = tmp_path / "alerts.toml"
    bad.write_text("[[rules]\n", encoding="utf-8")
    with pytest.raises(AlertRulesInvalid, match=f"{bad}.*not valid TOML"):
        load_rules(bad)


# -- through the store, the CLI and the service -------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, boundaries):
    from cli.main import main
    from geo.store import Store

    store = Store.open(tmp_path_factory.mktemp("alerts") / "store")
    store.write("boundaries", boundaries)
    assert main(["--store", str(store.root), "demo", "--enterprises", "3000", "--no-serve"]) == 0
    return store


def test_demo_builds_snapshots_with_prompts(demo_store):
    from geo.snapshot import current

    snap = current(demo_store)
    prompts = snap.prompts()
    opened = prompts.loc[prompts["status"] == "open"]
    assert {"unit_level_rose", "major_danger_open", "danger_overdue"} <= set(opened["rule"])
    assert snap.meta["prompts"]["previous"] is not None
    assert not snap.meta["prompts"]["skipped"]  # the demo's resources give every unit its rescue minutes
    assert snap.meta["rescue"]["method"] == "estimate"
    assert opened["id"].is_unique
    assert (prompts["build"] == snap.id).all()
    kept = sorted(p.name for p in (demo_store.root / "prompts").iterdir())
    assert len(kept) == 4 and kept[-1] == f"{snap.id}.parquet"


def test_api_and_cli_list_the_same_prompts(demo_store, capsys):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from cli.main import main

    client = TestClient(create_app(Settings(store=demo_store.root)))
    for query, argv in [
        ("", []),
        ("?severity=urgent&status=open", ["--severity", "urgent", "--status", "open"]),
        ("?region=330100&since=2026-01-01", ["--region", "330100", "--since", "2026-01-01"]),
    ]:
        body = client.get(f"/alerts{query}").json()
        capsys.readouterr()
        assert main(["--store", str(demo_store.root), "alerts", "--json", *argv]) == 0
        cli = json.loads(capsys.readouterr().out)
        assert [p["id"] for p in body["prompts"]] == [p["id"] for p in cli["prompts"]]
        assert body == cli
    assert body["count"] > 0 and all(p["regions"]["city"] == "330100" for p in body["prompts"])
    assert client.get("/alerts?region=999999").status_code == 404
    assert client.get("/alerts?f=pdf").status_code == 400


def test_feeds_and_summary_page(demo_store):
    import xml.etree.ElementTree as ET

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    client = TestClient(create_app(Settings(store=demo_store.root)))
    doc = client.get("/alerts?status=open").json()
    atom = client.get("/alerts?status=open&f=atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(atom.content).findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == doc["count"]
    feed = client.get("/alerts?status=open&f=feed&lang=en").json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert [i["id"] for i in feed["items"]] == [p["id"] for p in doc["prompts"]]
    page = client.get("/alerts?f=html").text
    assert "@page { size: A4 portrait" in page and "每日风险研判提示" in page


def test_past_builds_stay_listable(demo_store, capsys):
    from cli.main import main

    first = sorted(p.stem for p in (demo_store.root / "prompts").iterdir())[0]
    capsys.readouterr()
    assert main(["--store", str(demo_store.root), "alerts", "--json", "--build", first]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["build"] == first and all(p["status"] == "open" for p in body["prompts"])  # nothing before it
    assert main(["--store", str(demo_store.root), "alerts", "--build", "nope"]) == 2


def test_map_page_carries_the_open_prompts(demo_store):
    from geo.snapshot import current
    from layers.alerts import panel

    snap = current(demo_store)
    data = panel(snap, "zh")
    opened = snap.prompts().query("status == 'open'")
    assert data["total"] == len(opened)
    assert [row[0] for row in data["items"]] == list(opened["id"][: len(data["items"])])
    assert np.all([row[1] in (0, 1, 2) for row in data["items"]])


# -- in a browser -------------------------------------------------------------------------------------------
@pytest.fixture()
def pw():
    from tests.conftest import require_tool

    require_tool("chromium")
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        yield p


def _color_pixels(png: bytes, color: str) -> int:
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img - rgb).sum(axis=2) <= 30).sum())


@pytest.mark.browser
def test_map_panel_lists_prompts_and_flies_to_one(pw, demo_store, tmp_path):
    from geo.snapshot import current
    from layers.maps import render_map
    from layers.view import MapView
    from tests.test_maps import Browser

    snap = current(demo_store)
    path = tmp_path / "map.html"
    path.write_text(render_map(snap, demo_store.read("boundaries"), view=MapView(level="county")), encoding="utf-8")
    b = Browser(pw)
    try:
        page = b.open(path.as_uri())
        page.wait_for_timeout(300)
        shown = page.evaluate("window.riskmap.alerts.shown()")
        panel_png = page.locator(".rm-alerts").screenshot()
        page.screenshot(path=str(tmp_path / "map.png"))
        last_top_left = ".leaflet-top.leaflet-left > .leaflet-control >> nth=-1"
        boxes = [page.locator(sel).bounding_box() for sel in (last_top_left, ".rm-alerts", ".rm-legend")]
        first = page.locator(".rm-alert").first
        first_text = first.inner_text()
        target = shown[0]
        first.click()
        page.wait_for_timeout(2500)
        zoom = page.evaluate("window.riskmap.state().zoom")
    finally:
        b.close()
    assert b.errors == [] and b.external == [], (b.errors, b.external)
    opened = snap.prompts().query("status == 'open'")
    assert len(shown) == min(len(opened), 300) and shown[0] == opened["id"].iloc[0] == target
    assert "紧急" in first_text  # gravest first
    urgent = RULES.severities["urgent"].color
    assert _color_pixels(panel_png, urgent) > 200, "the panel shows urgent prompts (their colour tag)"
    assert zoom >= 9, "clicking a prompt flies to it"
    controls, panel, legend = boxes  # stacked down the left edge, none covering another
    assert controls["y"] + controls["height"] <= panel["y"] and panel["y"] + panel["height"] <= legend["y"], boxes


@pytest.mark.browser
def test_summary_page_prints_on_one_a4_page(pw, demo_store, tmp_path):
    import re

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from tests.browser import ARGS, CHROMIUM

    client = TestClient(create_app(Settings(store=demo_store.root)))
    page_html = client.get("/alerts?f=html").text
    path = tmp_path / "summary.html"
    path.write_text(page_html, encoding="utf-8")
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        page = browser.new_page()
        page.goto(path.as_uri())
        pdf = page.pdf(format="A4", prefer_css_page_size=True)
    finally:
        browser.close()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"the summary prints on {pages} pages"


# -- columns as a build reads them -----------------------------------------------------------------------
def _as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as Parquet gives it back at scale: Arrow text columns in several chunks."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    return pa.concat_tables([table.slice(0, 2), table.slice(2)]).to_pandas()


def test_arrow_columns_in_chunks_give_the_same_prompts():
    """Rows of Arrow columns are picked chunk by chunk and ids looked up by Arrow hashes (`geo.values`): the
    prompts are those of plain object columns, unknown units and all."""
    levels = {"A": "yellow", "B": "orange", "C": "blue", "D": "red", "E": "blue"}
    before = units(levels, {"A": 35.0, "B": 50.0, "C": 10.0, "D": 80.0, "E": 5.0})
    now = units({**levels, "A": "red", "C": "yellow", "E": "orange"}, {"A": 70.0, "C": 31.0, "E": 52.0})
    evs = [
        event("H1", "E", "hidden_danger", "2026-09-01", "major", due="2026-10-01"),
        event("H2", "B", "hidden_danger", "2026-09-01", "general", due="2026-10-20", closed="2026-10-25"),
        event("", "D", "hidden_danger", "2026-10-02", "general", due="2026-10-12"),
        event("X1", "nobody", "hidden_danger", "2026-09-01", "major", due="2026-10-01"),
        *(event(f"L{i}", "C", "alarm", f"2026-10-{28 + i}") for i in range(3)),
        event("K1", "D", "accident", "2026-10-20", deaths=0),
    ]
    plain = evaluate(RULES, tables(D1, now, evs, previous(D0, before)))
    chunked = _as_read(now)
    assert chunked["id"].array._pa_array.num_chunks == 2
    got = evaluate(RULES, tables(D1, chunked, evs, previous(D0, _as_read(before))))
    assert len(plain) == 8 and set(plain["rule"]) >= {"unit_level_rose", "danger_overdue", "alarm_burst", "accident"}
    pd.testing.assert_frame_equal(got, plain, check_dtype=False)


def test_rises_compare_units_by_id_whether_the_records_file_changed_or_not(tmp_path, boundaries):
    """A build over the same records file as the build before reuses its unit ids (`same_units`); over a new
    file (here the same units in reverse order) it reads them: either way a rebuild at the same date changes
    no level, so the same rises stay open and none closes."""
    import os

    from cli.main import main
    from geo.build import build
    from geo.snapshot import current
    from geo.store import Store

    store = Store.open(tmp_path / "store")
    store.write("boundaries", boundaries)
    assert main(["--store", str(store.root), "demo", "--enterprises", "1500", "--no-serve"]) == 0
    first = current(store)

    def rises(snap) -> tuple[set[str], set[str]]:
        p = snap.prompts()
        p = p.loc[p["rule"] == "unit_level_rose"]
        return set(p.loc[p["status"] == "open", "id"]), set(p.loc[p["status"] == "closed", "id"])

    opened, _ = rises(first)
    assert opened
    same, _ = build(store, first.as_of)
    assert os.path.samefile(same.path / "records.parquet", first.path / "records.parquet")
    assert rises(same) == (opened, set())
    store.write("enterprises", store.read("enterprises").iloc[::-1].reset_index(drop=True))
    moved, _ = build(store, first.as_of)
    assert not os.path.samefile(moved.path / "records.parquet", same.path / "records.parquet")
    assert rises(moved) == (opened, set())
