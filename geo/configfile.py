"""Reading and validating the TOML files riskmap is configured with, in one place.

Six files, each declared once and validated on load into frozen pydantic models:

| file | model | read by |
|---|---|---|
| `geo/data/catalogue.toml` | `geo.catalogue.Catalogue` | `load_catalogue()` |
| `geo/data/model.toml` | `geo.scoring.model.ScoringModel` | `load_model()` |
| `geo/data/fields.toml` | `geo.fields.ContractFile` | `load_contract()` |
| `layers/styles.toml` | `layers.styles.Styles` | `load_styles()` |
| `layers/fields.toml` | `layers.export.ExportFieldsFile` | `export_fields()` |
| `geo/data/response.toml` | `geo.response.config.ResponseConfig` | `load_response()` |

A bad file raises the given error naming the file, the key path (with the ``id`` or ``code`` of the list
entry it is in) and what is wrong.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from geo.errors import ModelInvalid, RiskmapError

M = TypeVar("M", bound=BaseModel)

#: what to say for a pattern mismatch of a key with this name
PATTERN_HINTS = {
    "color": "write colours as #RRGGBB, e.g. #FF8C00",
    "code": "codes are lower-case ascii letters, digits and _, starting with a letter",
    "domain": "name a domain by its code",
    "[key]": "keys are codes: lower-case ascii letters, digits and _, starting with a letter",
}


def read_toml(path: Path, what: str, error: type[RiskmapError] = ModelInvalid) -> dict[str, Any]:
    """The parsed file; a missing or malformed one raises `error` naming `what` ("scoring model file") and why."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist; pass an existing TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from exc


def validate(
    raw: dict[str, Any],
    model: type[M],
    source: str,
    error: type[RiskmapError] = ModelInvalid,
    known_keys: str | None = None,
) -> M:
    """`raw` validated as `model`; on failure `error` with "<source> is invalid: <key path>: <why>; ...".
    `known_keys` names the file that lists the known keys (said for a misspelt key)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{source} is invalid: {describe(exc, raw, known_keys)}") from exc
    except ValueError as exc:  # raised after validation, e.g. from model_post_init
        raise error(f"{source} is invalid: {exc}") from exc


def load(
    path: Path, model: type[M], what: str, error: type[RiskmapError] = ModelInvalid, known_keys: str | None = None
) -> M:
    """Read the TOML file at `path` and validate it as `model` (see `read_toml` and `validate`)."""
    return validate(read_toml(path, what, error), model, f"{what} {path}", error, known_keys)


def key_path(loc: tuple[Any, ...], raw: Any) -> str:
    """'region.rules[1] (id 'many_red').min_count' from a pydantic location and the data it was found in."""
    parts: list[str] = []
    node: Any = raw
    for p in loc:
        if isinstance(p, int):
            label = f"[{p}]"
            try:
                node = node[p]
            except (IndexError, KeyError, TypeError):
                node = None
            for name in ("id", "code", "name"):
                if isinstance(node, dict) and name in node:
                    label += f" ({name} {node[name]!r})"
                    break
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return "".join(parts)


def describe(exc: ValidationError, raw: dict[str, Any], known_keys: str | None = None) -> str:
    """One clause per pydantic error: the key path and what is wrong with it."""
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        where = key_path(loc, raw)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        kind = err.get("type")
        if kind in ("value_error", "assertion_error"):
            lines.append(f"{where}: {msg}" if where else msg)
        elif kind == "extra_forbidden":
            see = f"; see {known_keys} for the known keys" if known_keys else ""
            lines.append(f"{where}: unknown key (misspelt?{see})")
        elif kind == "missing":
            lines.append(f"{where}: missing (required)")
        else:
            hint = PATTERN_HINTS.get(str(loc[-1])) if loc and kind == "string_pattern_mismatch" else None
            text = f"{where or '(top level)'}: {msg} (got {err.get('input')!r})"
            lines.append(text + (f"; {hint}" if hint else ""))
    return "; ".join(lines)
