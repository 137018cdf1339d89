"""A store's memory-mapped shards seen as one index, exactly as the in-memory one.

:class:`MappedTokens` and :class:`MappedVectors` answer what :func:`harness.index.exact.maxsim_search`
and :func:`harness.index.exact.cosine_search` ask of :class:`~harness.index.exact.TokenStore` and
:class:`~harness.index.exact.VectorStore` (``tiles``/``gather``, ``block``, ``passage``), over the
shards as written. Tiles are cut over the whole corpus in the same order as in memory (the
stable length order; row order for vectors), so every similarity GEMM has the same operands
and shape as in memory and the run is the same bit for bit; only a tile's own rows are read
from the mapping (the page cache), so anonymous memory holds one tile, plus a few integers
per passage (order, lengths, offsets), never the tokens.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.index.exact import length_tiles


class MappedTokens:
    """Token matrices of ``shards``: (mapped fp16 [T_s, d] array, manifest entry) per shard."""

    def __init__(self, shards: list[tuple[np.ndarray, dict]], shard_passages: int):
        self.tokens = [t for t, _ in shards]
        self.shard_passages = shard_passages
        n = sum(e["n_passages"] for _, e in shards)
        self.row_offset = torch.empty(n, dtype=torch.int64)  # first token row, in its shard's file
        self.row_length = torch.empty(n, dtype=torch.int64)
        for _, e in shards:
            lengths = torch.tensor(e["lengths"], dtype=torch.int64)
            rows = torch.tensor(e["rows"], dtype=torch.int64) + e["first_row"]
            self.row_offset[rows] = torch.cumsum(lengths, 0) - lengths
            self.row_length[rows] = lengths
        self.order = torch.argsort(self.row_length, stable=True)  # as TokenStore.from_matrices
        self._lengths = self.row_length[self.order]

    def __len__(self) -> int:
        return self.order.shape[0]

    def lengths(self) -> torch.Tensor:
        return self._lengths

    def tiles(self, max_tokens: int) -> list[tuple[int, int, int]]:
        return length_tiles(self._lengths, max_tokens)

    def gather(self, start: int, stop: int, longest: int) -> torch.Tensor:
        """As :meth:`harness.index.exact.TokenStore.gather`: fp16 [n, longest, d], same values."""
        rows = self.order[start:stop]
        positions = torch.minimum(torch.arange(longest).view(1, -1), self.row_length[rows].view(-1, 1) - 1)
        positions = self.row_offset[rows].view(-1, 1) + positions  # (n, Ld), within each row's shard
        shard = rows // self.shard_passages
        # Equal-length passages sit in row order, so a tile's rows come in runs per shard.
        ids, counts = torch.unique_consecutive(shard, return_counts=True)
        parts, at = [], 0
        for s, c in zip(ids.tolist(), counts.tolist()):
            # numpy's take reads a mapping ~10x faster than torch's advanced indexing here
            parts.append(self.tokens[s].take(positions[at : at + c].numpy(), axis=0))
            at += c
        return torch.from_numpy(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def passage(self, row: int) -> torch.Tensor:
        start = int(self.row_offset[row])
        return torch.from_numpy(self.tokens[row // self.shard_passages][start : start + int(self.row_length[row])])


class MappedVectors:
    """One vector per passage over the shards' mapped fp16 [n_s, d] tensors, in row order."""

    def __init__(self, shards: list[tuple[np.ndarray, dict]], shard_passages: int):
        self.vectors = [torch.from_numpy(t) for t, _ in shards]
        self.shard_passages = shard_passages
        self.n = sum(t.shape[0] for t in self.vectors)

    def __len__(self) -> int:
        return self.n

    def block(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` (fp16 [n, d]), cut from the shards they span."""
        stop, sp = min(stop, self.n), self.shard_passages
        parts = [self.vectors[s][max(start - s * sp, 0) : stop - s * sp] for s in range(start // sp, -(-stop // sp))]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def passage(self, row: int) -> torch.Tensor:
        return self.vectors[row // self.shard_passages][row % self.shard_passages]
