"""The coping-capacity term of the regional index (docs/scoring.md §3): off by default; when on, an unreached
red/orange unit weighs (1 + lack) × its level weight; the invariants of docs/scoring.md §4 still hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from geo.catalogue import LEVELS
from geo.scoring.model import Coping
from tests.test_scoring_regions import (
    MODEL,
    _holding,
    _ranks,
    _settings,
    _site,
    _unit,
    at,
    reds,
    regions,
    sites,
    units,
)

COPING = MODEL.model_copy(update={"region": MODEL.region.model_copy(update={"coping": Coping(lack=1.0, minutes=15.0)})})


def timed(frame: pd.DataFrame, minutes: list[float]) -> pd.DataFrame:
    return frame.assign(rescue_minutes=minutes)


def test_off_by_default_and_without_rescue_minutes() -> None:
    assert MODEL.region.coping.lack == 0.0
    u = timed(units(*reds(3)), [40.0, 40.0, np.nan])
    assert at(regions(u), "330102")["explanation"]["inputs"]["load"] == 30.0
    assert at(regions(units(*reds(3)), model=COPING), "330102")["explanation"]["inputs"]["load"] == 30.0


def test_unreached_red_units_weigh_double_with_lack_one() -> None:
    # 3 red (weight 10) and 1 orange (3); red A reached (5 min), red B at 40 min, red C never, orange at 20
    u = timed(units(*reds(3), {"county": "330102", "risk_level": "orange"}), [5.0, 40.0, np.nan, 20.0])
    row = at(regions(u, model=COPING), "330102")
    inputs = row["explanation"]["inputs"]
    assert inputs["unit_load"] == 33.0 and inputs["coping_load"] == 23.0 and inputs["load"] == 56.0
    assert row["risk_index"] == round(100 * (1 - np.exp(-56.0 / 250.0)), 1)  # 20.1


@_settings
@given(st.lists(_unit, max_size=30), st.lists(_site, max_size=4), _unit, st.floats(0, 60) | st.just(np.nan))
def test_adding_a_unit_never_lowers_with_coping(base, hz, extra, minutes) -> None:
    h = sites(*hz) if hz else None
    before_u = timed(units(*base), [20.0] * len(base))
    after_u = timed(units(*base, extra), [20.0] * len(base) + [minutes])
    before, after = regions(before_u, h, COPING), regions(after_u, h, COPING)
    assert after["risk_level"].isin(LEVELS).all()
    assert (_ranks(after) <= _ranks(before)).all() and (after["risk_index"] >= before["risk_index"]).all()
    other = ~_holding(after, extra["county"])
    pd.testing.assert_frame_equal(after[other], before[other])
