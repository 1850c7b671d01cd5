"""The enterprise files: enterprises.csv (UTF-8, WGS84, with deliberately bad rows) and the GB18030/GCJ-02 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geo.catalogue import Catalogue
from synth.enterprises import uscc
from synth.places import Counties

#: Canonical columns of enterprises.csv, in file order.
ENTERPRISE_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "domain",
    "industry",
    "lon",
    "lat",
    "address",
    "county_code",
    "workers",
    "major_hazard_level",
    "hazardous_processes",
    "dust_explosion",
    "confined_space",
    "ammonia_refrigeration",
    "standardization_grade",
    "declared_level",
    "lec_l",
    "lec_e",
    "lec_c",
    "ls_l",
    "ls_s",
)

#: Canonical column -> Chinese header of enterprises_gcj02_gbk.csv (no LEC/LS columns in that file).
GBK_COLUMNS: dict[str, str] = {
    "id": "统一社会信用代码",
    "name": "企业名称",
    "domain": "领域",
    "industry": "行业",
    "lon": "经度",
    "lat": "纬度",
    "address": "地址",
    "county_code": "区县代码",
    "workers": "从业人员数",
    "major_hazard_level": "重大危险源等级",
    "hazardous_processes": "重点监管危险化工工艺",
    "dust_explosion": "涉爆粉尘",
    "confined_space": "有限空间",
    "ammonia_refrigeration": "涉氨制冷",
    "standardization_grade": "安全生产标准化等级",
    "declared_level": "自评等级",
}

#: The deliberately bad rows appended, in this order, at the end of enterprises.csv.
BAD_ENTERPRISE_ROWS: tuple[str, ...] = (
    "missing_coordinates",  # empty lon/lat -> rejected
    "non_numeric_latitude",  # lat '30,2x' -> rejected
    "swapped_coordinates",  # lat/lon swapped -> rejected (or flagged) as outside the area
    "outside_province",  # a point in Beijing -> rejected as outside every county
    "unknown_domain",  # domain 'mining' -> rejected
    "duplicate_id",  # repeats the first row's id -> rejected as duplicate
    "empty_id",  # empty id -> rejected
    "county_code_mismatch",  # declared county_code disagrees with the location -> warning only
    "unknown_industry",  # industry not in the catalogue -> warning only (domain default weight)
)

# Chinese value written in the GBK file for each declared level (as field forms print them).
_LEVEL_ZH_SHORT = {"red": "重大", "orange": "较大", "yellow": "一般", "blue": "低"}


def _spare_ids(rng: np.random.Generator, c: Counties, taken: set[str], k: int) -> list[str]:
    """k ids that look real but belong to no generated enterprise."""
    out: list[str] = []
    while len(out) < k:
        for candidate in uscc(rng, c.codes[rng.integers(0, len(c), k)]).tolist():
            if candidate not in taken and candidate not in out and len(out) < k:
                out.append(candidate)
    return out


def _bad_rows(good: pd.DataFrame, c: Counties, spare: list[str]) -> pd.DataFrame:
    """The rows of BAD_ENTERPRISE_ROWS, each a realistic copy of a good row with one thing wrong."""
    base = good.iloc[: len(BAD_ENTERPRISE_ROWS)].copy().astype(object).reset_index(drop=True)
    base = base.reindex(range(len(BAD_ENTERPRISE_ROWS)), method="ffill")
    base["id"] = spare[: len(base)]
    base["name"] = base["name"] + "(补录)"
    rows = {kind: base.iloc[i].copy() for i, kind in enumerate(BAD_ENTERPRISE_ROWS)}
    rows["missing_coordinates"]["lon"] = rows["missing_coordinates"]["lat"] = ""
    rows["non_numeric_latitude"]["lat"] = "30,2x"
    row = rows["swapped_coordinates"]
    row["lon"], row["lat"] = row["lat"], row["lon"]
    row = rows["outside_province"]
    row["lon"], row["lat"], row["address"] = 116.397428, 39.90923, "北京市东城区东长安街1号"
    rows["unknown_domain"]["domain"] = "mining"
    rows["duplicate_id"]["id"] = good["id"].iloc[0]
    rows["empty_id"]["id"] = ""
    row = rows["county_code_mismatch"]
    others = [code for code in c.codes if code != row["county_code"]]
    row["county_code"] = others[0] if others else row["county_code"][:4] + "99"
    rows["unknown_industry"]["industry"] = "宠物美容"
    rows["unknown_industry"]["domain"] = "tourism"
    return pd.DataFrame(list(rows.values()), columns=good.columns)


def write_enterprises(
    rng: np.random.Generator, cat: Catalogue, frame: pd.DataFrame, c: Counties, out: Path
) -> tuple[list[Path], list[str]]:
    """enterprises.csv (UTF-8, English, WGS84, ~70% + bad rows) and the GB18030/GCJ-02 file (~30%)."""
    from geo.crs import wgs84_to_gcj02

    in_gbk = rng.random(len(frame)) < 0.3
    columns = list(ENTERPRISE_COLUMNS)
    utf = frame.loc[~in_gbk, columns]
    spare = _spare_ids(rng, c, set(frame["id"]), len(BAD_ENTERPRISE_ROWS) + 1)
    bad = _bad_rows(utf if len(utf) else frame[columns], c, spare)
    utf_path = out / "enterprises.csv"
    utf.to_csv(utf_path, index=False, encoding="utf-8", lineterminator="\n")
    bad.to_csv(utf_path, index=False, header=False, mode="a", encoding="utf-8", lineterminator="\n")

    gbk = frame.loc[in_gbk, list(GBK_COLUMNS)].copy()
    gx, gy = wgs84_to_gcj02(gbk["lon"].to_numpy(), gbk["lat"].to_numpy())
    gbk["lon"], gbk["lat"] = np.round(gx, 6), np.round(gy, 6)
    gbk["domain"] = gbk["domain"].map({d.code: d.zh for d in cat.domains})
    gbk["declared_level"] = gbk["declared_level"].map(_LEVEL_ZH_SHORT)
    gbk_path = out / "enterprises_gcj02_gbk.csv"
    gbk.rename(columns=GBK_COLUMNS).to_csv(gbk_path, index=False, encoding="gb18030", lineterminator="\r\n")
    return [utf_path, gbk_path], [*bad["id"].tolist(), spare[-1]]
