"""The fast paths of value parsing give exactly what the straightforward per-column parsers give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.fields import parse_column, parsers

SAMPLES = {
    "float": ["120.5", "", "1e3", "x", "inf", "nan", "１２０．５", " 3", "-0", "+1.5", "1_0"],
    "int": ["12", "", "1,200", "３", "-1", "2.5", "7.0", "many"],
    "bool": ["是", "否", "", "yes", "0", "1.0", "maybe", "√"],
    "hazard_grade": ["一级", "2", "四级", "", "五级", "3.0", "none"],
    "std_grade": ["一级", "3", "4", "", "无", "/"],
    "score15": ["1", "5", "6", "0", "", "2.0"],
    "level": ["重大", "red", "4", "", "purple", "较大风险"],
    "code": ["330102", "330102.0", "3301", "", "330102001"],
    "date": ["2024-01-05", "2024年1月5日", "20240105", "45000", "", "soon", "2024/1/5 08:30"],
    "domain": ["危险化学品", "mining", "", "nonsense"],
    "event_type": ["隐患", "accident", "", "fire"],
    "danger_grade": ["重大", "general", "", "huge"],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_parse_column_equals_the_direct_parser(kind):
    parse = parsers()[kind]
    rng = np.random.default_rng(0)
    text = pd.Series(rng.choice(SAMPLES[kind], size=10_000), dtype="str")
    fast, fast_bad = parse_column(parse, text)
    slow, slow_bad = parse(text)
    assert (fast_bad == slow_bad).all()
    assert slow_bad.any()
    # words (codes a vocabulary maps to) come back as a text column, as the store keeps them
    if slow.dtype != object:
        pd.testing.assert_series_equal(fast, slow, check_names=False)
    else:
        assert [None if pd.isna(v) else v for v in fast] == [None if pd.isna(v) else v for v in slow]
    assert parse_column(parse, text[:100])[0].dtype == fast.dtype  # the short path gives the same type


def test_float_fast_and_careful_paths_agree():
    parse = parsers()["float"]
    plain = pd.Series(["1.5", "", "2e3", "nan", "-0", "+7"] * 1000, dtype="str")
    fast, fast_bad = parse(plain)  # Arrow cast: every value is a plain number or empty
    careful, careful_bad = parse(pd.concat([plain, pd.Series(["x"], dtype="str")], ignore_index=True))
    assert (fast_bad == careful_bad[:-1]).all() and careful_bad[-1]
    pd.testing.assert_series_equal(fast, careful.iloc[:-1], check_names=False)
    assert fast_bad[3] and not fast_bad[1] and np.isnan(fast[1])


def test_contract_file_is_validated_with_the_key_path():
    """Every `type` in geo/data/fields.toml names a parser; a bad entry is named by its key path."""
    import tomllib

    from geo.configfile import validate
    from geo.errors import ModelInvalid
    from geo.fields import FIELDS_FILE, ContractFile, load_contract

    raw = tomllib.loads(FIELDS_FILE.read_text(encoding="utf-8"))
    assert set(validate(raw, ContractFile, "fields").root) == {"enterprises", "hazards", "events", "resources", "roads"}
    assert load_contract("enterprises").field("domain").type == "domain"
    raw["enterprises"]["fields"][2]["type"] = "domian"
    with pytest.raises(ModelInvalid, match=r"enterprises\.fields\[2\] \(name 'domain'\)\.type: unknown type 'domian'"):
        validate(raw, ContractFile, "fields")
    raw["enterprises"]["fields"][2]["type"] = "domain"
    raw["events"]["key"] = "nope"
    with pytest.raises(ModelInvalid, match=r"events: key 'nope' is not one of the fields"):
        validate(raw, ContractFile, "fields")
