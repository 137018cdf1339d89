"""Holm's step-down correction of p-values for several comparisons (Holm 1979).

Sort the m p-values ascending; the i-th (from 0) becomes ``(m - i) p_(i)``, made
non-decreasing along the order and capped at 1. It controls the family-wise error rate at
alpha under any dependence between the tests, and rejects at least what Bonferroni does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order. NaN stays NaN (not counted in m).

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    >>> holm([0.5, 1.0])
    [1.0, 1.0]
    >>> holm([])
    []
    """
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(order)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = round(running, 15)
    return out
