"""The input data contract (``geo/data/fields.toml``): column matching and vectorised value parsing.

Each parser takes a Series of text and returns the parsed Series plus a boolean mask of the values that
could not be parsed (empty text is never "bad": it is missing, and `required` decides what that means).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, RootModel, field_validator, model_validator
from pydantic import Field as PydanticField

from geo import configfile
from geo.catalogue import Catalogue, load_catalogue
from geo.errors import InputRejected
from geo.values import text_of

FIELDS_FILE = Path(__file__).parent / "data" / "fields.toml"


@dataclass(frozen=True)
class Plausible:
    """The range a value is expected in; a value outside is stored, with a warning. Numbers for number
    fields; dates (or "today": the day of the ingest) for date fields."""

    min: float | date | None = None
    max: float | date | Literal["today"] | None = None


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    aliases: tuple[str, ...]
    plausible: Plausible | None = None


@dataclass(frozen=True)
class Contract:
    kind: str
    key: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


class _PlausibleEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | date | None = None
    max: float | date | Literal["today"] | None = None


class _FieldEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, PydanticField(pattern=r"^[a-z][a-z0-9_]*$")]
    type: str
    required: bool = False
    aliases: tuple[Annotated[str, PydanticField(min_length=1)], ...] = ()
    plausible: _PlausibleEntry | None = None

    @model_validator(mode="after")
    def _range_fits_type(self) -> _FieldEntry:
        if self.plausible is None:
            return self
        bounds = [b for b in (self.plausible.min, self.plausible.max) if b is not None]
        if self.type in ("int", "float"):
            ok = all(isinstance(b, int | float) for b in bounds)
        elif self.type == "date":
            ok = all(isinstance(b, date) or b == "today" for b in bounds)
        else:
            ok = False
        if not ok:
            raise ValueError(f"plausible: a {self.type} field takes no range of {bounds}; numbers or dates only")
        return self

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        known = parsers()
        if value not in known:
            raise ValueError(f"unknown type {value!r}; use one of {', '.join(known)}")
        return value


class _KindEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    fields: tuple[_FieldEntry, ...]

    @model_validator(mode="after")
    def _consistent(self) -> _KindEntry:
        names = [f.name for f in self.fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"field names must be unique ({', '.join(twice)} repeated)")
        if self.key not in names:
            raise ValueError(f"key {self.key!r} is not one of the fields")
        return self


class ContractFile(RootModel[dict[str, _KindEntry]]):
    """`geo/data/fields.toml`: one table per kind of input, with its key and fields."""


def _norm_header(text: str) -> str:
    text = re.sub(r"[（(][^)）]*[)）]\s*$", "", str(text))  # trailing unit: 从业人员数(人)
    return re.sub(r"[\s_\-]+", "", text).lower()


@cache
def _contract_file() -> ContractFile:
    return configfile.load(FIELDS_FILE, ContractFile, "data contract file", known_keys="geo/data/fields.toml")


@cache
def load_contract(kind: str) -> Contract:
    """The validated contract for one kind of input (its key and fields)."""
    kinds = _contract_file().root
    if kind not in kinds:
        raise InputRejected(f"unknown kind {kind!r}; use one of {', '.join(kinds)}")
    entry = kinds[kind]
    fields = tuple(
        Field(f.name, f.type, f.required, f.aliases, Plausible(**f.plausible.model_dump()) if f.plausible else None)
        for f in entry.fields
    )
    return Contract(kind, entry.key, fields)


def match_columns(columns: list[str], contract: Contract) -> dict[str, str]:
    """Map canonical field name -> the file's column. A column matches its field's name or any alias."""
    lookup: dict[str, str] = {}
    for f in contract.fields:
        for alias in (f.name, *f.aliases):
            lookup.setdefault(_norm_header(alias), f.name)
    mapping: dict[str, str] = {}
    for col in columns:
        name = lookup.get(_norm_header(col))
        if name is not None and name not in mapping:
            mapping[name] = col
    return mapping


def header_score(contract: Contract) -> Callable[[list[str]], tuple[bool, int]]:
    """How well a row of cells serves as the header of a `contract` file: (names every required field, how
    many fields it names); what `geo.readers.read_table` uses to find a header below title rows."""
    required = [f.name for f in contract.fields if f.required]

    def score(cells: list[str]) -> tuple[bool, int]:
        mapping = match_columns([c for c in cells if c], contract)
        return all(name in mapping for name in required), len(mapping)

    return score


# -- parsers ---------------------------------------------------------------------------------------
Parsed = tuple[pd.Series, np.ndarray]
FULLWIDTH = str.maketrans("０１２３４５６７８９．－，", "0123456789.-,")


def _empty(text: pd.Series) -> np.ndarray:
    return (text == "").to_numpy()


_FULLWIDTH_CHARS = "[０-９．－，]"


def _arrow_float(text: pd.Series) -> Parsed | None:
    """Plain numbers ("" for missing) cast in one Arrow pass; None when any value needs the careful path.
    Arrow accepts a subset of what `pd.to_numeric` accepts and reads those values identically."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text, from_pandas=True)
    if arr.null_count:  # missing values (not "") take the careful path, which reports them as before
        return None
    empty = pc.equal(arr, "")
    try:
        values = pc.cast(pc.if_else(empty, pa.scalar(None, arr.type), arr), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    out = values.to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(out) & ~empty.to_numpy(zero_copy_only=False)
    out = np.where(bad, np.nan, out)
    return pd.Series(out, index=text.index, dtype="float64"), bad


def parse_float(text: pd.Series) -> Parsed:
    if len(text) and (fast := _arrow_float(text)) is not None:
        return fast
    cleaned = text
    if text.str.contains(_FULLWIDTH_CHARS, regex=True).any():
        cleaned = text.str.translate(FULLWIDTH).str.strip()
    values = pd.to_numeric(cleaned, errors="coerce")
    bad = values.isna().to_numpy() & ~_empty(cleaned)
    values = values.where(np.isfinite(values))
    bad |= values.isna().to_numpy() & ~_empty(cleaned)
    return values.astype("float64"), bad


def parse_int(text: pd.Series) -> Parsed:
    if text.str.contains(_FULLWIDTH_CHARS, regex=True).any():
        text = text.str.translate(FULLWIDTH)
    values, bad = parse_float(text.str.replace(",", "", regex=False))
    frac = values.notna().to_numpy() & ((values % 1 != 0) | (values < 0)).to_numpy()
    bad = bad | frac
    return values.where(~frac).round().astype("Int64"), bad


_TRUE = {"1", "是", "有", "y", "yes", "true", "t", "涉及", "√"}
_FALSE = {"0", "否", "无", "n", "no", "false", "f", "不涉及", "×"}


def parse_bool(text: pd.Series) -> Parsed:
    low = text.str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    is_true = low.isin(_TRUE).to_numpy()
    is_false = low.isin(_FALSE).to_numpy()
    bad = ~(is_true | is_false | _empty(low))
    values = pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"), index=text.index)
    values[~(is_true | is_false)] = pd.NA
    return values, bad


_CN_GRADE = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def _grade(text: pd.Series, top: int) -> Parsed:
    key = text.str.strip().str.replace(r"\.0$", "", regex=True).str.replace(r"^([一二三四1-4])级?$", r"\1", regex=True)
    key = key.str.lower().replace({"none": "", "无": "", "未达标": "", "/": ""})
    values = key.map(_CN_GRADE).astype("Float64")
    bad = (values.isna().to_numpy() & ~_empty(key)) | (values > top).fillna(False).to_numpy()
    values = values.where(values <= top)
    return values.astype("Int64"), bad


def parse_hazard_grade(text: pd.Series) -> Parsed:
    return _grade(text, 4)


def parse_std_grade(text: pd.Series) -> Parsed:
    return _grade(text, 3)


def parse_score15(text: pd.Series) -> Parsed:
    values, bad = parse_int(text)
    out = (values < 1) | (values > 5)
    out = out.fillna(False).to_numpy()
    return values.where(~out), bad | out


def parse_text(text: pd.Series) -> Parsed:
    # stays an Arrow-backed text column (missing = NA): no per-value Python objects on a million rows
    return text.astype("str").mask(text == ""), np.zeros(len(text), dtype=bool)


def parse_code(text: pd.Series) -> Parsed:
    key = text.str.strip().str.replace(r"\.0$", "", regex=True)
    bad = ~key.str.fullmatch(r"\d{6}(\d{3}(\d{3})?)?").to_numpy() & ~_empty(key)
    return key.where(~bad & (key != ""), None).astype(object), bad


def parse_date(text: pd.Series) -> Parsed:
    serial = pd.to_numeric(text.str.strip(), errors="coerce")  # Excel serial dates, maybe with a time fraction
    key = text.str.strip().str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False)
    key = key.str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2})?$", "", regex=True)
    compact = key.str.fullmatch(r"\d{8}")
    key = key.where(~compact, key.str.slice(0, 4) + "-" + key.str.slice(4, 6) + "-" + key.str.slice(6, 8))
    values = pd.to_datetime(key, format="%Y-%m-%d", errors="coerce")
    serial = np.floor(serial)
    excel = values.isna() & serial.between(20000, 80000)
    if excel.any():
        values = values.where(~excel, pd.Timestamp("1899-12-30") + pd.to_timedelta(serial.where(excel), unit="D"))
    bad = values.isna().to_numpy() & ~_empty(key)
    return values.astype("datetime64[ns]"), bad


