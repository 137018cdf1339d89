"""Paired bootstrap confidence intervals of a mean difference, resampling queries or clusters.

Where several queries share one image (OK-VQA, E-VQA) or one entity, their scores are not
independent draws; resampling single queries would make the interval too narrow. With
``clusters`` (one label per query) whole clusters are drawn with replacement and the
resample's mean difference is the sum of the drawn clusters' differences over the number of
queries drawn (the cluster bootstrap; Field & Welsh 2007). Percentile interval
(Efron & Tibshirani 1993, ch. 13).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.stats.paired import PERMUTATIONS, _pair, bootstrap_means, cluster_sums

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """``low``/``high``: bounds of ``mean(b - a)`` at ``level``; ``resamples``, ``seed``;
    ``clusters``: the number of units resampled (queries, or clusters when clustered)."""

    low: float
    high: float
    level: float
    resamples: int
    seed: int
    clusters: int

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_interval(a, b, clusters=None, resamples: int = PERMUTATIONS, seed: int = 0,
                       level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of ``mean(b - a)`` (``a``, ``b``: ``[n]`` float64, paired).

    A difference that is 0 for every query gives [0, 0].

    >>> bootstrap_interval([0.2, 0.3], [0.2, 0.3])
    Interval(low=0.0, high=0.0, level=0.95, resamples=10000, seed=0, clusters=2)
    >>> i = bootstrap_interval([0.0] * 50, [1.0] * 25 + [0.0] * 25, seed=1)
    >>> 0.3 < i.low < 0.5 < i.high < 0.7
    True
    """
    a, b = _pair(a, b)
    d = b - a
    sums, sizes = cluster_sums(d, clusters)
    if not len(d) or not d.any():
        return Interval(0.0, 0.0, level, resamples, seed, len(sums))
    means = bootstrap_means(sums, sizes, resamples, seed)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(low), float(high), level, resamples, seed, len(sums))
