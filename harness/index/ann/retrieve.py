"""``--search ivf|ivfpq`` for a run: the index of an embedding store, built once beside it, and
the approximate search :class:`harness.index.retriever.EncoderRetriever` hands its query matrices to.

    params = search_params("ivf", {"nprobe": "8"})    # checked when the run is set up
    approximate = ApproximateSearch(store, params)     # by EncoderRetriever.index(), after the store
    scores, rows = approximate.search(query_mats, k, ranks)

The index lives in ``<store>/ann/<index name>/`` (:func:`harness.index.ann.index.index_name`: the
store key + build parameters), so ``mire-eval cache rm`` removes it with its store and a new
store (other weights, options or corpus) never meets an old index.

Under torchrun the build is split by shard (:func:`harness.index.ann.index.build_index`: rank 0
trains the centroids, each rank assigns the tokens of the shards it encoded, rank 0 assembles)
and every rank then maps the same index; candidate generation is the same on every rank, each rank reranks
the candidates in the shards it owns (shard ``s % W == rank``, as it encoded them)
and the per-rank top-k are merged (all_gather) in trec_eval's order: the union of the ranks'
candidates is one process's candidate set and the MaxSim of a passage does not depend
on the rank scoring it, so the run is one process's run. ``ivfpq`` with ``refine`` does this
twice: the global best max(k, refine) by decoded MaxSim, then their exact rescoring.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict

import torch

from harness.index.ann.index import build_index, index_name
from harness.index.ann.inputs import from_store_shards
from harness.index.ann.params import MODES, AnnParams, check_fits, describe_estimate, estimate, parse_params
from harness.index.ann.query import Searcher, merge_topk
from harness.core.distributed import all_gather_topk, world
from harness.core.errors import MireEvalError
from harness.index.exact import maxsim_search

SEARCH_MODES = ("exact", *MODES)


def search_params(mode: str, options: dict | None) -> AnnParams | None:
    """``--search MODE`` + ``--search-option`` pairs -> checked parameters (None for exact).

    >>> search_params("exact", {}) is None, search_params("ivf", {"nprobe": "8"}).nprobe
    (True, 8)
    """
    if mode not in SEARCH_MODES:
        raise MireEvalError(f"--search {mode}: unknown search; known: {', '.join(SEARCH_MODES)}")
    if mode == "exact":
        if options:
            raise MireEvalError(f"--search-option {next(iter(options))}: only --search ivf or ivfpq takes options")
        return None
    return parse_params(mode, options)


def search_identity(mode: str, options: dict | None) -> dict | None:
    """What a run's identity records of its search: None for exact (so exact runs keep their
    tags), else every parameter with defaults filled, so ``nprobe=2`` and no option name the
    same run."""
    params = search_params(mode, options)
    if params is None:
        return None
    out = asdict(params)
    if params.mode == "ivf":
        out.pop("refine")  # ivf never refines: its runs keep the tags they had before refine existed
    return out


def _say(line: str) -> None:
    if world().is_main:
        print(line, file=sys.stderr, flush=True)


class ApproximateSearch:
    """The ``ivf``/``ivfpq`` index of one store (a :class:`harness.index.store.Store`), built or
    reused at construction; :meth:`search` answers like :func:`harness.index.exact.maxsim_search`."""

    def __init__(self, store, params: AnnParams, say=_say):
        shards = [store.open_shard(s) for s in range(store.plan.n_shards)]
        self.shard_passages = store.plan.shard_passages
        each, self.tokens = from_store_shards(shards)
        total = sum(int(e["rows_shape"][0]) for _, e in shards)
        dim = int(shards[0][1]["rows_shape"][1])
        params = parse_params(params.mode, {k: v for k, v in asdict(params).items() if k != "mode"}, dim)
        root = store.directory / "ann"
        root.mkdir(exist_ok=True)
        resolved = params.resolved(total)
        name = index_name(store.key, resolved)
        self.reused = (root / name / "meta.json").is_file()
        w = world()
        if not self.reused and w.is_main:
            est = estimate(total, dim, resolved, store.plan.n_passages)
            say(describe_estimate(est))  # the prediction, before any work
            check_fits(est, root)
        phases = lambda line: None if line.startswith("shard ") else say(f"index {store.key}: {line}")  # noqa: E731
        self.index = build_index(each, total, dim, params, root, store.key, store.plan.n_passages,
                                 progress=phases if w.is_main else None, rank=w.rank, world_size=w.world_size)
        self.params = self.index.params
        self.directory = root / name
        self.searcher = Searcher(self.index, self.tokens)

    def describe(self) -> dict:
        """meta.json's ``"ann"``: mode, parameters as used (nlist and sample derived), where, reuse."""
        return {**asdict(self.params), "path": str(self.directory), "reused": self.reused}

    def _owned(self, rows: torch.Tensor) -> torch.Tensor:
        w = world()
        if w.world_size == 1:
            return rows
        return rows[(rows // self.shard_passages) % w.world_size == w.rank]

    def search(self, queries: Sequence[torch.Tensor], k: int, ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (scores fp32, corpus rows int64), each [nq, k], trec_eval order; ``queries``
        are [Lq, d] matrices, ``ranks`` :func:`harness.core.ranking.id_ranks` of the corpus ids.
        Rows a query has no candidate for are padded with (-inf, -1)."""
        p = self.params
        k = min(k, len(ranks))
        keep = max(p.candidates, k)
        # ivfpq with refine: the global best max(k, refine) by decoded MaxSim (at most the
        # candidates) are rescored exactly, each rank its own (a per-rank refine would rescore
        # passages one process never would, and the run would depend on the world size).
        first = [self.searcher.candidates(q, p.nprobe, keep, p.interaction) for q in queries]
        refine = p.rescored(k, min(keep, len(ranks)))  # the ranks' candidates together: at most keep
        out_s, out_r = self._topk(queries, first, refine or k, ranks, decoded=None)
        if refine:
            out_s, out_r = self._topk(queries, [r[r >= 0] for r in out_r], k, ranks, decoded=False)
        return out_s, out_r

    def _topk(self, queries, rows_of, k: int, ranks: torch.Tensor, decoded: bool | None):
        """Top-k over every rank of each query's candidate rows (each rank scores the rows it
        owns), merged in trec_eval's order; padded with (-inf, -1)."""
        out_s = torch.full((len(queries), k), float("-inf"))
        out_r = torch.full((len(queries), k), -1, dtype=torch.int64)
        for i, (q, rows) in enumerate(zip(queries, rows_of)):
            rows = self._owned(rows)
            if len(rows):
                vals, got = maxsim_search([q.float()], self.searcher.candidate_store(rows, decoded), k, ranks)
                out_s[i, : vals.shape[1]], out_r[i, : got.shape[1]] = vals[0], got[0]
        if world().world_size > 1:
            all_s, all_r = all_gather_topk(out_s, out_r, k)
            out_s, out_r = merge_topk(list(zip(all_s, all_r)), k, ranks)
        return out_s, out_r
