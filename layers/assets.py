"""Front-end assets, all from installed packages: nothing is ever fetched from a CDN.

* Leaflet 1.9.4 comes from the ``django-js-lib-leaflet`` wheel (Leaflet repackaged on PyPI, no
  dependencies): ``js_lib_leaflet/static/js_lib_leaflet/{leaflet.js, leaflet.css, images/*}``. It is located
  with importlib without importing the package (its ``apps.py`` would want Django).
* The map application (``riskmap.js``, ``riskmap.css``) lives in ``layers/static/``.

A served page links them under ``{asset_base}/leaflet/…`` and ``{asset_base}/riskmap/…``: the service
mounts :func:`static_dirs`. A saved page inlines them (:func:`inline_css`, :func:`inline_js`), with the
images Leaflet's CSS refers to turned into data: URIs.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import re
from pathlib import Path

from geo.errors import AssetMissing

__all__ = [
    "AssetMissing",
    "asset_text",
    "inline_css",
    "inline_js",
    "leaflet_dir",
    "leaflet_inline_css",
    "leaflet_inline_js",
    "static_dirs",
]

RISKMAP_DIR = Path(__file__).parent / "static"
LEAFLET_VERSION = "1.9.4"


@functools.lru_cache(maxsize=1)
def leaflet_dir() -> Path:
    """The directory holding leaflet.js, leaflet.css and images/ (from the django-js-lib-leaflet wheel)."""
    spec = importlib.util.find_spec("js_lib_leaflet")
    if spec is None or not spec.submodule_search_locations:
        raise AssetMissing(
            "Leaflet is not installed: pip install django-js-lib-leaflet (PyPI's Leaflet 1.9.4, no dependencies)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "js_lib_leaflet"
    if not (path / "leaflet.js").is_file():
        raise AssetMissing(f"{path}/leaflet.js is missing; reinstall django-js-lib-leaflet")
    return path


def static_dirs() -> dict[str, Path]:
    """URL prefix (under the asset base) → directory to serve: ``leaflet`` and ``riskmap``."""
    return {"leaflet": leaflet_dir(), "riskmap": RISKMAP_DIR}


@functools.lru_cache(maxsize=16)
def asset_text(prefix: str, name: str) -> str:
    path = static_dirs()[prefix] / name
    if not path.is_file():
        raise AssetMissing(f"asset {prefix}/{name} not found at {path}")
    return path.read_text(encoding="utf-8")


_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")


def _data_uri(match: re.Match) -> str:
    path = leaflet_dir() / match.group(2)
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"url(data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')})"


def _no_closing_tag(text: str, tag: str) -> str:
    """Make sure inlined text cannot close its <script>/<style> element early."""
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def leaflet_inline_js() -> str:
    """Leaflet alone, ready to sit inside a <script> element (no source-map comment)."""
    return _no_closing_tag(_SOURCE_MAP.sub("", asset_text("leaflet", "leaflet.js")), "script")


@functools.lru_cache(maxsize=1)
def leaflet_inline_css() -> str:
    """Leaflet's CSS alone (images as data: URIs; the old-IE VML behaviour rule dropped), for a <style> element."""
    leaflet = _CSS_URL.sub(_data_uri, asset_text("leaflet", "leaflet.css"))
    return _no_closing_tag(re.sub(r"behavior:\s*url\(#default#VML\);?", "", leaflet), "style")


@functools.lru_cache(maxsize=4)
def inline_js() -> str:
    """Leaflet and the map script, ready to sit inside one <script> element (no source-map comments)."""
    return (
        leaflet_inline_js()
        + "\n;\n"
        + _no_closing_tag(
            "\n;\n".join(asset_text("riskmap", name) for name in ("riskmap.js", "response.js", "alerts.js")), "script"
        )
    )  # response.js: resources and the rescue circle; alerts.js: the prompts panel; both over window.riskmap


@functools.lru_cache(maxsize=4)
def inline_css() -> str:
    """Leaflet's CSS (images as data: URIs; the old-IE VML behaviour rule dropped) and the map's CSS."""
    return leaflet_inline_css() + "\n" + _no_closing_tag(asset_text("riskmap", "riskmap.css"), "style")
