"""Identical passages, encoded and scored once: the tie guarantee every embedding search keeps.

A corpus may hold the same passage several times under different ids (real ones do). Were each
copy encoded and scored on its own, the copies' scores could differ in the last bit: a GEMM
(or GEMV, with one query) may order a dot product's sums differently by the column it lands
in, and an encoder's batch neighbours change its padding. Their order, which trec_eval decides
by id only when scores are equal, would then follow the corpus file's order (faiss #1201).

:func:`distinct_passages` groups the rows whose ``(title, text)`` are equal, byte for byte. The
index holds one vector (or token matrix) per group, so every copy gets the bit-identical score
in every search mode (exact, ``ivf``, ``ivfpq``), and :meth:`DistinctPassages.expand` gives each
copy its group's score; trec_eval's tie order (score descending, id descending) then decides.

The groups are laid out in a canonical order that does not depend on the corpus file's order:
by their representative's id (the member whose id sorts last, byte-wise, which is also the
member trec_eval ranks first among the group). So one corpus written in two orders is encoded
in the same batches, stored in the same shards and searched in the same tiles: the same run,
bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from harness.core.ranking import id_ranks, topk_trec
from harness.core.types import Corpus


@dataclass
class DistinctPassages:
    """The distinct passages of a corpus and where each corpus row went.

    ``corpus``: one passage per group (its representative), in canonical order;
    ``group_of``: int64 [n_rows], corpus row -> row of ``corpus``;
    ``offsets`` int64 [n_groups + 1] and ``members`` int64 [n_rows]: group j's corpus rows are
    ``members[offsets[j]:offsets[j + 1]]``, best-ranked (id descending) first;
    ``ranks``: :func:`harness.core.ranking.id_ranks` of the full corpus's ids;
    ``group_ranks``: the representatives' ranks among themselves (the search's tie-break: a
    group wins a tie against another when its best member outranks the other's).
    """

    corpus: Corpus
    group_of: torch.Tensor
    offsets: torch.Tensor
    members: torch.Tensor
    ranks: torch.Tensor
    group_ranks: torch.Tensor

    @property
    def n_duplicates(self) -> int:
        """Corpus rows that are a copy of another row (rows - groups)."""
        return int(self.group_of.shape[0] - len(self.corpus))

    def describe(self) -> dict:
        """meta.json's ``"passages"``: rows, distinct passages, copies collapsed."""
        return {"rows": int(self.group_of.shape[0]), "distinct": len(self.corpus), "duplicates": self.n_duplicates}

    def expand(self, scores: torch.Tensor, rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k over groups -> top-k over corpus rows, trec_eval's order, each [nq, k'].

        ``scores``/``rows`` [nq, k_g] are a search's best groups (rows of :attr:`corpus`, -1 for
        none; the search's k_g must be at least ``k``: each group gives at least one corpus row,
        and a row outside the best k groups has k groups' best members ranked above it).
        Each group's members take its score; rows padded with (-inf, -1).
        """
        if not self.n_duplicates:  # every group is one row: only the numbering differs
            real = rows >= 0
            out = torch.where(real, self.members[self.offsets[rows.clamp(min=0)]], rows)
            return scores[:, :k], out[:, :k]
        nq = scores.shape[0]
        out_s = torch.full((nq, k), float("-inf"), dtype=scores.dtype)
        out_r = torch.full((nq, k), -1, dtype=torch.int64)
        sizes = self.offsets[1:] - self.offsets[:-1]
        for i in range(nq):
            groups = rows[i][rows[i] >= 0]
            if not len(groups):
                continue
            counts = sizes[groups]
            starts = self.offsets[groups]
            # member j of the candidates: starts repeated count times + 0..count-1
            within = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
            cand = self.members[torch.repeat_interleave(starts, counts) + within]
            cand_s = torch.repeat_interleave(scores[i][: len(groups)], counts)
            vals, idx = topk_trec(cand_s.view(1, -1), self.ranks[cand].view(1, -1), k)
            out_s[i, : vals.shape[1]], out_r[i, : vals.shape[1]] = vals[0], cand[idx[0]]
        return out_s, out_r


def distinct_passages(corpus: Corpus) -> DistinctPassages:
    """Group ``corpus``'s rows by ``(title, text)`` (exact byte equality, computed by Arrow's
    dictionary encoding: no Python string per passage).

    >>> c = Corpus.from_records([{"_id": i, "text": t} for i, t in [("b", "x"), ("a", "y"), ("c", "x")]])
    >>> d = distinct_passages(c)
    >>> d.corpus.ids, d.group_of.tolist(), d.members.tolist()
    (['a', 'c'], [1, 0, 1], [1, 2, 0])
    """
    n = len(corpus)
    ranks = id_ranks(corpus.ids)
    if n == 0:
        empty = torch.zeros(0, dtype=torch.int64)
        return DistinctPassages(corpus, empty, torch.zeros(1, dtype=torch.int64), empty, ranks, empty)
    codes = []
    for name in ("title", "text"):
        column = corpus.table.column(name).combine_chunks().dictionary_encode()
        codes.append(np.asarray(column.indices.fill_null(-1), dtype=np.int64))
    _, group = np.unique(np.stack(codes, 1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    r = ranks.numpy()
    by_group = np.lexsort((-r, group))  # rows grouped, best rank (id descending) first in each
    sorted_groups = group[by_group]
    firsts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[firsts, n])
    representative = by_group[firsts]
    canonical = np.argsort(r[representative], kind="stable")  # groups by their representative's id
    new_of_old = np.empty(len(canonical), dtype=np.int64)  # np.unique numbers groups 0..G-1
    new_of_old[canonical] = np.arange(len(canonical))
    members = by_group[np.argsort(new_of_old[sorted_groups], kind="stable")]
    offsets = np.r_[0, np.cumsum(sizes[canonical])]
    group_of = new_of_old[group]
    reps = representative[canonical]
    distinct = corpus if len(reps) == n and np.array_equal(reps, np.arange(n)) else corpus.select(reps.tolist())
    return DistinctPassages(distinct, torch.from_numpy(group_of), torch.from_numpy(offsets.astype(np.int64)),
                            torch.from_numpy(members.astype(np.int64)), ranks,
                            torch.arange(len(reps), dtype=torch.int64))

