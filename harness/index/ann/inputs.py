"""Inputs of the index build: the shard callable and the token view of the rerank.

``Shards``: a callable returning a fresh iterator of ``(tokens [t_i, d] fp16, rows [t_i]
int64)`` pieces (numpy arrays or memmaps), each passage's tokens contiguous, in store order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

Shards = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def shards_from_arrays(tokens, rows: np.ndarray, shard_tokens: int = 1 << 20) -> Shards:
    """Adapt one [T, d] array-like (e.g. an ``np.memmap``) and its per-token passage rows [T]
    into the shard callable, cut into ``shard_tokens``-token slices at passage boundaries."""
    rows = np.asarray(rows, dtype=np.int64)
    change = np.flatnonzero(np.diff(rows)) + 1
    bounds = [0]
    for cut in range(shard_tokens, len(rows), shard_tokens):
        after = change[np.searchsorted(change, cut):]
        if after.size and after[0] > bounds[-1]:
            bounds.append(int(after[0]))
    bounds.append(len(rows))
    bounds = sorted(set(bounds))

    def shards() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for a, b in zip(bounds[:-1], bounds[1:]):
            yield tokens[a:b], rows[a:b]
    return shards


class ConcatTokens:
    """Several [t_s, d] token arrays (e.g. a store's mapped shards) read as one [T, d] array by
    :class:`harness.index.ann.query.Searcher`: ``view[ids]`` for int64 ``ids`` [n] -> [n, d]."""

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        shard = np.searchsorted(self.starts, ids, side="right") - 1
        out = np.empty((len(ids), self.arrays[0].shape[1]), dtype=self.arrays[0].dtype)
        for s in np.unique(shard):
            pick = shard == s
            out[pick] = self.arrays[s].take(ids[pick] - self.starts[s], axis=0)
        return out


def from_store_shards(shards: list[tuple[np.ndarray, dict]]) -> tuple[Shards, ConcatTokens]:
    """Adapt the embedding store's mapped shards, ``[(tokens [t_s, d] fp16, entry)]`` with entry
    keys ``first_row``, ``rows`` (local rows in write order) and ``lengths`` (harness/index/store.py's
    ``Store.open_shard``), into the shard callable and the token view of the rerank."""
    def each() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for tokens, entry in shards:
            rows = np.asarray(entry["rows"], dtype=np.int64) + int(entry["first_row"])
            yield tokens, np.repeat(rows, np.asarray(entry["lengths"], dtype=np.int64))
    return each, ConcatTokens(t for t, _ in shards)


def rows_from_lengths(lengths) -> np.ndarray:
    """Per-token passage rows [T] of passages stored in row order with ``lengths`` [N]."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


