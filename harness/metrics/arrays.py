"""The five metrics we report, computed with numpy, equal to ranx's and trec_eval's.

Importing ranx costs seconds (numba) and its first call in a fresh environment compiles for
tens of seconds, so ``mire-eval score`` on a small run would wait on the compiler. These
definitions are the ones trec_eval and ranx use (linear gains, log2 discount):

* ``hit_rate@k`` (trec ``success_k``): 1 if a relevant passage is in the top k;
* ``precision@k`` (trec ``P_k``): relevant in the top k / k (k, not the ranking's length);
* ``recall@k``: relevant in the top k / all relevant of the query;
* ``mrr@k``: 1 / rank of the first relevant passage within the top k, else 0;
* ``ndcg@k`` (trec ``ndcg_cut_k``): sum of gain / log2(rank + 1) over the top k, divided by
  the same sum over the query's judgements sorted by gain.

A name without ``@k`` means the whole ranking. Each function below is one row's ``array`` in
:mod:`harness.metrics.table`, which dispatches by name. tests/harness/test_metrics.py checks
every name against pytrec_eval and ranx on random runs with ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def gain_matrix(rankings: list[list[str]], judgements: list[dict[str, float]]) -> np.ndarray:
    """[Q, D] float64: the gain of the passage at each rank (0 past a ranking's end or unjudged).

    ``rankings`` are passage ids in trec_eval order; D is the longest ranking.
    """
    depth = max((len(r) for r in rankings), default=0)
    gains = np.zeros((len(rankings), depth), dtype=np.float64)
    for i, (ranking, judged) in enumerate(zip(rankings, judgements)):
        gains[i, : len(ranking)] = [judged.get(pid, 0.0) for pid in ranking]
    return np.where(gains > 0, gains, 0.0)


def ideal_matrix(judgements: list[dict[str, float]], depth: int) -> np.ndarray:
    """[Q, depth] float64: each query's positive gains sorted descending (its ideal ranking)."""
    ideal = np.zeros((len(judgements), depth), dtype=np.float64)
    for i, judged in enumerate(judgements):
        best = sorted((g for g in judged.values() if g > 0), reverse=True)[:depth]
        ideal[i, : len(best)] = best
    return ideal


@dataclass
class Ranked:
    """Q rankings with their judgements, as every array function reads them.

    ``gains`` [Q, D] float64 (:func:`gain_matrix`), ``relevant`` [Q, D] bool (gain > 0),
    ``n_relevant`` [Q] float64 (positive judgements per query), ``judgements`` as given.
    """

    gains: np.ndarray
    relevant: np.ndarray
    n_relevant: np.ndarray
    judgements: list[dict[str, float]]

    @classmethod
    def of(cls, rankings: list[list[str]], judgements: list[dict[str, float]]) -> Ranked:
        gains = gain_matrix(rankings, judgements)
        n_relevant = np.array([sum(1 for g in j.values() if g > 0) for j in judgements], dtype=np.float64)
        return cls(gains, gains > 0, n_relevant, judgements)


# Each: (ranked, k) -> [Q] float64, k the cut-off (the ranking's depth for a name without @k).
def hit_rate(r: Ranked, k: int) -> np.ndarray:
    return r.relevant[:, :k].any(axis=1).astype(np.float64)


def precision(r: Ranked, k: int) -> np.ndarray:
    return r.relevant[:, :k].sum(axis=1) / k if k else np.zeros(len(r.relevant))


def recall(r: Ranked, k: int) -> np.ndarray:
    return r.relevant[:, :k].sum(axis=1) / np.maximum(r.n_relevant, 1)


def mrr(r: Ranked, k: int) -> np.ndarray:
    top = r.relevant[:, :k]
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


def ndcg(r: Ranked, k: int) -> np.ndarray:
    depth = r.gains.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (r.gains[:, :k] * discount[: min(k, depth)]).sum(axis=1)
    idcg = (ideal_matrix(r.judgements, k) * discount).sum(axis=1)
    return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
