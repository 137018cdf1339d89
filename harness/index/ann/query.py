"""Approximate MaxSim search over an :class:`~harness.index.ann.index.AnnIndex`.

Per query (PLAID's candidate generation, Santhanam et al. 2022, sec. 4):

1. each query token scores every centroid (one GEMM) and probes its ``nprobe`` best;
   candidate passages = the passages listed under any probed centroid;
2. cheap approximate score of each candidate: for each query token, the best score of a
   probed centroid the passage is listed under, or the token's lowest probed score when the
   passage is in none of its lists (its true best lies in an unprobed, lower-scoring cell);
   summed over query tokens; the ``interaction`` best are kept;
3. centroid interaction (PLAID's stage 3): MaxSim with every passage token replaced by its
   centroid, from the token codes; ``candidates`` passages are kept: half the stage-2 best,
   the rest the centroid-interaction best among the ``interaction`` stage-2 best;
4. exact rerank: MaxSim of the query against the kept passages' tokens through
   :func:`harness.index.exact.maxsim_search` (the one MaxSim, with trec_eval's tie order), the
   tokens read from the fp16 store (``ivf``) or decoded from residual codes (``ivfpq``; with
   ``refine`` the decoded best are then rescored from the fp16 store).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from harness.index.ann.index import AnnIndex
from harness.core.ranking import topk_trec
from harness.index.exact import TokenStore, maxsim_search

# Rerank hook: (query matrix [Lq, d] fp32, candidate rows [n] int64) -> scores [n] fp32.
Rerank = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _ranges(starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(s, s + l)`` for each (s, l), without a Python loop.

    >>> _ranges(torch.tensor([5, 0]), torch.tensor([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    total = int(lengths.sum())
    shift = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
    return shift + torch.arange(total)


class Searcher:
    """Search state built once per index: torch views of its arrays (no copies of memmaps
    beyond what torch needs) and the token source of the rerank.

    ``tokens``: the fp16 store [T, d] (array-like, e.g. ``np.memmap``; required for ``ivf``
    and for ``ivfpq`` with ``refine``), in the order the index was built from.
    """

    def __init__(self, index: AnnIndex, tokens=None):
        if index.params.mode == "ivf" and tokens is None:
            raise ValueError("an ivf index reranks from the fp16 token store: pass tokens")
        self.index = index
        self.tokens = tokens
        self.centroids = torch.from_numpy(np.ascontiguousarray(index.centroids, np.float32))
        self.list_offsets = torch.from_numpy(np.asarray(index.list_offsets, np.int64))
        with warnings.catch_warnings():  # a read-only memmap: torch only reads it
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.list_rows = torch.from_numpy(np.asarray(index.list_rows, np.int32))  # 4 B per entry, not copied
        self.tok_start = torch.from_numpy(np.asarray(index.tok_start, np.int64))
        self.tok_len = torch.from_numpy(np.asarray(index.tok_len, np.int64))

    # ---------------------------------------------------------------- stages 1-3
    def candidates(self, q: torch.Tensor, nprobe: int, keep: int, interaction: int | None = None) -> torch.Tensor:
        """Corpus rows [<= keep] of the best approximate candidates of query ``q`` [Lq, d]."""
        scores = q.float() @ self.centroids.T  # (Lq, nlist)
        vals, cells = scores.topk(min(nprobe, scores.shape[1]), dim=1)  # (Lq, nprobe)
        lens = self.list_offsets[cells + 1] - self.list_offsets[cells]
        flat_lens = lens.flatten()
        rows = self.list_rows[_ranges(self.list_offsets[cells].flatten(), flat_lens)].long()
        uniq, inv = torch.unique(rows, return_inverse=True)
        lq = q.shape[0]
        qtok = torch.repeat_interleave(torch.arange(lq).repeat_interleave(vals.shape[1]), flat_lens)
        best = vals[:, -1:].expand(lq, len(uniq)).contiguous()  # (Lq, U): unlisted = lowest probed
        listed = torch.repeat_interleave(vals.flatten(), flat_lens)
        best.view(-1).scatter_reduce_(0, qtok * len(uniq) + inv, listed, "amax")
        interaction = max(interaction or 4 * keep, keep)
        if len(uniq) <= keep:
            return uniq
        approx = best.sum(0)
        order = approx.topk(min(interaction, len(uniq))).indices  # stage-2 ranking, best first
        # Half the places go to the stage-2 best, half to the best by centroid interaction among
        # the ``interaction`` stage-2 best (measured: stage 2 keeps more exact top-1s, centroid
        # interaction more of the exact top-100; bench/bench_ann.py).
        first = order[: keep // 2]
        ci = self.centroid_interaction(scores, uniq[order]).topk(min(keep, len(order))).indices
        taken = torch.zeros(len(uniq), dtype=torch.bool)
        taken[first] = True
        rest = order[ci][~taken[order[ci]]][: keep - len(first)]
        return uniq[torch.cat([first, rest])]

    def centroid_interaction(self, scores: torch.Tensor, rows: torch.Tensor, block: int = 1024) -> torch.Tensor:
        """MaxSim of the query with each passage's tokens replaced by their centroids:
        ``scores`` [Lq, nlist] query-centroid scores, ``rows`` [n] -> [n]. Padding repeats a
        passage's last token (cannot change a max), as the exact search does."""
        out = torch.empty(len(rows))
        by_centroid = scores.T.contiguous()  # (nlist, Lq): a gather of whole rows, not columns
        for a in range(0, len(rows), block):
            r = rows[a : a + block]
            lengths = self.tok_len[r]
            positions = torch.minimum(torch.arange(int(lengths.max())).view(1, -1), lengths.view(-1, 1) - 1)
            ids = (self.tok_start[r].view(-1, 1) + positions).numpy()  # (n, Lmax)
            codes = torch.from_numpy(np.asarray(self.index.codes[ids.ravel()], dtype=np.int64)).view(ids.shape)
            out[a : a + len(r)] = by_centroid[codes].amax(dim=1).sum(1)  # (n, Lmax, Lq) -> (n,)
        return out

    # ---------------------------------------------------------------- stage 4
    def candidate_store(self, rows: torch.Tensor, decoded: bool | None = None) -> TokenStore:
        """A :class:`TokenStore` of the candidate passages ``rows`` (shortest first, as the
        exact search tiles), tokens decoded from residual codes (``ivfpq``, or ``decoded``)
        or read from the fp16 store."""
        decoded = self.index.params.mode == "ivfpq" if decoded is None else decoded
        lengths = self.tok_len[rows]
        order = torch.argsort(lengths, stable=True)
        rows, lengths = rows[order], lengths[order]
        ids = _ranges(self.tok_start[rows], lengths).numpy()
        if decoded:
            tokens = torch.from_numpy(self.index.decode(ids)).to(torch.float16)
        elif self.tokens is None:
            raise ValueError("refine rescores from the fp16 token store: pass tokens")
        elif isinstance(self.tokens, torch.Tensor):
            tokens = self.tokens[torch.from_numpy(ids)].to(torch.float16)
        else:
            tokens = torch.from_numpy(np.asarray(self.tokens[ids], dtype=np.float16))
        offsets = torch.zeros(len(rows) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        return TokenStore(tokens, offsets, rows)

    def rerank(self, q: torch.Tensor, rows: torch.Tensor, k: int, ranks: torch.Tensor,
               refine: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k of candidate ``rows`` [n] for query ``q`` [Lq, d]: (scores [<=k] fp32, rows
        [<=k] int64), trec_eval order, by MaxSim over the fp16 store (``ivf``) or the decoded
        vectors (``ivfpq``); with ``refine`` (``ivfpq``) the best max(k, refine) by decoded
        MaxSim are rescored exactly from the fp16 store."""
        refine = replace(self.index.params, refine=refine).rescored(k, len(rows))
        vals, got = maxsim_search([q.float()], self.candidate_store(rows), refine or k, ranks)
        if refine:
            top = got[0][got[0] >= 0]
            vals, got = maxsim_search([q.float()], self.candidate_store(top, decoded=False), k, ranks)
        return vals[0], got[0]

    def search(self, queries: Sequence[torch.Tensor], k: int, ranks: torch.Tensor,
               nprobe: int | None = None, candidates: int | None = None,
               rerank: Rerank | None = None, interaction: int | None = None,
               refine: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (scores, corpus rows), each [nq, k] (fewer columns than k only when fewer
        passages exist; rows with fewer candidates are padded with -inf / -1), best first,
        trec_eval's tie order. ``ranks``: :func:`harness.core.ranking.id_ranks` of the corpus ids.
        ``rerank`` replaces the built-in exact rerank (e.g. the store's own scorer)."""
        p = self.index.params
        nprobe, keep = nprobe or p.nprobe, max(candidates or p.candidates, k)
        interaction = interaction or p.interaction
        refine = p.refine if refine is None else refine  # AnnParams.rescored ignores it for ivf
        k = min(k, len(self.index))
        out_s = torch.full((len(queries), k), float("-inf"))
        out_r = torch.full((len(queries), k), -1, dtype=torch.int64)
        for i, q in enumerate(queries):
            rows = self.candidates(q, nprobe, keep, interaction)
            if rerank is not None:
                s = rerank(q.float(), rows).float().view(1, -1)
                vals, idx = topk_trec(s, ranks[rows].view(1, -1), k)
                vals, got = vals[0], rows[idx[0]]
            else:
                vals, got = self.rerank(q, rows, k, ranks, refine)
            out_s[i, : len(vals)], out_r[i, : len(got)] = vals, got
        return out_s, out_r


def merge_topk(parts: Sequence[tuple[torch.Tensor, torch.Tensor]], k: int,
               ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Global top-k from per-shard (or per-rank) top-k lists.

    ``parts``: (scores [nq, k_i], corpus rows [nq, k_i]) each, rows global, -1 / -inf for
    empty places. Returns [nq, k] in trec_eval order (score descending, ties by passage id
    descending, via ``ranks`` = :func:`harness.core.ranking.id_ranks`), exactly what one search over
    the union would keep: each shard's top-k contains every passage of the union's top-k that
    it holds.
    """
    scores = torch.cat([s for s, _ in parts], 1)
    rows = torch.cat([r for _, r in parts], 1)
    tiebreak = torch.where(rows >= 0, ranks[rows.clamp(min=0)], torch.full_like(rows, -1))
    vals, idx = topk_trec(scores, tiebreak, min(k, scores.shape[1]))
    # topk_trec picks the right set; order it fully too (ties inside the top-k by id).
    inner = torch.argsort(tiebreak.gather(1, idx), dim=1, descending=True, stable=True)
    vals, idx = vals.gather(1, inner), idx.gather(1, inner)
    outer = torch.argsort(vals, dim=1, descending=True, stable=True)
    vals, idx = vals.gather(1, outer), idx.gather(1, outer)
    got = rows.gather(1, idx)
    return vals, torch.where(torch.isfinite(vals), got, torch.full_like(got, -1))
