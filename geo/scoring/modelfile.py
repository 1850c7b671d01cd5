"""Writing a scoring model back to TOML: the base model's own file with the changed numbers put in place
(comments and layout kept), or, when that cannot be done faithfully, the whole model emitted afresh.

`render(model, base_text, header)` returns text that `load_model` reads back into exactly `model` (checked
before it is returned: the same `to_dict()`, hence the same fingerprint); `header` (comment lines) goes on
top. Only what `riskmap calibrate` changes is patched in place: `version`, the values of `[region.k]` and
`[region.domain_factor]`, each rule's `min_count`, and the `[calibration]` tables (replaced as a whole). A
base file laid out otherwise (dotted keys, a table split in two, ...) is emitted afresh with `dumps`.

    >>> print(dumps({"name": "m", "region": {"k": {"county": 250.0}}}), end="")
    name = "m"
    <BLANKLINE>
    [region.k]
    county = 250.0
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from typing import Any

from geo.errors import ModelInvalid
from geo.scoring.model import ScoringModel

__all__ = ["dumps", "render"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)(.*)$")


# --------------------------------------------------------------------------------------------------
# Emitting TOML from plain data
# --------------------------------------------------------------------------------------------------
def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    """A TOML value: strings, booleans, integers, finite floats, arrays and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, dict) for v in value)


#: tables whose sub-tables are written inline, one line each (`county = { red = 0.1, ... }`)
INLINE_CHILDREN = frozenset({("calibration", "targets")})


def _table(path: list[str], data: dict[str, Any], out: list[str], header: str | None) -> None:
    inline = tuple(path) in INLINE_CHILDREN
    plain = {
        k: v
        for k, v in data.items()
        if v is not None and (inline or not isinstance(v, dict)) and not _is_table_array(v)
    }
    if header is not None and (plain or not any(isinstance(v, dict) or _is_table_array(v) for v in data.values())):
        out += ["", header]
    out += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for k, v in data.items():
        if isinstance(v, dict) and not inline:
            sub = [*path, k]
            _table(sub, v, out, "[" + ".".join(_key(p) for p in sub) + "]")
    for k, v in data.items():
        if _is_table_array(v):
            name = ".".join(_key(p) for p in [*path, k])
            for item in v:
                out += ["", f"[[{name}]]"]
                out += [f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items() if iv is not None]


def dumps(data: dict[str, Any]) -> str:
    """`data` (str, bool, int, float, list, dict; None values left out) as TOML text. Nested dicts become
    tables, lists of dicts arrays of tables (dicts inside those: inline tables)."""
    out: list[str] = []
    _table([], data, out, None)
    while out and out[0] == "":
        out.pop(0)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# Patching the base file
# --------------------------------------------------------------------------------------------------
def _value_end(text: str) -> int:
    """Where the value at the start of `text` ends (a string, an inline table or array, or a bare token)."""
    if text.startswith('"'):
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        raise ValueError("unterminated string")
    if text[:1] in ("{", "["):
        close = "}" if text[0] == "{" else "]"
        depth = 0
        for i, ch in enumerate(text):
            if ch == text[0]:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    return i + 1
            elif ch == '"':
                raise ValueError("strings inside an inline value are not patched")
        raise ValueError("value continues on the next line")
    m = re.match(r"[^\s#]+", text)
    if not m:
        raise ValueError("no value")
    return m.end()


def _replace_value(line: str, new: str) -> str:
    """`line` (key = value  # comment) with its value replaced; the comment keeps its column when it can."""
    m = _KEY_LINE.match(line)
    if not m:
        raise ValueError(f"not a key line: {line!r}")
    rest = m.group(4)
    end = _value_end(rest)
    tail = rest[end:]
    if tail.strip().startswith("#"):
        gap = len(tail) - len(tail.lstrip())
        tail = " " * max(1, gap + (end - len(new))) + tail.lstrip()
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{new}{tail}"


