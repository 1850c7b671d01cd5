"""Reading the TOML files riskmap is configured with (catalogue, scoring model, map styles)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from geo.errors import ModelInvalid, RiskmapError


def read_toml(path: Path, what: str, error: type[RiskmapError] = ModelInvalid) -> dict[str, Any]:
    """The parsed file; a missing or malformed one raises `error` naming `what` ("scoring model file") and why."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist; pass an existing TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from exc
