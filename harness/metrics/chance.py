"""What a random ranking scores, exactly: the chance line of the probe's figures.

A random ranking puts the passages of a corpus of N in uniformly random order. For a query
with R relevant passages (binary relevance) the expected value of each reported metric at
cut-off k (k <= N) is:

* ``hit_rate@k`` = 1 - C(N-R, k) / C(N, k)
* ``precision@k`` = R / N;  ``recall@k`` = k / N
* ``mrr@k`` = sum_{r<=k} P(first relevant at rank r) / r, with
  P(first at r) = C(N-r, R-1) / C(N, R)   (R = 1: (1/N) * sum_{r<=k} 1/r)
* ``ndcg@k`` = (R/N) * sum_{r<=k} 1/log2(r+1)  /  sum_{r<=min(R,k)} 1/log2(r+1)

(the ideal DCG is fixed, so the expectation of the ratio is the ratio of the expectation).
tests/harness/test_plots.py checks them against every permutation of a small corpus.
"""

from __future__ import annotations

import math


def random_ranking(metric: str, n_passages: int, n_relevant: int = 1) -> float:
    """Expected ``metric`` (``name@k``) of a uniformly random ranking of ``n_passages``.

    >>> round(random_ranking("hit_rate@1", 48), 6), round(random_ranking("mrr@5", 48), 6)
    (0.020833, 0.047569)
    """
    name, _, cut = metric.partition("@")
    n, rel = int(n_passages), int(n_relevant)
    if n <= 0 or not 0 < rel <= n:
        raise ValueError(f"random ranking: need 0 < relevant ({rel}) <= passages ({n})")
    k = min(int(cut), n) if cut else n
    if name == "hit_rate":
        return 1.0 - math.comb(n - rel, k) / math.comb(n, k)
    if name == "precision":
        return rel / n * k / int(cut or n)  # ranks past N are empty: they count as misses
    if name == "recall":
        return k / n
    if name == "mrr":
        return sum(math.comb(n - r, rel - 1) / math.comb(n, rel) / r for r in range(1, k + 1))
    if name == "ndcg":
        gain = sum(1 / math.log2(r + 1) for r in range(1, k + 1)) * rel / n
        return gain / sum(1 / math.log2(r + 1) for r in range(1, min(rel, k) + 1))
    raise ValueError(f"random ranking: no chance level for {metric!r}")


def chance_of(chance: dict | None, metric: str) -> float | None:
    """A probe record's chance level for ``metric``: recorded (``chance.random``), else derived
    from the corpus size it records (``chance.n_objects``, one relevant passage per query, as
    in the diagnostic task); None when neither is there or the metric has no formula."""
    if not chance:
        return None
    recorded = (chance.get("random") or {}).get(metric)
    if recorded is not None:
        return float(recorded)
    n = chance.get("n_objects")
    try:
        return random_ranking(metric, n) if n else None
    except ValueError:
        return None
