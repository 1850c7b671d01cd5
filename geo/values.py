"""JSON-friendly scalars out of pandas/numpy cells, and text columns as Arrow arrays."""

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


def plain(v: Any) -> Any:
    """None for missing (None, NaN, NA, NaT), a Python scalar for a numpy scalar, anything else unchanged."""
    if v is None or (not isinstance(v, str | list | dict | tuple | np.ndarray) and pd.isna(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v
