"""Paired two-sided tests of "system A and system B have the same mean" over per-query scores.

Each takes ``a`` and ``b``: ``[n]`` float64 arrays, the same queries in the same order, and
returns a :class:`PairedTest`. The statistic of the randomization and bootstrap tests is the
mean difference ``mean(b - a)``; an observed difference is matched with a relative tolerance
(:data:`TOLERANCE`) so that sums of the same numbers in another order count as equal.

* :func:`randomization_test`: the paired randomization (Fisher) test recommended for IR by
  Smucker, Allan & Carterette (CIKM 2007): under the null each query's two scores are
  exchangeable, so each difference keeps or flips its sign. Exact (every sign pattern) when
  the queries with a non-zero difference are few (2^m <= ``max(permutations, 2**16)``), else
  ``permutations`` seeded Monte Carlo draws with p = (hits + 1) / (draws + 1) (Phipson & Smyth
  2010: never 0, valid at any draw count).
* :func:`student_test`: Student's paired t-test (scipy's ``ttest_rel``, as ranx's ``student``).
* :func:`bootstrap_test`: the paired bootstrap test (Efron & Tibshirani 1993, section 16.4):
  differences are centred on 0 and resampled (by cluster where given).
* :func:`mcnemar_test`: the exact McNemar test for binary metrics (``hit_rate@k``): the
  discordant pairs follow Binomial(n, 1/2) under the null; two-sided p as scipy's
  ``binomtest`` computes it for p = 1/2 (``min(1, 2 * P[X <= min(b, c)])``).

Two identical arrays give p = 1 under every test.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

TESTS = ("fisher", "student", "bootstrap", "mcnemar")
PERMUTATIONS = 10_000  # Monte Carlo draws of the randomization test (and bootstrap resamples)
EXACT_SIGNS = 2**16  # sign patterns enumerated at most when exact (16 queries differing)
TOLERANCE = 1e-9  # relative: |mean*| >= |observed| (1 - TOLERANCE) counts as at least as extreme
CHUNK = 1 << 22  # elements of one block of draws (32 MiB of float64)


@dataclass(frozen=True)
class PairedTest:
    """One paired test: ``p_value`` in [0, 1]; ``method`` says how it was computed
    (``"exact"``, ``"monte-carlo"``, ``"t"``, ``"binomial"``); ``draws``: sign patterns
    enumerated or drawn, resamples, or None; ``seed``: of the draws, or None."""

    test: str
    p_value: float
    method: str
    draws: int | None = None
    seed: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be two [n] arrays of one length; got {a.shape} and {b.shape}")
    return a, b


def _at_least(stats: np.ndarray, observed: float) -> np.ndarray:
    return np.abs(stats) >= abs(observed) * (1 - TOLERANCE) - 1e-15


def exact_signs(m: int) -> np.ndarray:
    """[2^m, m] float64 of every pattern of signs +-1 over ``m`` differences.

    >>> exact_signs(2).tolist()
    [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    """
    codes = np.arange(2**m, dtype=np.int64)[:, None] >> np.arange(m, dtype=np.int64)[None, :]
    return 1.0 - 2.0 * (codes & 1)


def randomization_test(a, b, permutations: int = PERMUTATIONS, seed: int = 0) -> PairedTest:
    """The paired randomization (Fisher) test of ``mean(b - a) = 0``, two-sided.

    Queries scoring the same under both systems do not change the statistic under any sign,
    so only the ``m`` differing ones are permuted; exact when ``2^m <= max(permutations,
    2**16)``, otherwise ``permutations`` draws from ``numpy.random.default_rng(seed)``.

    >>> randomization_test([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])  # 2 of the 8 sign patterns reach 1
    PairedTest(test='fisher', p_value=0.25, method='exact', draws=8, seed=None)
    >>> randomization_test([0.5, 0.2], [0.5, 0.2]).p_value
    1.0
    """
    a, b = _pair(a, b)
    d = b - a
    d = d[d != 0]
    n = len(a)
    m = len(d)
    if m == 0:
        return PairedTest("fisher", 1.0, "exact", 1, None)
    observed = d.sum() / n
    if 2**m <= max(permutations, EXACT_SIGNS):
        stats = exact_signs(m) @ d / n
        return PairedTest("fisher", float(_at_least(stats, observed).mean()), "exact", 2**m, None)
    rng = np.random.default_rng(seed)
    hits, done, block = 0, 0, max(1, CHUNK // m)
    while done < permutations:
        size = min(block, permutations - done)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(size, m), dtype=np.int8)
        hits += int(_at_least(signs @ d / n, observed).sum())
        done += size
    return PairedTest("fisher", (hits + 1) / (permutations + 1), "monte-carlo", permutations, seed)


def student_test(a, b) -> PairedTest:
    """Student's paired two-sided t-test (scipy.stats.ttest_rel, what ranx's ``student`` calls).
    Where scipy has no finite t: every difference 0 (0/0) gives p = 1; one equal non-zero
    difference for every query (t infinite) gives p = 0, scipy's limit; a single query (no
    variance to estimate) gives p = 1.

    >>> round(student_test([0.1, 0.4, 0.3, 0.8], [0.2, 0.6, 0.3, 1.0]).p_value, 6)
    0.079605
    """
    from scipy.stats import ttest_rel

    a, b = _pair(a, b)
    d = b - a
    if not d.any() or len(d) < 2:
        return PairedTest("student", 1.0, "t")
    if np.all(d == d[0]):
        return PairedTest("student", 0.0, "t")
    return PairedTest("student", float(ttest_rel(b, a).pvalue), "t")


def mcnemar_test(a, b) -> PairedTest:
    """The exact McNemar test for binary per-query scores (0 or 1, e.g. ``hit_rate@k``).

    ``b01``: queries only ``b`` gets right, ``b10``: only ``a``; p = min(1, 2 P[X <= min]),
    X ~ Binomial(b01 + b10, 1/2) (scipy.stats.binomtest's two-sided p at 1/2).
    Raises ValueError when a score is neither 0 nor 1.

    >>> mcnemar_test([1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]).p_value  # 3 vs 4 discordant
    1.0
    >>> mcnemar_test([0] * 6, [1] * 6).p_value  # 2 * (1/2)^6
    0.03125
    """
    a, b = _pair(a, b)
    if not (np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all()):
        raise ValueError("McNemar's test needs binary scores (0 or 1 per query), e.g. hit_rate@k")
    only_b = int(((b == 1) & (a == 0)).sum())
    only_a = int(((a == 1) & (b == 0)).sum())
    n = only_a + only_b
    if n == 0:
        return PairedTest("mcnemar", 1.0, "binomial")
    low = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return PairedTest("mcnemar", min(1.0, 2 * tail), "binomial")


def cluster_sums(d: np.ndarray, clusters=None) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, sizes)``: [C] float64 sum of ``d`` per cluster and [C] float64 its query count,
    clusters in order of first appearance; without ``clusters`` each query is its own.

    >>> cluster_sums(np.array([1.0, 2.0, 3.0]), ["x", "y", "x"])
    (array([4., 2.]), array([2., 1.]))
    """
    if clusters is None:
        return d.astype(np.float64), np.ones(len(d))
    labels = list(clusters)
    if len(labels) != len(d):
        raise ValueError(f"{len(labels)} cluster labels for {len(d)} queries")
    index: dict = {}
    codes = np.array([index.setdefault(c, len(index)) for c in labels], dtype=np.int64)
    return np.bincount(codes, weights=d, minlength=len(index)), np.bincount(codes, minlength=len(index)).astype(float)


def bootstrap_means(sums: np.ndarray, sizes: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """[resamples] float64: the mean difference of each resample of the clusters, with
    replacement (``sum of drawn sums / sum of drawn sizes``; queries when every size is 1)."""
    rng = np.random.default_rng(seed)
    c = len(sums)
    out = np.empty(resamples)
    block = max(1, CHUNK // max(c, 1))
    for start in range(0, resamples, block):
        idx = rng.integers(0, c, size=(min(block, resamples - start), c))
        out[start : start + len(idx)] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    return out


def bootstrap_test(a, b, resamples: int = PERMUTATIONS, seed: int = 0, clusters=None) -> PairedTest:
    """The paired bootstrap test: the differences, shifted to mean 0, resampled ``resamples``
    times (by cluster when ``clusters`` labels each query); p = (hits + 1) / (resamples + 1).

    >>> bootstrap_test([0.2, 0.4], [0.2, 0.4]).p_value
    1.0
    """
    a, b = _pair(a, b)
    d = b - a
    if not d.any():
        return PairedTest("bootstrap", 1.0, "exact", 1, None)
    observed = d.mean()
    sums, sizes = cluster_sums(d - observed, clusters)
    stats = bootstrap_means(sums, sizes, resamples, seed)
    hits = int(_at_least(stats, observed).sum())
    return PairedTest("bootstrap", (hits + 1) / (resamples + 1), "monte-carlo", resamples, seed)


def paired_test(name: str, a, b, permutations: int = PERMUTATIONS, seed: int = 0, clusters=None) -> PairedTest:
    """Dispatch on ``name`` (one of :data:`TESTS`); ValueError for another name."""
    if name == "fisher":
        return randomization_test(a, b, permutations, seed)
    if name == "student":
        return student_test(a, b)
    if name == "bootstrap":
        return bootstrap_test(a, b, permutations, seed, clusters)
    if name == "mcnemar":
        return mcnemar_test(a, b)
    raise ValueError(f"unknown paired test {name!r}; known: {', '.join(TESTS)}")
