"""Every system against a baseline, per metric: means, difference, CI, p, Holm-corrected p.

``compare_scores`` takes per-query scores already aligned by query (:mod:`harness.stats.inputs`
builds them) and is what ``mire-eval compare``, ``leaderboard --baseline`` and the probe's
view comparisons share. Holm's correction runs over all metrics x systems compared at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harness.stats.holm import holm
from harness.stats.intervals import LEVEL, bootstrap_interval
from harness.stats.paired import PERMUTATIONS, TESTS, paired_test

ALPHA = 0.05


def is_binary(values: np.ndarray) -> bool:
    """True when every score is 0 or 1 (``hit_rate@k``, not ``mrr@k``).

    >>> is_binary(np.array([0.0, 1.0])), is_binary(np.array([0.5]))
    (True, False)
    """
    return bool(np.isin(values, (0.0, 1.0)).all())


def chosen_test(requested: str, metric: str, baseline: np.ndarray, other: np.ndarray) -> str:
    """The test a comparison uses: ``mcnemar`` only for a binary metric (``hit_rate``); the
    randomization test for the others even where McNemar was asked for."""
    if requested == "mcnemar" and not (metric.startswith("hit_rate") and is_binary(baseline) and is_binary(other)):
        return "fisher"
    return requested


def compare_scores(scores: Mapping[str, Mapping[str, np.ndarray]], metrics: Sequence[str], baseline: str,
                   test: str = "fisher", permutations: int = PERMUTATIONS, seed: int = 0,
                   clusters: Sequence | None = None, clustering: str = "queries", level: float = LEVEL) -> dict:
    """Compare each system of ``scores`` (``{system: {metric: [n] float64}}``, queries aligned)
    with ``baseline`` on every metric.

    Returns ``{"baseline", "test", "permutations", "seed", "alpha", "level", "clustering",
    "n_queries", "n_clusters", "rows": [...]}``; a row has ``metric``, ``system``,
    ``mean_baseline``, ``mean``, ``diff`` (system - baseline), ``ci_low``, ``ci_high``,
    ``p_value``, ``p_holm`` (over every row), ``significant`` (``p_holm < alpha``), ``test`` and
    ``method`` (exact / monte-carlo / t / binomial). ValueError for an unknown test.

    >>> s = {"a": {"m": np.array([0.0, 1.0, 0.0])}, "b": {"m": np.array([0.0, 1.0, 0.0])}}
    >>> r = compare_scores(s, ["m"], "a")["rows"][0]
    >>> r["p_value"], r["p_holm"], r["ci_low"], r["ci_high"]
    (1.0, 1.0, 0.0, 0.0)
    """
    if test not in TESTS:
        raise ValueError(f"unknown paired test {test!r}; known: {', '.join(TESTS)}")
    base = scores[baseline]
    rows = []
    for system, values in scores.items():
        if system == baseline:
            continue
        for metric in metrics:
            a, b = np.asarray(base[metric], float), np.asarray(values[metric], float)
            name = chosen_test(test, metric, a, b)
            result = paired_test(name, a, b, permutations, seed, clusters)
            ci = bootstrap_interval(a, b, clusters, permutations, seed, level)
            rows.append({"metric": metric, "system": system, "mean_baseline": float(a.mean()) if len(a) else 0.0,
                         "mean": float(b.mean()) if len(b) else 0.0, "diff": float((b - a).mean()) if len(a) else 0.0,
                         "ci_low": ci.low, "ci_high": ci.high, "p_value": result.p_value, "test": name,
                         "method": result.method})
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted < ALPHA
    n = len(next(iter(base.values()))) if base else 0
    return {"baseline": baseline, "test": test, "permutations": permutations, "seed": seed, "alpha": ALPHA,
            "level": level, "clustering": clustering, "n_queries": n,
            "n_clusters": len(set(clusters)) if clusters is not None else n, "rows": rows}


def mark(row: Mapping) -> str:
    """``*`` when the Holm-corrected p is below alpha, else ``""``.

    >>> mark({"p_holm": 0.01}), mark({"p_holm": 0.2})
    ('*', '')
    """
    return "*" if row.get("p_holm") is not None and row["p_holm"] < ALPHA else ""
