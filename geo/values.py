"""JSON-friendly scalars out of pandas/numpy cells, and text columns as Arrow arrays (rows picked, looked up)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def arrow_text(values: Any):
    """`values` (a Series, array or list) as an Arrow large_string array, missing as null, without a copy
    for Arrow-backed text; None when the values are not text (numbers, mixed types)."""
    import pyarrow as pa

    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.large_string())
    return None


def text_of(words: Any, codes: np.ndarray) -> pd.Series:
    """``words[codes]`` as a text column (pandas' Arrow-backed ``str``; a None or NaN word is missing), built by one
    Arrow take from the few words: no Python string per row, and no type inference over a million objects
    when it joins a frame (an object array of strings costs ~0.1 s a column there)."""
    import pyarrow as pa

    arr = pa.array(list(words), type=pa.large_string(), from_pandas=True)  # NaN words: missing too
    arr = arr.take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.Series(arr.to_pandas().array, dtype="str")


def text_of_words(values: np.ndarray, words: tuple[str, ...]) -> pd.Series:
    """A fixed-width string array holding only `words` (compared at array speed) as a text column
    (`text_of`); a value that is none of them reads as the first word."""
    codes = np.zeros(len(values), dtype=np.int64)
    for i, word in enumerate(words[1:], start=1):
        codes[values == word] = i
    return text_of(words, codes)


def plain(v: Any) -> Any:
    """None for missing (None, NaN, NA, NaT), a Python scalar for a numpy scalar, anything else unchanged."""
    if v is None or (not isinstance(v, str | list | dict | tuple | np.ndarray) and pd.isna(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _arrow(values: Any):
    """The Arrow chunked array behind an Arrow-backed Series or array (no copy), else None."""
    return getattr(getattr(values, "array", values), "_pa_array", None)


def take(values: pd.Series, pos: np.ndarray) -> np.ndarray:
    """``values.iloc[pos]`` as a numpy array (object for text, missing as None or NaN). An Arrow column read
    from Parquet comes in several chunks, and Arrow's take over chunks first joins them (a copy of the whole
    column): here each chunk gives its own rows, so picking a few thousand rows of a million costs a few
    thousand, not a million."""
    pos = np.asarray(pos, dtype=np.int64)
    chunked = _arrow(values)
    if chunked is None or chunked.num_chunks < 2:
        return values.iloc[pos].to_numpy()
    import pyarrow as pa

    order = np.argsort(pos, kind="stable")
    ordered = pos[order]
    offsets = np.cumsum([0, *(len(c) for c in chunked.chunks)])
    bounds = np.searchsorted(ordered, offsets)  # rows of each chunk within the ordered positions
    parts = [
        chunk.take(pa.array(ordered[lo:hi] - start))
        for chunk, start, lo, hi in zip(chunked.chunks, offsets[:-1], bounds[:-1], bounds[1:], strict=True)
        if hi > lo
    ]
    picked = pa.concat_arrays(parts) if parts else pa.array([], type=chunked.type)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return picked.take(pa.array(back)).to_numpy(zero_copy_only=False)


def positions(values: Any, keys: Any) -> np.ndarray:
    """Row of each of `values` in `keys` (-1 where absent; the first row of a key given twice). Text on both
    sides: one Arrow hash lookup of the keys among the distinct values (the small side), inverted."""
    import pyarrow.compute as pc

    codes, uniques = pd.factorize(values if isinstance(values, pd.Series) else pd.Series(values, dtype=object))
    if not len(uniques):
        return np.full(len(codes), -1, dtype=np.int64)
    value_set, probe = arrow_text(uniques), arrow_text(keys)
    if value_set is None or probe is None:  # not text on both sides: pandas equality semantics
        return pd.Index(keys).get_indexer(values)
    where = pc.index_in(probe, value_set=value_set).fill_null(-1).to_numpy().astype(np.int64)
    rows = np.flatnonzero(where >= 0)[::-1]  # reversed: the first row of a repeated key is written last
    row_of = np.full(len(uniques) + 1, -1, dtype=np.int64)  # slot -1: a missing value
    row_of[where[rows]] = rows
    return row_of[codes]


def member(values: Any, keys: Any) -> np.ndarray:
    """Which of `values` are among `keys` (a boolean array): Arrow's hash lookup for text."""
    import pyarrow.compute as pc

    probe, value_set = arrow_text(values), arrow_text(keys)
    if probe is None or value_set is None:
        return pd.Series(values).isin(pd.Series(keys)).to_numpy(dtype=bool)
    return pc.is_in(probe, value_set=value_set).to_numpy(zero_copy_only=False).astype(bool)


class Picker:
    """Columns of a table kept as they were read (Arrow, each in one chunk), turned into Python values only
    for the rows asked for. Holding a million-row text column as a numpy object array costs a Python string per
    row, made while the service loads a snapshot (~0.1 s a column, all of it holding the GIL, so every request
    waits); here building costs a chunk join and a page of 100 rows ~20 µs a column."""

    def __init__(self, frame: pd.DataFrame, names: tuple[str, ...] | list[str], keep: np.ndarray | None = None):
        import pyarrow as pa

        self.n = len(frame) if keep is None else len(keep)
        self._cols: dict[str, Any] = {}
        for name in names:
            if name not in frame.columns:
                continue
            chunked = _arrow(frame[name])
            arr = chunked.combine_chunks() if chunked is not None else pa.array(frame[name], from_pandas=True)
            self._cols[name] = arr if keep is None else arr.take(pa.array(np.asarray(keep, dtype=np.int64)))

    @classmethod
    def of_arrays(cls, arrays: dict[str, Any], n: int) -> Picker:
        """A Picker over Arrow arrays already made (a few rows read from the database)."""
        picker = cls(pd.DataFrame(), ())
        picker.n, picker._cols = n, dict(arrays)
        return picker

    def __contains__(self, name: str) -> bool:
        return name in self._cols

    @property
    def names(self) -> list[str]:
        """The columns held, in the order asked for."""
        return list(self._cols)

    def pick(self, name: str, rows: np.ndarray) -> list[Any]:
        """The values of `rows` (positions) in column `name` as Python values (None for missing, and for every
        row of a column the table does not have)."""
        import pyarrow as pa

        arr = self._cols.get(name)
        if arr is None:
            return [None] * len(rows)
        values = arr.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()
        return [None if isinstance(v, float) and v != v else v for v in values]  # NaN read from numpy: missing