_EVENT_TYPES = {
    "hidden_danger": "hidden_danger",
    "隐患": "hidden_danger",
    "事故隐患": "hidden_danger",
    "hazard": "hidden_danger",
    "danger": "hidden_danger",
    "accident": "accident",
    "事故": "accident",
    "alarm": "alarm",
    "报警": "alarm",
    "预警": "alarm",
    "监测报警": "alarm",
}
_DANGER_GRADES = {
    "general": "general",
    "一般": "general",
    "一般隐患": "general",
    "一般事故隐患": "general",
    "major": "major",
    "重大": "major",
    "重大隐患": "major",
    "重大事故隐患": "major",
}


def _vocab(words: dict[str, str]) -> Callable[[pd.Series], Parsed]:
    def parse(text: pd.Series) -> Parsed:
        key = text.str.strip().str.lower()
        values = key.map(words)
        bad = values.isna().to_numpy() & ~_empty(key)
        return values.astype(object).where(values.notna(), None), bad

    return parse


def _catalogue_parser(resolve: Callable[[str], str | None]) -> Callable[[pd.Series], Parsed]:
    def parse(text: pd.Series) -> Parsed:
        uniques = pd.unique(text)
        lookup = {u: resolve(u) if u else None for u in uniques}
        values = text.map(lookup)
        bad = values.isna().to_numpy() & ~_empty(text)
        return values.astype(object).where(values.notna(), None), bad

    return parse


