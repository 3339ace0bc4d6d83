"""How figures are written in the report's tables and the pictures' titles."""

from __future__ import annotations

import numpy as np

__all__ = ["cost", "number"]


def number(value: float) -> str:
    """A number for a table: thousands separated from 1,000, whole from 100, else 3 digits."""
    if not np.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def cost(value: float) -> str:
    """A held-out cost for a table: ``number``, but two decimals from 100 bits on (dynamic
    N-grams is judged to within a bit of the optimum, near 133)."""
    return f"{value:,.2f}" if np.isfinite(value) and abs(value) >= 100 else number(value)
