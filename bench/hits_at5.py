"""hit_rate@5 and mrr@5 with one relevant passage per query, numpy only.

Shared by bench_ann.py (project environment) and bench_plaid.py (fast-plaid's own environment,
where mire-eval is not installed), both run as ``python bench/<script>.py``.
"""

from __future__ import annotations

import numpy as np


def at5(rows: np.ndarray, relevant: np.ndarray) -> tuple[float, float]:
    """hit_rate@5 and mrr@5 in percent: ``rows`` [nq, >=5] ranked passage rows, ``relevant`` [nq]."""
    hit, rr = [], []
    for got, rel in zip(rows[:, :5], relevant):
        where = np.flatnonzero(got == rel)
        hit.append(bool(where.size))
        rr.append(1.0 / (where[0] + 1) if where.size else 0.0)
    return 100 * float(np.mean(hit)), 100 * float(np.mean(rr))
