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

A name without ``@k`` means the whole ranking. tests/harness/test_metrics.py checks every
name against pytrec_eval and ranx on random runs with ties.
"""

from __future__ import annotations

import numpy as np

SUPPORTED = frozenset({"hit_rate", "precision", "recall", "mrr", "ndcg"})


def supported(metric: str) -> bool:
    return metric.split("@")[0] in SUPPORTED


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


def per_query(rankings: list[list[str]], judgements: list[dict[str, float]], metrics: list[str]) -> dict[str, np.ndarray]:
    """``{metric: [Q] float64}`` for ranked passage ids against ``{pid: gain}`` judgements.

    Every query should have at least one positive judgement (the caller scores the others 0).
    """
    gains = gain_matrix(rankings, judgements)
    q, depth = gains.shape
    relevant = gains > 0
    n_relevant = np.array([sum(1 for g in j.values() if g > 0) for j in judgements], dtype=np.float64)
    out = {}
    for metric in metrics:
        base, _, cut = metric.partition("@")
        k = int(cut) if cut else depth
        top = relevant[:, :k]
        if base == "hit_rate":
            value = top.any(axis=1).astype(np.float64)
        elif base == "precision":
            value = top.sum(axis=1) / k if k else np.zeros(q)
        elif base == "recall":
            value = top.sum(axis=1) / np.maximum(n_relevant, 1)
        elif base == "mrr":
            first = top.argmax(axis=1)
            value = np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)
        elif base == "ndcg":
            discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
            dcg = (gains[:, :k] * discount[: min(k, depth)]).sum(axis=1)
            idcg = (ideal_matrix(judgements, k) * discount).sum(axis=1)
            value = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0)
        else:
            raise ValueError(f"{metric}: not computed here (see SUPPORTED)")
        out[metric] = value
    return out