def _wanted(model: ScoringModel) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The values to put in: (table, key) → TOML value, and each rule's min_count in order."""
    data = model.to_dict()
    region = data["region"]
    want: dict[tuple[str, str], str] = {("", "version"): _value(data["version"])}
    for table in ("k", "domain_factor"):
        for key, val in region[table].items():
            want[(f"region.{table}", key)] = _value(val)
    return want, [_value(r["min_count"]) for r in region["rules"]]


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _patch_lines(lines: list[str], want: dict[tuple[str, str], str], rules: list[str]) -> list[str]:
    """`lines` with the wanted values put in place, the `[calibration]` tables (and the comments just above
    them) left out, and keys the base lacks added after the last key of their table."""
    out: list[str] = []
    table, rule_no, skipping = "", -1, False
    last_key_at: dict[str, int] = {}  # table → index in `out` of its last key line
    done: set[tuple[str, str]] = set()
    for line in lines:
        h = None if line.lstrip().startswith("#") else _HEADER.match(line)
        if h:
            table, was_skipping = h.group(2).strip(), skipping
            skipping = table == "calibration" or table.startswith("calibration.")
            rule_no += h.group(1) == "[[" and table == "region.rules"
            while skipping and not was_skipping and out and _is_comment_or_blank(out[-1]):
                out.pop()  # the comments above the old [calibration] go with it
        m = None if h or _is_comment_or_blank(line) else _KEY_LINE.match(line)
        if skipping:
            continue
        if m and (table, m.group(2)) in want:
            if (table, m.group(2)) in done:
                raise ValueError(f"{table}.{m.group(2)} appears twice")
            line = _replace_value(line, want[(table, m.group(2))])
            done.add((table, m.group(2)))
        elif m and table == "region.rules" and m.group(2) == "min_count":
            line = _replace_value(line, rules[rule_no])
        if m and table in ("region.k", "region.domain_factor"):
            last_key_at[table] = len(out)
        out.append(line)
    inserts: dict[int, list[str]] = {}
    for table, key in sorted(set(want) - done):  # an admin level or domain the base had no entry for
        inserts.setdefault(last_key_at[table], []).append(f"{_key(key)} = {want[(table, key)]}")
    return [x for i, line in enumerate(out) for x in (line, *inserts.get(i, []))]


def _patch(base_text: str, model: ScoringModel) -> str:
    """The base text with what calibrate changes put in (see the module); raises ValueError or KeyError when
    the base is laid out otherwise than expected."""
    want, rules = _wanted(model)
    patched = _patch_lines(base_text.splitlines(), want, rules)
    while patched and not patched[-1].strip():
        patched.pop()
    text = "\n".join(patched) + "\n"
    calibration = model.to_dict().get("calibration")
    return text + ("\n" + _calibration_text(calibration) if calibration is not None else "")


def _calibration_text(calibration: dict[str, Any]) -> str:
    head = (
        "# --- calibration (riskmap calibrate; docs/scoring.md §5) ---------------------------------------------\n"
        "# What the regional constants were fitted on, the targets calibrate aims at, and (after a calibration)\n"
        "# when, on what census and from which base model they were fitted.\n"
    )
    return head + dumps({"calibration": calibration})


# --------------------------------------------------------------------------------------------------
# Public
# --------------------------------------------------------------------------------------------------
def _reads_back(text: str, model: ScoringModel) -> bool:
    try:
        again = ScoringModel.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError):
        return False
    return again.to_dict() == model.to_dict()


def render(model: ScoringModel, base_text: str | None = None, header: str = "") -> str:
    """`model` as TOML text: `base_text` (the file the model was derived from) patched when possible, else
    emitted afresh; `header` (lines without the leading "# ") on top. Raises `ModelInvalid` if the text would
    not read back as `model` (a bug, never expected)."""
    top = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = None
    if base_text is not None:
        try:
            patched = _patch(base_text, model)
        except (ValueError, IndexError, KeyError):
            patched = None
        if patched is not None and _reads_back(patched, model):
            body = patched
    if body is None:
        data = model.to_dict()
        calibration = data.pop("calibration", None)
        body = dumps(data) + ("\n" + _calibration_text(calibration) if calibration is not None else "")
    text = top + ("\n" if top else "") + body
    if not _reads_back(text, model):
        raise ModelInvalid("the model file written would not read back as the model; please report this")
    return text
