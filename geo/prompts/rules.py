"""The prompt rules (动态风险研判提示), declared as data in `geo/data/alerts.toml` and validated on load.

Each rule has a `kind` (what it checks) with its own keys, a severity (urgent 紧急 / important 重要 /
general 一般) and a text in Chinese and English whose {placeholders} must be fields the kind provides. A bad
file raises `AlertRulesInvalid` naming the file, the key path (with the rule's id) and the problem, e.g.
``rules[4] (id 'alarm_burst').min_count: Input should be greater than or equal to 1``.

    >>> r = load_rules()
    >>> r.rule("alarm_burst").min_count, r.severity_label("urgent", "zh")
    (3, '紧急')
"""

from __future__ import annotations

import functools
import hashlib
import json
import string
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo import configfile
from geo.catalogue import LevelCode, load_catalogue
from geo.errors import AlertRulesInvalid

__all__ = ["DEFAULT_PATH", "SEVERITIES", "AlertRules", "load_rules"]

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "alerts.toml"
#: the three severities, gravest first; their labels and colours are declared in alerts.toml
SEVERITIES: tuple[str, ...] = ("urgent", "important", "general")
LANGS = ("zh", "en")

Severity = Literal["urgent", "important", "general"]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Days = Annotated[int, Field(ge=1, le=3650)]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]

#: placeholders every rule's text may use
COMMON_FIELDS = frozenset({"name", "target_id", "domain"})
LEVEL_FIELDS = frozenset(
    {"before", "after", "before_zh", "after_zh", "before_en", "after_en", "value_before", "value_after", "before_date"}
)
EVENT_FIELDS = frozenset({"event_id", "event_date", "due_date", "grade_zh", "grade_en"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Frozen):
    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]


class _Rule(_Frozen):
    id: Code
    enabled: bool = True
    severity: Severity
    #: the rule's name where prompts are counted by rule (the daily summary)
    title: Text
    text: Text
    #: evidence fields of this kind a text may name (besides COMMON_FIELDS and the rule's own keys)
    FIELDS: ClassVar[frozenset[str]] = frozenset()
    #: what a prompt of this kind is about: unit, site or region
    TARGET: ClassVar[str] = "unit"

    @model_validator(mode="after")
    def _placeholders(self) -> _Rule:
        known = COMMON_FIELDS | self.FIELDS | set(type(self).model_fields) - {"text", "title", "enabled"}
        for lang in LANGS:
            template = getattr(self.text, lang)
            try:
                parsed = list(string.Formatter().parse(template))
            except ValueError as exc:
                raise ValueError(f"text.{lang}: {exc} (write a literal brace as {{{{ or }}}})") from exc
            for _, field, spec, conv in parsed:
                if field is None:
                    continue
                if spec or conv:
                    raise ValueError(f"text.{lang}: {{{field}}} takes no format spec or conversion")
                if field not in known:
                    raise ValueError(
                        f"text.{lang}: unknown placeholder {{{field}}}; a {self.kind} rule offers "  # type: ignore[attr-defined]
                        f"{', '.join(sorted(known))}"
                    )
        return self

    def target(self) -> str:
        return self.TARGET

    def params(self) -> dict[str, str]:
        """The rule's own keys as text, for its placeholders."""
        return {
            k: ", ".join(map(str, v)) if isinstance(v, tuple) else str(v)
            for k, v in self.model_dump(exclude={"text", "enabled", "id", "kind"}).items()
        }


class LevelRise(_Rule):
    """A unit's or hazard site's level graver than in the build before (and still graver than before the rise)."""

    kind: Literal["level_rise"]
    target_kind: Literal["unit", "site"] = Field(alias="target")
    severity_to_red: Severity | None = None
    FIELDS = LEVEL_FIELDS

    def target(self) -> str:
        return self.target_kind


class MajorDanger(_Rule):
    kind: Literal["major_danger"]
    FIELDS = EVENT_FIELDS


