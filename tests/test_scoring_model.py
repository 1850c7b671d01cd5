"""The scoring model loads, fingerprints, round-trips, and rejects bad files naming file, key path and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from geo.errors import ModelInvalid
from geo.scoring.model import DEFAULT_PATH, ScoringModel, load_model

TEXT = DEFAULT_PATH.read_text(encoding="utf-8")


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The default model file with exact, unique snippets replaced."""
    text = TEXT
    for old, new in edits:
        assert text.count(old) == 1, f"snippet not unique in model.toml: {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "model.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_loads_and_is_cached() -> None:
    m = load_model()
    assert load_model() is m
    assert load_model(DEFAULT_PATH) == m
    assert m.name == "default"
    assert m.levels.edges() == (30.0, 45.0, 65.0)
    assert (m.methods.lec.red, m.methods.ls.red) == (320.0, 20.0)
    assert m.region.scheme == "fixed"
    assert m.region.k_for("county") == 250.0 and m.region.k_for("township") == m.region.k["default"]


def test_fingerprint_and_round_trip(tmp_path: Path) -> None:
    m = load_model()
    fp = m.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fp)
    again = ScoringModel.model_validate(m.to_dict())
    assert again == m and again.fingerprint() == fp
    # comments and layout do not matter; numbers do
    assert load_model(variant(tmp_path, ("# --- unit levels", "# --- the unit levels"))).fingerprint() == fp
    assert load_model(variant(tmp_path, ("yellow = 30.0", "yellow = 31.0"))).fingerprint() != fp


def test_frozen() -> None:
    m = load_model()
    with pytest.raises(ValidationError):
        m.levels.red = 99.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("edit", "where", "problem"),
    [
        (("orange = 45.0", "orange = 80.0"), "levels", "must ascend yellow < orange < red"),
        (("dust_explosion = 8.0", "dust_explosion = -1.0"), "inherent.flags.dust_explosion", "greater than or equal"),
        (("industry_points = 40.0", "industry_points = 140.0"), "inherent.industry_points", "less than or equal"),
        (("unknown_weight = 0.5", "unknown_weight = 1.5"), "inherent.unknown_weight", "less than or equal"),
        (("grade_1 = 30.0", "grade_1 = 5.0"), "inherent.major_hazard", "must not increase"),
        (("grade_1 = 0.80", "grade_1 = 0.99"), "control", "grade_1 <= grade_2"),
        (("window_days = 365", "window_days = 0"), "dynamic.accident.window_days", "greater than 0"),
        (("window_days = 30", "window_days = -3"), "dynamic.alarm.window_days", "greater than 0"),
        (("max_factor = 2.0", "max_factor = 0.5"), "dynamic.max_factor", "greater than or equal to 1"),
        (("red = 320.0", "red = 100.0"), "methods.lec", "yellow < orange < red < top"),
        (("top = 25.0", "top = 20.0"), "methods.ls", "yellow < orange < red < top"),
        (('order = ["lec", "ls"]', 'order = ["lec", "lec"]'), "methods.order", "once each"),
        (('order = ["lec", "ls"]', 'order = ["lec", "matrix"]'), "methods.order[1]", "'lec' or 'ls'"),
        (('scheme = "fixed"', 'scheme = "jenks"'), "region.scheme", "'fixed', 'quantiles' or 'natural_breaks'"),
        (("red = 10.0", "red = 2.0"), "region.level_weights", "red >= orange >= yellow >= blue"),
        (("default = 20.0", "township = 20.0"), "region.k", "needs a `default` entry"),
        (("county = 250.0", "county = 0.0"), "region.k.county", "greater than 0"),
        (
            ("thresholds = [10, 100, 500, 1000]", "thresholds = [10, 500, 100, 1000]"),
            "hazards.population",
            "strictly ascend",
        ),
        (("points = [8.0, 20.0, 35.0, 45.0]", "points = [8.0, 20.0]"), "hazards.population", "equal length"),
        (
            ("min_count = { county = 1, township = 1, village = 1 }", "min_count = { county = 0 }"),
            "region.rules[0] (id 'veto_unit').min_count.county",
            "greater than or equal to 1",
        ),
        (
            ('at_least = "orange"\ntext = "重大风险', 'at_least = "pink"\ntext = "重大风险'),
            "region.rules[1] (id 'many_red').at_least",
            "'red'",
        ),
        (('id = "many_red"', 'id = "veto_unit"'), "region.rules", "unique (duplicated: veto_unit)"),
        (
            ('→ 区域至少为{at_least_zh}"\n\n[[region.rules]]', '{oops}"\n\n[[region.rules]]'),
            "region.rules[0] (id 'veto_unit').text",
            "may only use",
        ),
        (("per_alarm = 0.01", "per_alarm = 0.01\nper_alarms = 0.02"), "dynamic.alarm.per_alarms", "unknown key"),
        (('scheme = "fixed"', "scheme = 4"), "region.scheme", "got 4"),
    ],
)
def test_invalid_files_name_file_key_and_problem(tmp_path: Path, edit, where: str, problem: str) -> None:
    path = variant(tmp_path, edit)
    with pytest.raises(ModelInvalid) as info:
        load_model(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"{where}:" in msg, msg
    assert problem in msg, msg


def test_missing_section(tmp_path: Path) -> None:
    start = TEXT.index("[overrides]")
    end = TEXT.index("# --- hazard sites")
    path = tmp_path / "model.toml"
    path.write_text(TEXT[:start] + TEXT[end:], encoding="utf-8")
    with pytest.raises(ModelInvalid, match=r"overrides: missing \(required\)"):
        load_model(path)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ModelInvalid, match="does not exist"):
        load_model(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[levels\nyellow = 1", encoding="utf-8")
    with pytest.raises(ModelInvalid, match=r"bad\.toml is not valid TOML"):
        load_model(bad)