def parse_column(parse: Callable[[pd.Series], Parsed], text: pd.Series) -> Parsed:
    """`parse(text)`, computed once per distinct value when a long column repeats itself (most census fields
    hold a handful of values). Same result: every parser maps each value on its own."""
    n = len(text)
    if n >= 4096 and text.iloc[:2048].nunique() <= 512:
        codes, uniques = pd.factorize(text)
        if len(uniques) * 8 <= n and (codes >= 0).all():
            parsed, bad = parse(pd.Series(uniques, dtype=text.dtype))
            out = text_of(parsed, codes) if _words(parsed) else parsed.take(codes)
            out.index = text.index
            return out, np.asarray(bad)[codes]
    parsed, bad = parse(text)
    return (parsed.astype("str") if _words(parsed) else parsed), bad


def _words(parsed: pd.Series) -> bool:
    """Text held as Python objects, missing as None or NaN (the codes a vocabulary maps to, administrative
    codes): made a text column, as the store keeps it, once per distinct value (`text_of`) rather than once
    per row."""
    return parsed.dtype == object and all(
        isinstance(v, str) or v is None or v is pd.NA or (isinstance(v, float) and v != v) for v in parsed
    )


def parsers(catalogue: Catalogue | None = None) -> dict[str, Callable[[pd.Series], Parsed]]:
    cat = catalogue or load_catalogue()
    return {
        "id": parse_text,
        "text": parse_text,
        "float": parse_float,
        "int": parse_int,
        "bool": parse_bool,
        "hazard_grade": parse_hazard_grade,
        "std_grade": parse_std_grade,
        "score15": parse_score15,
        "level": _catalogue_parser(lambda text: cat.level_code(re.sub(r"\.0$", "", text.strip()))),
        "code": parse_code,
        "date": parse_date,
        "event_type": _vocab(_EVENT_TYPES),
        "danger_grade": _vocab(_DANGER_GRADES),
        "domain": _catalogue_parser(cat.domain_code),
        "hazard_type": _catalogue_parser(cat.hazard_type_code),
        "resource_kind": _catalogue_parser(cat.resource_kind_code),
    }


TYPE_HINTS = {
    "float": "a number",
    "int": "a whole number >= 0",
    "bool": "1/0, 是/否 or yes/no",
    "hazard_grade": "1-4 (一级-四级)",
    "std_grade": "1-3 (一级-三级) or empty",
    "score15": "a whole number 1-5",
    "level": "red/orange/yellow/blue (重大/较大/一般/低)",
    "code": "a 6-, 9- or 12-digit administrative code",
    "date": "a date YYYY-MM-DD",
    "event_type": "隐患/事故/报警 (hidden_danger/accident/alarm)",
    "danger_grade": "一般/重大 (general/major)",
}
