"""JSON-friendly scalars out of pandas/numpy cells."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def plain(v: Any) -> Any:
    """None for missing (None, NaN, NA, NaT), a Python scalar for a numpy scalar, anything else unchanged."""
    if v is None or (not isinstance(v, str | list | dict | tuple | np.ndarray) and pd.isna(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v
