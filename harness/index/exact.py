"""Exact search shared by every embedding retriever.

Two similarities:

* ``cosine``: one L2-normalised vector per query and per passage, score = dot product.
* ``maxsim``: late interaction (ColBERT). A query is a matrix of token vectors, a passage
  too; score = sum over query tokens of the max over passage tokens of the dot product.
  Padding never wins a max, even when every real similarity is negative: given a mask,
  padded positions are ``-inf`` before the max; the search itself pads each passage with
  copies of its own last token, which leaves every max unchanged and needs no fill pass.
  Padded query rows contribute nothing.

Passages are stored in fp16 and up-cast tile by tile to fp32 (this CPU has no fast fp16
GEMM). Tiles are bounded in size and a running top-k is merged after each, so memory
stays bounded whatever the corpus size. Selection is exact and follows trec_eval's order:
score descending, ties broken by passage id descending, also at the k-th place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from harness.core.progress import progress
from harness.core.ranking import topk_trec


# --------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------
@dataclass
class VectorStore:
    """One vector per passage: ``vectors`` [N, d] (fp16), row i = corpus row i.

    The search reads it through ``block``; :class:`harness.index.store_views.MappedVectors` offers
    the same over memory-mapped shards.
    """

    vectors: torch.Tensor

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def block(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop``, fp16 [n, d]."""
        return self.vectors[start:stop]

    def passage(self, row: int) -> torch.Tensor:
        return self.vectors[row]


@dataclass
class TokenStore:
    """Token matrices of all passages, packed and sorted by length.

    ``tokens`` [T, d] fp16 holds the passages one after the other in ``order`` (shortest
    first, so a tile of neighbours needs little padding); passage ``order[j]`` (a corpus
    row) owns ``tokens[offsets[j]:offsets[j + 1]]``.
    """

    tokens: torch.Tensor
    offsets: torch.Tensor
    order: torch.Tensor
    _position: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_matrices(cls, matrices: Sequence[torch.Tensor]) -> TokenStore:
        """Pack per-passage ``[L_i, d]`` matrices (corpus order) into a store.

        >>> s = TokenStore.from_matrices([torch.ones(3, 2), torch.ones(1, 2)])
        >>> s.order.tolist(), s.offsets.tolist(), s.tokens.dtype
        ([1, 0], [0, 1, 4], torch.float16)
        """
        lengths = torch.tensor([m.shape[0] for m in matrices], dtype=torch.int64)
        if (lengths < 1).any():
            raise ValueError("every passage needs at least one token vector")
        order = torch.argsort(lengths, stable=True)
        offsets = torch.zeros(len(matrices) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths[order], 0)
        tokens = torch.cat([matrices[i].to(torch.float16) for i in order.tolist()])
        return cls(tokens, offsets, order)

    def __len__(self) -> int:
        return self.order.shape[0]

    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def tiles(self, max_tokens: int) -> list[tuple[int, int, int]]:
        return length_tiles(self.lengths(), max_tokens)

    def gather(self, start: int, stop: int, longest: int) -> torch.Tensor:
        """Passages at store positions ``start:stop`` padded to ``longest``: fp16 [n, longest, d].

        Position t of passage j reads token min(t, len_j - 1): padding repeats the passage's
        last real token, so it can never win a max it would not already win (exact, no fill).
        """
        positions = torch.minimum(torch.arange(longest).view(1, -1), self.lengths()[start:stop].view(-1, 1) - 1)
        rows = (self.offsets[start:stop].view(-1, 1) + positions).numpy()
        # numpy's take copies the rows ~10x faster than torch's advanced indexing (same values)
        return torch.from_numpy(self.tokens.numpy().take(rows, axis=0))

    def passage(self, row: int) -> torch.Tensor:
        """Corpus row ``row``'s token matrix, fp16 [L, d]."""
        if self._position is None:
            self._position = torch.empty_like(self.order)
            self._position[self.order] = torch.arange(len(self.order))
        j = int(self._position[row])
        return self.tokens[self.offsets[j] : self.offsets[j + 1]]


def length_tiles(lengths: torch.Tensor, max_tokens: int) -> list[tuple[int, int, int]]:
    """Split store positions (passage ``lengths`` in store order) into ``(start, stop, max_len)``
    tiles of at most ``max_tokens`` padded tokens (a single long passage gets a tile of its own)."""
    lengths = lengths.tolist()
    tiles, start = [], 0
    while start < len(lengths):
        stop, longest = start, 0
        while stop < len(lengths):
            longest_next = max(longest, lengths[stop])
            if stop > start and (stop - start + 1) * longest_next > max_tokens:
                break
            longest, stop = longest_next, stop + 1
        tiles.append((start, stop, longest))
        start = stop
    return tiles


