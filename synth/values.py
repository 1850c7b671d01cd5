"""Column values shared by the generators: random picks and columns with missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> np.ndarray:
    """n uniform picks among options (object array)."""
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def masked_int(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    """Nullable Int64 column: values where keep, empty elsewhere."""
    return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~np.asarray(keep, dtype=bool))


def masked_object(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Object column: values where keep, None (empty) elsewhere."""
    out = np.full(len(values), None, dtype=object)
    out[keep] = values[keep]
    return out
