"""Small tensor helpers of the equivalence tests."""

from __future__ import annotations

import torch


def padded(mats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[L_i, d]`` matrices stacked as ``(X [N, max L, d] zero-padded, mask [N, max L] bool)``.

    >>> X, M = padded([torch.ones(1, 2), torch.ones(3, 2)])
    >>> tuple(X.shape), M.sum(1).tolist()
    ((2, 3, 2), [1, 3])
    """
    width = max(m.shape[0] for m in mats)
    X = torch.zeros(len(mats), width, mats[0].shape[1])
    M = torch.zeros(len(mats), width, dtype=torch.bool)
    for i, m in enumerate(mats):
        X[i, : len(m)], M[i, : len(m)] = m, True
    return X, M