# --------------------------------------------------------------------------------------------
# Exact top-k with trec_eval's tie order (id_ranks, topk_trec: harness.core.ranking, which bm25 shares)
# --------------------------------------------------------------------------------------------
class RunningTopK:
    """Keeps the best ``k`` (score, corpus row) of each query across tiles.

    Rows not yet filled hold (-inf, row 0); with ``k`` at most the corpus size every query
    has replaced them all once every tile is pushed (real scores are finite).
    """

    def __init__(self, n_queries: int, k: int, ranks: torch.Tensor):
        self.k, self.ranks = k, ranks
        self.vals = torch.full((n_queries, 0), float("-inf"))
        self.rows = torch.zeros((n_queries, 0), dtype=torch.int64)

    def push(self, first_query: int, scores: torch.Tensor, rows: torch.Tensor) -> None:
        """Merge ``scores`` [B, n] of corpus ``rows`` [n] for queries ``first_query:+B``."""
        b = slice(first_query, first_query + scores.shape[0])
        tile_vals, tile_idx = topk_trec(scores, self.ranks[rows].expand_as(scores), self.k)
        vals = torch.cat([self.vals[b], tile_vals], 1)
        cand = torch.cat([self.rows[b], rows[tile_idx]], 1)
        best_vals, best_idx = topk_trec(vals, self.ranks[cand], self.k)
        if self.vals.shape[1] < best_vals.shape[1]:
            pad = best_vals.shape[1] - self.vals.shape[1]
            self.vals = torch.cat([self.vals, torch.full((self.vals.shape[0], pad), float("-inf"))], 1)
            self.rows = torch.cat([self.rows, torch.zeros((self.rows.shape[0], pad), dtype=torch.int64)], 1)
        self.vals[b], self.rows[b] = best_vals, cand.gather(1, best_idx)


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------
def cosine_search(
    queries: torch.Tensor, store: VectorStore, k: int, ranks: torch.Tensor, tile: int = 65536,
    part: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact dot-product search of [nq, d] (normalised) queries; returns (scores, rows) [nq, k].

    ``part=(r, W)`` scans only tiles ``t % W == r`` (one rank's share; the shares' top-k merge
    into the whole's). A tile's scores do not depend on who computes them nor on where its
    rows are stored, so every split gives the same run, bit for bit.
    """
    q = queries.float()  # (nq, d)
    top = RunningTopK(q.shape[0], min(k, len(store)), ranks)
    starts = list(range(0, len(store), tile))[part[0] :: part[1]]  # this rank's share of tiles
    for start in progress(starts, "search (cosine)", unit="tile"):
        block = store.block(start, start + tile).float()  # (n, d)
        rows = torch.arange(start, start + block.shape[0])
        top.push(0, q @ block.T, rows)  # (nq, n)
    return top.vals, top.rows


def pad_queries(queries: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [L_i, d] query matrices into [B, Lmax, d] with a [B, Lmax] bool mask."""
    longest = max(q.shape[0] for q in queries)
    out = torch.zeros(len(queries), longest, queries[0].shape[1])
    mask = torch.zeros(len(queries), longest, dtype=torch.bool)
    for i, q in enumerate(queries):
        out[i, : q.shape[0]] = q.float()
        mask[i, : q.shape[0]] = True
    return out, mask


def maxsim_scores(
    q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor | None
) -> torch.Tensor:
    """Late-interaction scores of padded queries against padded passages (a pure function,
    differentiable: training uses it too).

    q [B, Lq, dim], q_mask [B, Lq], d [n, Ld, dim], d_mask [n, Ld] -> [B, n].
    ``d_mask=None`` declares that no passage position needs masking (the search pads each
    passage with copies of its own last token, which cannot change a max).

    >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> d = torch.tensor([[[-1.0, 0.0], [0.0, 0.0]]])  # second position is padding
    >>> maxsim_scores(q, torch.tensor([[True, True]]), d, torch.tensor([[True, False]])).tolist()
    [[-1.0]]
    """
    b, lq, dim = q.shape
    n, ld, _ = d.shape
    sim = q.reshape(b * lq, dim) @ d.reshape(n * ld, dim).T  # (B * Lq, n * Ld)
    # Only the padded columns are written (tiles hold passages of similar length, so few).
    # In place is safe for autograd here: the product's backward does not need its output.
    if d_mask is not None:
        sim.index_fill_(1, (~d_mask).flatten().nonzero().flatten(), float("-inf"))
    sim = sim.view(b, lq, n, ld)
    # Training: max().values sends the gradient to one passage token, as ColBERT does;
    # search: amax gives the same values several times faster (no indices).
    best = sim.max(dim=3).values if sim.requires_grad else sim.amax(dim=3)  # (B, Lq, n)
    best = best.masked_fill(~q_mask.view(b, lq, 1), 0.0)
    return best.sum(dim=1)  # (B, n)


def maxsim_search(
    queries: Sequence[torch.Tensor],
    store: TokenStore,
    k: int,
    ranks: torch.Tensor,
    tile_tokens: int = 4096,
    query_block: int = 16,
    part: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact MaxSim search of query matrices over a :class:`TokenStore` (or the same view of
    memory-mapped shards, :class:`harness.index.store_views.MappedTokens`: a tile reads only its
    own rows, so memory stays bounded whatever the corpus size).

    Returns (scores, corpus rows), each [nq, k], best first. ``part``: see
    :func:`cosine_search`. The defaults keep one similarity tile (query_block x ~92 query
    tokens x tile_tokens, fp32) near 24 MB, inside the caches.
    """
    blocks = [pad_queries(queries[i : i + query_block]) for i in range(0, len(queries), query_block)]
    top = RunningTopK(len(queries), min(k, len(store)), ranks)
    tiles = store.tiles(tile_tokens)[part[0] :: part[1]]  # this rank's share of tiles
    for start, stop, longest in progress(tiles, "search (MaxSim)", unit="tile"):
        d = store.gather(start, stop, longest).float()  # (n, Ld, dim)
        rows = store.order[start:stop]
        for bi, (q, q_mask) in enumerate(blocks):
            top.push(bi * query_block, maxsim_scores(q, q_mask, d, None), rows)
    return top.vals, top.rows
