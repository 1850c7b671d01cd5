"""Every CSV the project writes goes through `write_csv`: text cells that a spreadsheet would run as a formula
are neutralised first (CSV formula injection, OWASP).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote in front
(``=HYPERLINK(…)`` → ``'=HYPERLINK(…)``): Excel, LibreOffice and Google Sheets then show it as text. Left as
they are:

* numeric columns (ints, floats, dates): a number is never a formula;
* a text cell that is a plain decimal number (``-12.5``, ``+86``, ``-1e3``): a spreadsheet reads it as that
  number, and an escape would turn the number into text;
* everything else: the quote is added, never anything removed, so the file still holds what was stored.

The stored value keeps what was filed; only the written file is escaped. See docs/security.md.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The first characters that make a spreadsheet evaluate a cell (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"


def neutralise_column(values: pd.Series) -> pd.Series:
    """`values` with every text cell that starts a formula prefixed by a single quote (see the module)."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return values
    text = values.astype("str")  # one Arrow-backed pass; a non-text value's text is never escaped (below)
    hit = text.str.contains(_TRIGGER, regex=True).fillna(False).to_numpy(dtype=bool)
    if not hit.any():
        return values
    number = text.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
    rows = np.flatnonzero(hit & ~number)
    cells = values.iloc[rows].tolist()
    texts = [i for i, v in enumerate(cells) if isinstance(v, str)]  # numbers in a column of objects stay
    if not texts:
        return values
    out = values.astype(object).copy()
    out.iloc[rows[texts]] = ["'" + cells[i] for i in texts]
    return out


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names cannot start a formula (numeric columns untouched)."""
    out = pd.DataFrame(frame, copy=False)
    names = neutralise_column(pd.Series([str(c) for c in out.columns], dtype=object))
    if (names.to_numpy() != np.array([str(c) for c in out.columns], dtype=object)).any():
        out = out.set_axis(names.tolist(), axis=1)
    changed = {col: neutralise_column(out[col]) for col in out.columns}
    changed = {col: s for col, s in changed.items() if s is not out[col]}
    if not changed:
        return out
    out = out.copy()
    for col, s in changed.items():
        out[col] = s
    return out


def write_csv(frame: pd.DataFrame, target: Path | str | io.StringIO, **kwargs: Any) -> None:
    """Write `frame` as CSV, neutralised; UTF-8 with a BOM (Excel shows Chinese text) unless `encoding` is
    given; no index. Other keyword arguments go to `DataFrame.to_csv`."""
    kwargs.setdefault("index", False)
    if not isinstance(target, io.StringIO):
        kwargs.setdefault("encoding", "utf-8-sig")
    neutralise(frame).to_csv(target, **kwargs)
