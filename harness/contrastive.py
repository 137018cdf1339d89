"""Differentiable contrastive scoring: the training-side twin of :mod:`harness.search`.

:func:`harness.search.maxsim_scores` fills masked positions in place, which autograd refuses
(``amax`` saves its output for the backward pass). :func:`maxsim_scores_train` computes the
same numbers out of place, so gradients flow to queries and passages alike. Both pure
functions here take padded embeddings and return a ``[n_queries, n_passages]`` score matrix;
:func:`info_nce` turns it into the loss and the in-batch accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SIMILARITIES = ("cosine", "maxsim")


def maxsim_scores_train(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """Late-interaction scores, differentiable; same values as ``harness.search.maxsim_scores``.

    q [B, Lq, dim], q_mask [B, Lq] bool, d [n, Ld, dim], d_mask [n, Ld] bool -> [B, n].
    Padded passage positions never win the max (filled with ``-inf``); padded query rows add 0.
    The max routes its gradient to one passage token, as ColBERT's ``max(-1).values`` does.

    >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    >>> d = torch.tensor([[[-1.0, 0.0], [0.0, 0.0]]])  # second position is padding
    >>> s = maxsim_scores_train(q, torch.tensor([[True, True]]), d, torch.tensor([[True, False]]))
    >>> s.tolist(), s.sum().backward(), q.grad.tolist()
    ([[-1.0]], None, [[[-1.0, 0.0], [-1.0, 0.0]]])
    """
    b, lq, dim = q.shape
    n, ld, _ = d.shape
    sim = (q.reshape(b * lq, dim) @ d.reshape(n * ld, dim).T).view(b, lq, n, ld)  # (B, Lq, n, Ld)
    sim = sim.masked_fill(~d_mask.view(1, 1, n, ld), float("-inf"))
    best = sim.max(dim=3).values  # (B, Lq, n)
    best = best.masked_fill(~q_mask.view(b, lq, 1), 0.0)
    return best.sum(dim=1)  # (B, n)


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
        return maxsim_scores_train(q, q_mask, d, d_mask)
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
