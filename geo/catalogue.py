"""The risk catalogue: levels, key domains, industries and hazard-site types, read from one TOML file.

The catalogue is declared once, as data, in `geo/data/catalogue.toml`; this module validates it on load
into frozen pydantic models and resolves the names people type (code, Chinese name, English name or
alias; case, whitespace and full-/half-width insensitive) to codes.

    >>> cat = load_catalogue()
    >>> cat.domain_code("危化品"), cat.industry("加油加气站").code, cat.level("red").rank
    ('hazchem', 'gas_station', 1)
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from geo import configfile

DEFAULT_PATH = Path(__file__).parent / "data" / "catalogue.toml"

#: The four risk-level codes, gravest first: the one declaration of them in the code. Fixed by the 2016
#: guidance (安委办〔2016〕11号) and not configurable; their names, aliases and colours are data
#: (`catalogue.toml`'s [[levels]]).
LEVELS: tuple[str, ...] = ("red", "orange", "yellow", "blue")
#: Risk-level rank, 1 = red (gravest) … 4 = blue.
RISK_LEVEL_RANK: dict[str, int] = {code: i + 1 for i, code in enumerate(LEVELS)}


def _level_code(code: str) -> str:
    if code not in RISK_LEVEL_RANK:
        raise ValueError(f"{code!r} is not a risk level; use one of {', '.join(map(repr, LEVELS))}")
    return code


#: A field that holds one of the four level codes.
LevelCode = Annotated[str, AfterValidator(_level_code)]

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Name = Annotated[str, Field(min_length=1)]
Weight = Annotated[float, Field(ge=0.0, le=1.0)]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]


def normalize_name(text: str) -> str:
    """The key names are matched on: NFKC (full-width → half-width), casefolded, all whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    zh: Name
    en: Name
    aliases: tuple[Name, ...] = ()

    def names(self) -> tuple[str, ...]:
        """Every name this entry answers to: code, zh, en, aliases."""
        return (self.code, self.zh, self.en, *self.aliases)


class Level(_Entry):
    """One of the four risk levels (风险等级)."""

    code: LevelCode
    rank: Annotated[int, Field(ge=1, le=4)]
    color: Color


class Domain(_Entry):
    """A key domain (重点领域)."""

    default_weight: Weight


class Industry(_Entry):
    """An industry (行业) under a domain, with its inherent base weight."""

    domain: Code
    base_weight: Weight


class HazardType(_Entry):
    """A type of hazard site (隐患点/风险点)."""

    geometry: Literal["point", "line", "polygon"]
    base_weight: Weight


class ResourceKind(_Entry):
    """A kind of emergency resource (应急资源): shelters, warehouses, stations, teams, experts, …"""

    responder: bool = False  # drives to an incident: the rescue circle is measured from these
    capacity: Literal["people", "beds"] | None = None  # what the capacity column counts for this kind


def _index(kind: str, entries: Iterable[_Entry]) -> dict[str, str]:
    """Map every normalised name to its entry's code; a name claimed by two entries is an error."""
    index: dict[str, str] = {}
    seen_codes: set[str] = set()
    for entry in entries:
        if entry.code in seen_codes:
            raise ValueError(f"duplicate {kind} code {entry.code!r}")
        seen_codes.add(entry.code)
        for name in entry.names():
            key = normalize_name(name)
            other = index.setdefault(key, entry.code)
            if other != entry.code:
                raise ValueError(
                    f"{kind} name {name!r} is claimed by both {other!r} and {entry.code!r}; rename or drop one of them"
                )
    return index


