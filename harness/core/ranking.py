"""Exact top-k in trec_eval's order: score descending, ties broken by document id descending
(trec_eval sorts a run by score, then by docno with ``strcmp``), also at the k-th place.

Shared by every search: the exact and approximate searches of :mod:`harness.index` and bm25's
own (:mod:`retrievers.bm25`), which is why it lives in the core.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def id_ranks(ids: Sequence[str]) -> torch.Tensor:
    """Position of each id in byte-wise sorted order (trec_eval compares ids with strcmp).

    >>> id_ranks(["b", "a", "c"]).tolist()
    [1, 0, 2]
    """
    order = sorted(range(len(ids)), key=lambda i: ids[i].encode("utf-8"))
    ranks = torch.empty(len(ids), dtype=torch.int64)
    ranks[torch.tensor(order, dtype=torch.int64)] = torch.arange(len(ids))
    return ranks


def topk_trec(scores: torch.Tensor, tiebreak: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k columns of each row by score, ties decided by ``tiebreak`` descending.

    Exact also when ties straddle the k-th place, where plain ``topk`` picks arbitrarily.

    >>> s = torch.tensor([[1.0, 2.0, 2.0, 0.5]])
    >>> v, i = topk_trec(s, torch.tensor([[0, 1, 3, 2]]), 1)
    >>> i.tolist()
    [[2]]
    """
    k = min(k, scores.shape[1])
    vals, idx = scores.topk(k, dim=1)
    if k == 0:
        return vals, idx
    kth = vals[:, -1:]
    crowded = ((scores >= kth).sum(1) > k).nonzero().flatten().tolist()
    for r in crowded:
        cand = (scores[r] >= kth[r]).nonzero().flatten()
        cand = cand[torch.argsort(tiebreak[r, cand], descending=True, stable=True)]
        cand = cand[torch.argsort(scores[r, cand], descending=True, stable=True)][:k]
        idx[r], vals[r] = cand, scores[r, cand]
    return vals, idx
