"""Values that parse but are unlikely (outside a field's declared `plausible` range), and control characters:
warnings, never rejections. The row is stored; the report says which value to check.

Control characters (C0, except tab, line feed and carriage return) are removed from text, with a warning naming
them: XML (KML, GeoPackage metadata) cannot hold them and GDAL's C strings end at a NUL, so an export would
lose or cut the value further on. Everything else in the value is kept as filed.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.fields import Contract, Field, Plausible
from geo.ingest.report import Report

#: C0 control characters a text value loses (tab, LF and CR are kept: they are ordinary text).
CONTROL_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f]"


def remove_control_characters(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """`frame` without control characters, and for each column that had some, the rows that did."""
    import pyarrow.compute as pc

    found: dict[str, np.ndarray] = {}
    cleaned: dict[str, pd.Series] = {}
    for col in frame.columns:
        arr = pa.array(frame[col], from_pandas=True)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            continue
        if not _any_control_byte(arr):
            continue
        hit = pc.match_substring_regex(arr, CONTROL_CHARACTERS).fill_null(False).to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        found[col] = hit
        out = pc.replace_substring_regex(arr, CONTROL_CHARACTERS, "")
        cleaned[col] = pd.Series(out.to_pandas().array, index=frame.index, name=col).astype("str")
    if not cleaned:
        return frame, found
    frame = frame.copy()
    for col, series in cleaned.items():
        frame[col] = series
    return frame, found


_CONTROL_BYTES = np.zeros(256, dtype=bool)
_CONTROL_BYTES[[*range(0, 9), 11, 12, *range(14, 32)]] = True


def _any_control_byte(arr: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value holds a control character: one pass over the string bytes (no UTF-8 character has a
    byte below 0x20 except these characters themselves), before the slower per-value regex."""
    chunks = arr.chunks if hasattr(arr, "chunks") else [arr]
    for chunk in chunks:
        if len(chunk) == 0 or chunk.buffers()[2] is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        if np.any(data < 32) and _CONTROL_BYTES[data[data < 32]].any():
            return True
    return False


def warn_control_characters(
    rep: Report, found: dict[str, np.ndarray], original: pd.DataFrame, names: dict[str, str]
) -> None:
    """A warning per value that lost control characters, naming them (`names`: column -> field name)."""
    for col, hit in found.items():
        reasons = np.empty(len(hit), dtype=object)
        reasons[hit] = [_control_reason(v) for v in original[col].to_numpy(dtype=object)[hit]]
        rep.warn(hit, names.get(col, col), reasons)


def _control_reason(value: str) -> str:
    chars = sorted({c for c in value if ord(c) < 32 and c not in "\t\n\r"})
    codes = ", ".join(f"U+{ord(c):04X}" for c in chars)
    return f"control character(s) {codes} removed (they cannot be exported); the rest of the value is kept"


def warn_implausible(values: pd.DataFrame, contract: Contract, rep: Report, today: date | None = None) -> None:
    """A warning for each parsed value outside its field's `plausible` range (the value is stored as it is)."""
    today = today or date.today()
    for f in contract.fields:
        if f.plausible is None or f.name not in values:
            continue
        column = values[f.name]
        if f.type == "date":
            _warn_dates(column, f, f.plausible, rep, today)
        else:
            _warn_numbers(column, f, f.plausible, rep)


def _warn_numbers(column: pd.Series, f: Field, rng: Plausible, rep: Report) -> None:
    numbers = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    low = float(rng.min) if isinstance(rng.min, int | float) else -np.inf
    high = float(rng.max) if isinstance(rng.max, int | float) else np.inf
    out = np.isfinite(numbers) & ((numbers < low) | (numbers > high))
    if not out.any():
        return
    if np.isfinite(low) and np.isfinite(high):
        span = f"between {_num(low)} and {_num(high)}"
    else:
        span = f"at most {_num(high)}" if np.isfinite(high) else f"at least {_num(low)}"
    reasons = np.empty(len(numbers), dtype=object)
    reasons[out] = [f"{_num(v)} is implausible (expected {span}); stored as filed, check it" for v in numbers[out]]
    rep.warn(out, f.name, reasons)


def _warn_dates(column: pd.Series, f: Field, rng: Plausible, rep: Report, today: date) -> None:
    stamps = pd.to_datetime(column, errors="coerce")
    low = pd.Timestamp(rng.min) if isinstance(rng.min, date) else None
    high = pd.Timestamp(today if rng.max == "today" else rng.max) if rng.max is not None else None
    early = (stamps < low).fillna(False).to_numpy(dtype=bool) if low is not None else np.zeros(len(stamps), bool)
    late = (stamps > high).fillna(False).to_numpy(dtype=bool) if high is not None else np.zeros(len(stamps), bool)
    if not (early.any() or late.any()):
        return
    shown = stamps.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value="")
    reasons = np.empty(len(stamps), dtype=object)
    if low is not None:
        reasons[early] = [f"{d} is before {low:%Y-%m-%d}; stored as filed, check it" for d in shown[early]]
    if high is not None:
        after = "today" if rng.max == "today" else f"{high:%Y-%m-%d}"
        reasons[late] = [f"{d} is after {after} ({high:%Y-%m-%d}); stored as filed, check it" for d in shown[late]]
    rep.warn(early | late, f.name, reasons)


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"
