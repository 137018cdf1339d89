"""Contrastive scoring for training: score matrices and InfoNCE.

MaxSim is :func:`harness.index.exact.maxsim_scores` itself (differentiable), so training and
evaluation score with one function. The pure functions here take padded embeddings and return
a ``[n_queries, n_passages]`` score matrix; :func:`info_nce` turns it into the loss and the
in-batch accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.index.exact import maxsim_scores

SIMILARITIES = ("cosine", "maxsim")


def cosine_scores(q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Dot products of L2-normalised vectors: q [B, dim], d [n, dim] -> [B, n].

    >>> cosine_scores(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    return F.normalize(q, dim=-1) @ F.normalize(d, dim=-1).T


def score_matrix(
    similarity: str,
    q: torch.Tensor,
    q_mask: torch.Tensor | None,
    d: torch.Tensor,
    d_mask: torch.Tensor | None,
) -> torch.Tensor:
    """Scores of every query against every passage under the model's similarity."""
    if similarity == "cosine":
        return cosine_scores(q, d)
    if similarity == "maxsim":
        if q_mask is None:
            q_mask = torch.ones(q.shape[:2], dtype=torch.bool, device=q.device)
        if d_mask is None:
            d_mask = torch.ones(d.shape[:2], dtype=torch.bool, device=d.device)
        return maxsim_scores(q, q_mask, d, d_mask)
    raise ValueError(f"unknown similarity {similarity!r}; known: {SIMILARITIES}")


def info_nce(
    scores: torch.Tensor, labels: torch.Tensor, temperature: float, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE: cross-entropy of ``scores / temperature`` with the positive column as label.

    scores [B, n], labels [B] (column of each query's positive), exclude [B, n] bool marks
    columns that must count neither as negative nor as prediction (duplicates of the positive).
    Returns (mean loss, in-batch accuracy), both scalars.

    >>> s = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> loss, acc = info_nce(s, torch.tensor([0, 1]), temperature=1.0)
    >>> round(loss.item(), 4), acc.item()
    (0.2201, 1.0)
    """
    logits = scores.float() / temperature  # (B, n)
    if exclude is not None:
        logits = logits.masked_fill(exclude, float("-inf"))
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.argmax(dim=1) == labels).float().mean()
    return loss, accuracy


def pad_token_embeddings(parts: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate micro-batch token embeddings [b_i, L_i, d] padded to the longest L.

    >>> e, m = pad_token_embeddings([torch.ones(1, 2, 3), torch.ones(2, 1, 3)],
    ...                             [torch.ones(1, 2, dtype=torch.bool), torch.ones(2, 1, dtype=torch.bool)])
    >>> tuple(e.shape), m.tolist()
    ((3, 2, 3), [[True, True], [True, False], [True, False]])
    """
    longest = max(p.shape[1] for p in parts)
    emb = torch.cat([F.pad(p, (0, 0, 0, longest - p.shape[1])) for p in parts])  # (B, L, d)
    mask = torch.cat([F.pad(m, (0, longest - m.shape[1]), value=False) for m in masks])  # (B, L)
    return emb, mask
