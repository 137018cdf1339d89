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
Each function is one row's ``chance`` in :mod:`harness.metrics.table` (``random_ranking``,
``chance_of``). tests/harness/test_plots.py checks them against every permutation of a small corpus.
"""

from __future__ import annotations

import math

# Each: (n passages, r relevant, k = min(cut-off, n), asked = the cut-off as named) -> expected value.


def hit_rate(n: int, rel: int, k: int, asked: int) -> float:
    return 1.0 - math.comb(n - rel, k) / math.comb(n, k)


def precision(n: int, rel: int, k: int, asked: int) -> float:
    return rel / n * k / asked  # ranks past N are empty: they count as misses


def recall(n: int, rel: int, k: int, asked: int) -> float:
    return k / n


def mrr(n: int, rel: int, k: int, asked: int) -> float:
    return sum(math.comb(n - r, rel - 1) / math.comb(n, rel) / r for r in range(1, k + 1))


def ndcg(n: int, rel: int, k: int, asked: int) -> float:
    gain = sum(1 / math.log2(r + 1) for r in range(1, k + 1)) * rel / n
    return gain / sum(1 / math.log2(r + 1) for r in range(1, min(rel, k) + 1))
