"""The bundled catalogue loads and resolves names; invalid catalogue files raise ModelInvalid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geo.catalogue import DEFAULT_PATH, LEVELS, RISK_LEVEL_RANK, Catalogue, load_catalogue
from geo.errors import ModelInvalid


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def test_default_is_cached(cat: Catalogue) -> None:
    assert load_catalogue() is cat
    assert load_catalogue(DEFAULT_PATH) == cat


def test_counts(cat: Catalogue) -> None:
    assert [d.code for d in cat.domains] == [
        "hazchem",
        "industry",
        "fire",
        "road",
        "waterway",
        "construction",
        "urban",
        "tourism",
    ]
    assert 40 <= len(cat.industries) <= 50
    assert {h.code for h in cat.hazard_types} == {
        "ground_collapse",
        "geological",
        "tailings_pond",
        "accident_blackspot",
        "chemical_park",
        "flood_lowland",
    }
    assert all(cat.industries_in(d.code) for d in cat.domains), "every domain has industries"


def test_levels(cat: Catalogue) -> None:
    assert [lv.code for lv in cat.levels] == ["red", "orange", "yellow", "blue"]
    assert [lv.rank for lv in cat.levels] == [1, 2, 3, 4]
    assert [lv.color for lv in cat.levels] == ["#FF0000", "#FF8C00", "#FFFF00", "#0070FF"]
    assert cat.level("red").zh == "重大风险"
    assert cat.level("BLUE").en == "low"
    assert cat.level_code("红色") == "red" and cat.level_code("较大") == "orange"
    assert cat.level_code("一般风险") == "yellow" and cat.level_code("nonsense") is None
    with pytest.raises(KeyError, match="unknown risk level"):
        cat.level("purple")


@pytest.mark.parametrize("field", ["code", "zh", "en"])
def test_each_domain_resolves_by_name(cat: Catalogue, field: str) -> None:
    for d in cat.domains:
        text = getattr(d, field)
        assert cat.domain_code(text) == d.code
        assert cat.domain_code(f"  {text.upper()} ") == d.code


def test_each_domain_resolves_by_alias(cat: Catalogue) -> None:
    for d in cat.domains:
        assert d.aliases, f"domain {d.code} has no aliases"
        for alias in d.aliases:
            assert cat.domain_code(alias) == d.code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("危化", "hazchem"),
        ("危化品", "hazchem"),
        ("工贸", "industry"),
        ("交通", "road"),
        ("渔业", "waterway"),
        ("建筑施工", "construction"),
        ("城市", "urban"),
        ("旅游", "tourism"),
        ("Fire Safety", "fire"),
    ],
)
def test_common_domain_aliases(cat: Catalogue, text: str, code: str) -> None:
    assert cat.domain_code(text) == code


def test_unknown_names(cat: Catalogue) -> None:
    assert cat.domain_code("mining industry") is None
    assert cat.domain_code("") is None and cat.domain_code(None) is None
    assert cat.industry("宠物美容") is None
    assert cat.hazard_type_code("火山") is None


def test_industries(cat: Catalogue) -> None:
    domain_codes = {d.code for d in cat.domains}
    assert all(i.domain in domain_codes for i in cat.industries)
    assert all(0.0 <= i.base_weight <= 1.0 for i in cat.industries)
    for i in cat.industries:
        assert cat.industry(i.code) == i and cat.industry(i.zh) == i and cat.industry(i.en) == i
    assert cat.industry("危险化学品经营（带储存）").code == "hazchem_storage_trade"  # full-width brackets
    assert cat.industry("加油加气站").code == "gas_station"
    assert cat.industry("民宿").zh == "民宿/农家乐"
    assert cat.industry("危险化学品生产").base_weight > cat.industry("商场超市").base_weight


def test_hazard_types(cat: Catalogue) -> None:
    assert cat.hazard_type_code("头顶库") == "tailings_pond"
    for alias in ("崩塌", "滑坡", "泥石流"):
        assert cat.hazard_type_code(alias) == "geological"
    assert cat.hazard_type_code("事故多发点段") == "accident_blackspot"
    assert cat.hazard_type_code("低洼易涝") == "flood_lowland"
    assert cat.hazard_type("chemical_park").geometry == "polygon"


def test_models_are_frozen(cat: Catalogue) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen assignment
        cat.domains[0].default_weight = 0.1  # type: ignore[misc]


# --- invalid files ---------------------------------------------------------------------------------------
def _variant(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _invalid(tmp_path: Path, text: str) -> str:
    path = _variant(tmp_path, text)
    with pytest.raises(ModelInvalid) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message, "the error names the file"
    return message


ORIGINAL = DEFAULT_PATH.read_text(encoding="utf-8")


def test_variant_of_original_loads(tmp_path: Path) -> None:
    assert load_catalogue(_variant(tmp_path, ORIGINAL)) == load_catalogue()


def test_duplicate_code(tmp_path: Path) -> None:
    extra = '\n[[industries]]\ncode = "gas_station"\nzh = "加油站二"\nen = "filling station 2"\n'
    extra += 'domain = "hazchem"\nbase_weight = 0.5\n'
    message = _invalid(tmp_path, ORIGINAL + extra)
    assert "duplicate industry code 'gas_station'" in message


def test_duplicate_name(tmp_path: Path) -> None:
    extra = '\n[[industries]]\ncode = "gas_station_2"\nzh = "加油站"\nen = "filling station 2"\n'
    extra += 'domain = "hazchem"\nbase_weight = 0.5\n'
    message = _invalid(tmp_path, ORIGINAL + extra)
    assert "'加油站'" in message and "gas_station_2" in message


def test_unknown_domain(tmp_path: Path) -> None:
    extra = '\n[[industries]]\ncode = "coal"\nzh = "煤矿"\nen = "coal mine"\n'
    extra += 'domain = "mining"\nbase_weight = 0.9\n'
    message = _invalid(tmp_path, ORIGINAL + extra)
    assert "unknown domain 'mining'" in message and "'coal'" in message


def test_weight_out_of_range(tmp_path: Path) -> None:
    text = ORIGINAL.replace("base_weight = 0.95", "base_weight = 1.5", 1)
    assert text != ORIGINAL
    message = _invalid(tmp_path, text)
    assert "base_weight" in message and "1.5" in message and "hazchem_production" in message


def test_bad_colour(tmp_path: Path) -> None:
    message = _invalid(tmp_path, ORIGINAL.replace('color = "#FF8C00"', 'color = "orange"'))
    assert "color" in message and "'orange'" in message


def test_level_rank_is_fixed(tmp_path: Path) -> None:
    text = re.sub(r'(code = "red"\nrank = )1', r"\g<1>4", ORIGINAL)
    message = _invalid(tmp_path, text)
    assert "rank" in message and "red" in message


def test_missing_level(tmp_path: Path) -> None:
    start = ORIGINAL.index('[[levels]]\ncode = "blue"')
    end = ORIGINAL.index("# --- domains")
    message = _invalid(tmp_path, ORIGINAL[:start] + ORIGINAL[end:])
    assert "levels must be exactly red, orange, yellow, blue" in message


def test_unknown_key(tmp_path: Path) -> None:
    message = _invalid(tmp_path, ORIGINAL.replace("base_weight = 0.95", "base_wieght = 0.95", 1))
    assert "base_wieght" in message


def test_not_toml(tmp_path: Path) -> None:
    message = _invalid(tmp_path, "[[levels]\ncode = ")
    assert "not valid TOML" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelInvalid, match="does not exist"):
        load_catalogue(tmp_path / "nope.toml")


def test_rank_constant_matches() -> None:
    assert RISK_LEVEL_RANK == {"red": 1, "orange": 2, "yellow": 3, "blue": 4}
    assert LEVELS == ("red", "orange", "yellow", "blue")