class OverdueDanger(_Rule):
    kind: Literal["overdue_danger"]
    grades: Annotated[tuple[Literal["major", "general"], ...], Field(min_length=1)] = ("major", "general")
    min_days: Days = 1
    severity_major: Severity | None = None
    FIELDS = EVENT_FIELDS | {"days"}


class Accident(_Rule):
    kind: Literal["accident"]
    window_days: Days = 30
    severity_fatal: Severity | None = None
    FIELDS = frozenset({"event_id", "event_date", "deaths", "injuries"})


class AlarmBurst(_Rule):
    kind: Literal["alarm_burst"]
    min_count: Annotated[int, Field(ge=1, le=100000)] = 3
    window_days: Days = 7
    FIELDS = frozenset({"count", "event_date"})


class _RegionRule(_Rule):
    admin_levels: Annotated[tuple[Code, ...], Field(min_length=1)] = ("province", "city", "county")
    domains: Annotated[tuple[Code, ...], Field(min_length=1)] = ("all",)
    TARGET = "region"

    @model_validator(mode="after")
    def _known_domains(self) -> _RegionRule:
        known = {"all", *(d.code for d in load_catalogue().domains)}
        bad = [d for d in self.domains if d not in known]
        if bad:
            raise ValueError(f"domains: unknown {', '.join(bad)}; use all or one of {', '.join(sorted(known))}")
        return self


class RegionLevelRise(_RegionRule):
    kind: Literal["region_level_rise"]
    severity_to_red: Severity | None = None
    FIELDS = LEVEL_FIELDS


class RegionIndexStreak(_RegionRule):
    kind: Literal["region_index_streak"]
    #: a build keeps the 10 newest snapshots, so a streak can be followed over at most 9 rises
    builds: Annotated[int, Field(ge=1, le=9)] = 3
    min_step: Annotated[float, Field(ge=0.0, le=100.0)] = 0.1
    FIELDS = frozenset({"count", "value_before", "value_after", "before_date"})


class RescueGap(_Rule):
    kind: Literal["rescue_gap"]
    column: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "rescue_minutes"
    max_minutes: Annotated[float, Field(gt=0.0, le=1440.0)] = 15.0
    levels: Annotated[tuple[LevelCode, ...], Field(min_length=1)] = ("red",)
    FIELDS = frozenset({"after", "after_zh", "after_en", "value_after"})


Rule = Annotated[
    LevelRise | MajorDanger | OverdueDanger | Accident | AlarmBurst | RegionLevelRise | RegionIndexStreak | RescueGap,
    Field(discriminator="kind"),
]


class SeverityLabel(_Frozen):
    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]
    color: Color


class AlertRules(_Frozen):
    severities: dict[Severity, SeverityLabel]
    ui: dict[Literal["zh", "en"], dict[str, str]]
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _complete(self) -> AlertRules:
        missing = [s for s in SEVERITIES if s not in self.severities]
        if missing:
            raise ValueError(f"severities: declare all of {', '.join(SEVERITIES)} (missing {', '.join(missing)})")
        if set(self.ui) != set(LANGS) or set(self.ui["zh"]) != set(self.ui["en"]):
            raise ValueError("ui: declare [ui.zh] and [ui.en] with the same keys")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rules: id {rule.id!r} appears twice; a rule id names its prompts, keep it unique")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def active(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def severity_label(self, code: str, lang: str) -> str:
        return str(getattr(self.severities[code], lang))  # type: ignore[index]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_rules(raw: dict[str, Any], source: str) -> AlertRules:
    return configfile.validate(raw, AlertRules, source, AlertRulesInvalid, known_keys="geo/data/alerts.toml")


@functools.lru_cache(maxsize=1)
def _default() -> AlertRules:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> AlertRules:
    return configfile.load(path, AlertRules, "prompt rules file", AlertRulesInvalid, known_keys="geo/data/alerts.toml")


def load_rules(path: Path | str | None = None) -> AlertRules:
    """Load and validate a prompt rules file; the bundled default (cached) when `path` is None."""
    return _default() if path is None else _load(Path(path))
