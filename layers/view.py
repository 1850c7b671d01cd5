"""What a map, a layer or an export shows: the admin level, the domain, the region below which to look and
the language of the labels, passed as one value instead of four parameters."""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import RiskmapError
from layers.styles import Styles

__all__ = ["DEFAULT_VIEW", "MapView", "opening_level"]


def opening_level(boundaries) -> str:
    """The level a map opens on when none is asked for: the provinces when the boundaries hold several (a
    national or multi-province store: the country, drilled down province → city → county), else the counties."""
    provinces = boundaries["admin_level"].eq("province").sum() if "admin_level" in boundaries else 0
    return "province" if provinces > 1 else "county"


@dataclass(frozen=True)
class MapView:
    """``level``: province | city | county; ``domain``: ``all`` or a domain code from styles.toml;
    ``parent``: an adcode to look below (None: everything); ``lang``: zh | en."""

    level: str = "county"
    domain: str = "all"
    parent: str | None = None
    lang: str = "zh"

    def check_domain(self, styles: Styles, error: type[RiskmapError]) -> None:
        """Raise ``error`` unless ``domain`` is ``all`` or one of the domains styles.toml names."""
        if self.domain != "all" and self.domain not in styles.domain_labels:
            raise error(f"--domain {self.domain}: use all or one of {', '.join(styles.domain_labels)}")


DEFAULT_VIEW = MapView()