class Catalogue(BaseModel):
    """The validated catalogue. Build it with `load_catalogue()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: tuple[Level, ...]
    domains: tuple[Domain, ...]
    industries: tuple[Industry, ...]
    hazard_types: tuple[HazardType, ...]
    resource_kinds: tuple[ResourceKind, ...] = ()

    _level_index: dict[str, str] = PrivateAttr(default_factory=dict)
    _domain_index: dict[str, str] = PrivateAttr(default_factory=dict)
    _industry_index: dict[str, str] = PrivateAttr(default_factory=dict)
    _hazard_index: dict[str, str] = PrivateAttr(default_factory=dict)
    _resource_index: dict[str, str] = PrivateAttr(default_factory=dict)
    _levels_by_code: dict[str, Level] = PrivateAttr(default_factory=dict)
    _domains_by_code: dict[str, Domain] = PrivateAttr(default_factory=dict)
    _industries_by_code: dict[str, Industry] = PrivateAttr(default_factory=dict)
    _hazards_by_code: dict[str, HazardType] = PrivateAttr(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _rank_order(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        """Levels are kept in rank order, gravest first."""
        return tuple(sorted(levels, key=lambda lv: lv.rank))

    @model_validator(mode="after")
    def _check(self) -> Catalogue:
        codes = sorted(lv.code for lv in self.levels)
        if len(self.levels) != 4 or set(codes) != set(LEVELS):
            raise ValueError(f"levels must be exactly red, orange, yellow, blue (found {codes})")
        for lv in self.levels:
            if lv.rank != RISK_LEVEL_RANK[lv.code]:
                raise ValueError(
                    f"level {lv.code!r} has rank {lv.rank}; ranks are fixed: "
                    + ", ".join(f"{c}={r}" for c, r in RISK_LEVEL_RANK.items())
                )
        if not self.domains:
            raise ValueError("no domains declared")
        domain_codes = {d.code for d in self.domains}
        for ind in self.industries:
            if ind.domain not in domain_codes:
                raise ValueError(
                    f"industry {ind.code!r} ({ind.zh}) names unknown domain {ind.domain!r}; "
                    f"known domains: {', '.join(sorted(domain_codes))}"
                )
        _index("level", self.levels)
        _index("domain", self.domains)
        _index("industry", self.industries)
        _index("hazard type", self.hazard_types)
        _index("resource kind", self.resource_kinds)
        return self

    def model_post_init(self, _context: object) -> None:
        self._level_index = _index("level", self.levels)
        self._domain_index = _index("domain", self.domains)
        self._industry_index = _index("industry", self.industries)
        self._hazard_index = _index("hazard type", self.hazard_types)
        self._resource_index = _index("resource kind", self.resource_kinds)
        self._levels_by_code = {lv.code: lv for lv in self.levels}
        self._domains_by_code = {d.code: d for d in self.domains}
        self._industries_by_code = {i.code: i for i in self.industries}
        self._hazards_by_code = {h.code: h for h in self.hazard_types}

    # --- resolution of typed names ---------------------------------------------------------------------
    def domain_code(self, text: str | None) -> str | None:
        """The domain code for a code, Chinese or English name, or alias; None when unknown."""
        return self._domain_index.get(normalize_name(text)) if text else None

    def domain(self, text: str | None) -> Domain | None:
        """The domain for a code, name or alias; None when unknown."""
        code = self.domain_code(text)
        return self._domains_by_code[code] if code else None

    def industry(self, text: str | None) -> Industry | None:
        """The industry for a code, Chinese or English name, or alias; None when unknown."""
        code = self._industry_index.get(normalize_name(text)) if text else None
        return self._industries_by_code[code] if code else None

    def industries_in(self, domain: str) -> tuple[Industry, ...]:
        """The industries of one domain (given by code, name or alias), in catalogue order."""
        code = self.domain_code(domain)
        return tuple(i for i in self.industries if i.domain == code)

    def hazard_type_code(self, text: str | None) -> str | None:
        """The hazard-type code for a code, Chinese or English name, or alias; None when unknown."""
        return self._hazard_index.get(normalize_name(text)) if text else None

    def hazard_type(self, text: str | None) -> HazardType | None:
        """The hazard type for a code, name or alias; None when unknown."""
        code = self.hazard_type_code(text)
        return self._hazards_by_code[code] if code else None

    def resource_kind_code(self, text: str | None) -> str | None:
        """The resource-kind code for a code, Chinese or English name, or alias; None when unknown."""
        return self._resource_index.get(normalize_name(text)) if text else None

    def responder_kinds(self) -> tuple[str, ...]:
        """The resource kinds declared `responder = true`, in catalogue order."""
        return tuple(k.code for k in self.resource_kinds if k.responder)

    def level_code(self, text: str | None) -> str | None:
        """The level code for a code, Chinese or English name or alias (红色, 较大...); None when unknown."""
        return self._level_index.get(normalize_name(text)) if text else None

    def level(self, code: str) -> Level:
        """The level for a level code (or any name `level_code` accepts). Raises KeyError when unknown."""
        resolved = self.level_code(code)
        if resolved is None:
            raise KeyError(f"unknown risk level {code!r}; use one of {', '.join(LEVELS)}")
        return self._levels_by_code[resolved]


def _load(path: Path) -> Catalogue:
    return configfile.load(path, Catalogue, "catalogue file", known_keys="geo/data/catalogue.toml")


@functools.lru_cache(maxsize=1)
def _default() -> Catalogue:
    return _load(DEFAULT_PATH)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate a catalogue TOML file; the bundled one (cached) when `path` is None.

    Raises `ModelInvalid` naming the file and the problem when the file is missing, not TOML, or fails
    validation (duplicate codes or names, unknown domain, weight outside [0, 1], wrong levels, bad colour).
    """
    if path is None:
        return _default()
    return _load(Path(path))
