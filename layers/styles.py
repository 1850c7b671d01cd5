"""Map styles, declared once as data in `layers/styles.toml` and validated on load.

Level labels (zh/en) and hazard-type labels come from the risk catalogue; level colours default to the
catalogue's and may be overridden in the styles file. Everything that draws (the HTML map, the PNG, the
KML) reads a :class:`Styles` object, never its own constants.

    >>> st = load_styles()
    >>> st.level_color("red"), st.level_label("orange", "en"), st.admin_style("city").width
    ('#FF0000', 'considerable', 2.0)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geo import configfile
from geo.catalogue import LEVELS, Catalogue, load_catalogue
from geo.errors import StylesInvalid

DEFAULT_PATH = Path(__file__).parent / "styles.toml"

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")
ADMIN_LEVELS: tuple[str, ...] = ("country", "province", "city", "county", "finer")
SYMBOLS = ("circle", "triangle", "square", "diamond", "hexagon", "pentagon", "star", "triangle_down")

Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
Positive = Annotated[float, Field(gt=0)]
Opacity = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelOverride(_Model):
    color: Color


class RegionStyle(_Model):
    fill_opacity: Opacity
    fill_opacity_basemap: Opacity
    fill_opacity_points: Opacity
    no_data_color: Color
    context_color: Color
    hover_weight: Positive
    hover_color: Color
    top_units: Annotated[int, Field(ge=0, le=20)]
    top_units_inline: Annotated[int, Field(ge=0, le=20)]


class AdminStyle(_Model):
    width: Positive
    color: Color
    label_size: Positive
    label_min_zoom: Annotated[float, Field(ge=0, le=22)]


class EnterpriseStyle(_Model):
    min_zoom: Annotated[float, Field(ge=0, le=22)]
    radius: Positive
    stroke: Color
    stroke_width: Annotated[float, Field(ge=0)]
    cluster_cell_px: Annotated[int, Field(ge=8, le=512)]
    cluster_min_px: Positive
    cluster_max_px: Positive
    max_features: Annotated[int, Field(ge=10, le=20000)]
    inline_points: Annotated[int, Field(ge=0, le=10000)]
    inline_cluster_zooms: tuple[Annotated[int, Field(ge=0, le=20)], ...]
    inline_cluster_budget: Annotated[int, Field(ge=0, le=50000)]


class HazardSymbol(_Model):
    symbol: Literal[SYMBOLS]  # type: ignore[valid-type]
    size: Positive
    dash: Annotated[str, Field(pattern=r"^(\d+(\.\d+)?( \d+(\.\d+)?)*)?$")]


class HazardStyle(_Model):
    stroke: Color
    line_width: Positive
    polygon_fill_opacity: Opacity
    polygon_width: Positive


class ResourceSymbol(_Model):
    glyph: Annotated[str, Field(min_length=1, max_length=2)]
    color: Color


class ResourceStyle(ResourceSymbol):
    size: Positive
    stroke: Color
    min_zoom: Annotated[float, Field(ge=0.0, le=22.0)]
    page_limit: Annotated[int, Field(ge=0)]
    inline_limit: Annotated[int, Field(ge=0)]


class RescueStyle(_Model):
    band_colors: tuple[Color, ...]
    fill_opacity: Opacity
    raster_m: Annotated[float, Field(ge=50.0, le=5000.0)]
    share_colors: Annotated[tuple[Color, ...], Field(min_length=2)]


class Theme(_Model):
    background: Color
    panel: str
    panel_text: Color
    accent: Color
    label_color: Color
    label_halo: Color
    font: str


class PrintStyle(_Model):
    width_in: Positive
    height_in: Positive
    dpi: Annotated[int, Field(ge=72, le=1200)]
    background: Color
    sea: Color
    outline: Color
    fonts: tuple[str, ...]


class WebGeometry(_Model):
    tolerance_deg: Annotated[float, Field(ge=0, le=0.1)]
    precision_deg: Annotated[float, Field(gt=0, le=0.01)]


class Basemap(_Model):
    """An XYZ tile basemap. ``crs`` says which system its tiles are drawn in: overlays follow it."""

    url: Annotated[str, Field(min_length=8)]
    subdomains: str = ""
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    attribution: str = ""
    max_zoom: Annotated[int, Field(ge=1, le=22)] = 18
    key: str = ""

    def tile_url(self) -> str:
        """The URL template with the key filled in (`{tk}` or `{key}`)."""
        return self.url.replace("{tk}", self.key).replace("{key}", self.key)


class LevelStyle(_Model):
    code: str
    rank: int
    color: Color
    zh: str
    en: str


class Styles(_Model):
    """The validated styles. Build it with :func:`load_styles`."""

    levels: dict[str, LevelOverride] = Field(default_factory=dict)
    regions: RegionStyle
    admin: dict[str, AdminStyle]
    enterprises: EnterpriseStyle
    hazards: dict[str, HazardSymbol]
    hazard_style: HazardStyle
    resources: dict[str, ResourceSymbol] = Field(default_factory=dict)
    resource_style: ResourceStyle
    rescue: RescueStyle
    theme: Theme
    print: PrintStyle
    web: WebGeometry
    basemaps: dict[str, Basemap] = Field(default_factory=dict)
    text: dict[str, dict[str, str]]
    # Filled from the catalogue on load (not read from the file).
    resolved_levels: tuple[LevelStyle, ...] = ()
    hazard_labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    domain_labels: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Styles:
        unknown = set(self.levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"levels: unknown level(s) {sorted(unknown)}; the four codes are {', '.join(LEVELS)}")
        missing = set(ADMIN_LEVELS) - set(self.admin)
        if missing or set(self.admin) - set(ADMIN_LEVELS):
            raise ValueError(f"admin: declare exactly {', '.join(ADMIN_LEVELS)} (missing {sorted(missing)})")
        if set(self.text) != set(LANGS):
            raise ValueError(f"text: declare exactly [text.zh] and [text.en] (found {sorted(self.text)})")
        zh, en = set(self.text["zh"]), set(self.text["en"])
        if zh != en:
            raise ValueError(f"text: zh and en must have the same keys; differ in {sorted(zh ^ en)}")
        if self.enterprises.cluster_min_px > self.enterprises.cluster_max_px:
            raise ValueError("enterprises: cluster_min_px must not exceed cluster_max_px")
        return self

    # --- lookups ----------------------------------------------------------------------------------------
    def resource_symbol(self, kind: object) -> ResourceSymbol:
        """The marker of a resource kind (the default marker for a kind without one)."""
        return self.resources.get(kind, self.resource_style) if isinstance(kind, str) else self.resource_style

    def band_color(self, i: int) -> str:
        """The colour of the i-th band of rescue minutes (the last colour past the declared ones)."""
        colors = self.rescue.band_colors
        return colors[min(i, len(colors) - 1)]

    def share_color(self, share: float | None) -> str:
        """The choropleth colour of a coverage share 0–1 (no data: the regions' no-data colour)."""
        if share is None or share != share:
            return self.regions.no_data_color
        colors = self.rescue.share_colors
        return colors[min(int(share * len(colors)), len(colors) - 1)]

    def level(self, code: str) -> LevelStyle:
        for lv in self.resolved_levels:
            if lv.code == code:
                return lv
        raise KeyError(f"unknown risk level {code!r}; use one of {', '.join(LEVELS)}")

    def level_color(self, code: str) -> str:
        return self.level(code).color

    def level_label(self, code: str, lang: str = "zh") -> str:
        lv = self.level(code)
        return lv.en if _lang(lang) == "en" else lv.zh

    def admin_style(self, admin_level: str) -> AdminStyle:
        return self.admin.get(admin_level) or self.admin["finer"]

    def hazard_symbol(self, hazard_type: str) -> HazardSymbol:
        return self.hazards.get(hazard_type) or HazardSymbol(symbol="circle", size=12, dash="")

    def hazard_label(self, hazard_type: str, lang: str = "zh") -> str:
        return self.hazard_labels.get(hazard_type, {}).get(_lang(lang), hazard_type)

    def domain_label(self, domain: str, lang: str = "zh") -> str:
        if domain == "all":
            return self.t("all_domains", lang)
        return self.domain_labels.get(domain, {}).get(_lang(lang), domain)

    def t(self, key: str, lang: str = "zh") -> str:
        """A user-interface string."""
        return self.text[_lang(lang)][key]

    def basemap(self, spec: str | Basemap | dict[str, Any] | None, key: str = "") -> Basemap | None:
        """Resolve a basemap: None, a preset name ('tianditu', 'amap', ...), an XYZ URL, or a dict/Basemap.

        A bare URL is taken as a WGS84 basemap; prefix it with ``gcj02:`` for a GCJ-02 tile server.
        """
        if spec is None or isinstance(spec, Basemap):
            return spec
        if isinstance(spec, dict):
            return Basemap.model_validate(spec)
        text = spec.strip()
        if text in self.basemaps:
            return self.basemaps[text].model_copy(update={"key": key} if key else {})
        crs = "wgs84"
        for prefix in ("gcj02:", "wgs84:"):
            if text.lower().startswith(prefix):
                crs, text = prefix[:-1], text[len(prefix) :]
        if "{z}" in text and "{x}" in text and ("{y}" in text or "{-y}" in text):
            return Basemap(url=text, crs=crs, key=key)  # type: ignore[arg-type]
        raise StylesInvalid(
            f"basemap {spec!r}: not a preset ({', '.join(self.basemaps)}) nor an XYZ URL with {{z}}, {{x}}, {{y}}; "
            "e.g. --basemap 'https://tiles.intranet/{z}/{x}/{y}.png' or 'gcj02:https://…/{z}/{x}/{y}.png'"
        )

    def to_client(self, lang: str) -> dict[str, Any]:
        """The subset of styles the map page's JavaScript needs (plain JSON)."""
        return {
            "levels": [
                {"code": lv.code, "color": lv.color, "label": lv.en if lang == "en" else lv.zh}
                for lv in self.resolved_levels
            ],
            "regions": self.regions.model_dump(),
            "admin": {k: v.model_dump() for k, v in self.admin.items()},
            "enterprises": self.enterprises.model_dump(),
            "hazards": {
                code: {**sym.model_dump(), "label": self.hazard_label(code, lang)} for code, sym in self.hazards.items()
            },
            "hazard_style": self.hazard_style.model_dump(),
            "theme": self.theme.model_dump(),
        }


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise StylesInvalid(f"language {lang!r}: use zh or en")
    return lang


def _resolve(raw: dict[str, Any], cat: Catalogue) -> dict[str, Any]:
    overrides = raw.get("levels") or {}
    resolved = []
    for lv in cat.levels:
        color = (overrides.get(lv.code) or {}).get("color", lv.color) if isinstance(overrides, dict) else lv.color
        resolved.append({"code": lv.code, "rank": lv.rank, "color": color, "zh": lv.zh, "en": lv.en})
    return {
        **raw,
        "resolved_levels": resolved,
        "hazard_labels": {h.code: {"zh": h.zh, "en": h.en} for h in cat.hazard_types},
        "domain_labels": {d.code: {"zh": d.zh, "en": d.en} for d in cat.domains},
    }


def _check_hazards(styles: Styles, cat: Catalogue) -> None:
    known = {h.code for h in cat.hazard_types}
    unknown = set(styles.hazards) - known
    if unknown:
        raise StylesInvalid(f"hazards: unknown hazard type(s) {sorted(unknown)}; the catalogue has {sorted(known)}")
    missing = known - set(styles.hazards)
    if missing:
        raise StylesInvalid(f"hazards: no symbol for {sorted(missing)}; add a [hazards.<type>] table for each")


def parse_styles(raw: dict[str, Any], *, source: str = "styles", catalogue: Catalogue | None = None) -> Styles:
    """Validate a styles mapping (as read from TOML). Raises :class:`StylesInvalid` naming the bad key."""
    cat = catalogue or load_catalogue()
    for key in ("resolved_levels", "hazard_labels", "domain_labels"):
        if key in raw:
            raise StylesInvalid(f"{source}: {key!r} is filled from the catalogue; remove it from the file")
    styles = configfile.validate(_resolve(raw, cat), Styles, source, StylesInvalid, known_keys="layers/styles.toml")
    _check_hazards(styles, cat)
    return styles


def _read(path: Path) -> dict[str, Any]:
    return configfile.read_toml(path, "styles file", StylesInvalid)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@functools.lru_cache(maxsize=8)
def _load_cached(path: str | None) -> Styles:
    raw = _read(DEFAULT_PATH)
    source = str(DEFAULT_PATH)
    if path is not None:
        raw = _merge(raw, _read(Path(path)))
        source = f"{path} (over {DEFAULT_PATH.name})"
    return parse_styles(raw, source=source)


def load_styles(path: Path | str | None = None) -> Styles:
    """The bundled styles, or the bundled styles overlaid with the tables of ``path`` (a partial TOML file:
    e.g. only ``[levels.yellow] color = "#FFD700"``). Cached per path."""
    return _load_cached(None if path is None else str(Path(path).resolve()))
