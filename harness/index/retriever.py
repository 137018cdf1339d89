"""The harness' side of the Encoder contract: an :class:`~retrievers.base.Encoder` made into a
:class:`~retrievers.base.Retriever` with the store, exact or approximate search and the hooks
the probe reads.

A retriever family's ``build()`` returns an Encoder (queries and passages to vectors) or, for
families that are not encoders (bm25), a complete Retriever; :func:`as_retriever` tells them
apart (the Protocols of :mod:`retrievers.base`, checked on what ``build()`` returned) and wraps
an Encoder in :class:`EncoderRetriever`, whose store and search are fixed when it is made:

    retriever = as_retriever(encoder, "mire", store=StoreSpec(...), search=AnnParams(...))
    retriever.index(corpus)                 # the store (and the ivf/ivfpq index over it)
    run = retriever.search(queries, k, view)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from harness.core.distributed import all_gather_topk, world
from harness.core.errors import MireEvalError
from harness.core.progress import progress
from harness.core.types import Corpus, Query, Run
from harness.index.ann.params import AnnParams
from harness.index.ann.retrieve import ApproximateSearch
from harness.index.ann.single import SINGLE_VECTOR, OneTokenMaxSim
from harness.index.distinct import distinct_passages
from harness.core.ranking import topk_trec
from harness.index.exact import TokenStore, VectorStore, cosine_search, maxsim_search
from harness.index.store_index import StoreSpec, build_store
from retrievers.base import VIEWS, Encoder, Retriever, check_encoder, check_view, describe_record

DEFAULT_BATCH = 64  # passages / queries handed to an encoder at once, unless it says otherwise


class EncoderRetriever:
    """Index = every distinct passage encoded once into fp16 vectors; search = exact scan, or
    the ``ivf``/``ivfpq`` index of the store (``search``), both chosen when it is made.

    Identical passages (equal title and text) share one vector and so one score, bit for bit,
    in every search mode, whatever their rows; the groups are laid out in an order the corpus
    file's order does not change (:mod:`harness.index.distinct`).

    With a :class:`~harness.index.store_index.StoreSpec` (``store``; ``mire-eval run`` always
    gives one) the vectors live in an on-disk store, encoded once per passage side of the
    encoder x corpus, resumable and split over torchrun's ranks, and search tiles straight from
    its memory-mapped shards. Without one they are held in memory (tests, notebooks).
    ``passage_batch`` / ``query_batch``: the encoder's own ``passage_batch`` / ``query_batch``
    when it declares them, else 64. Approximate search needs a store (else :class:`MireEvalError`
    here, before anything is encoded); a single-vector encoder is then searched as one-row
    matrices (:class:`harness.index.ann.single.OneTokenMaxSim`), which scores as it does.
    """

    def __init__(self, encoder: Encoder, passage_batch: int | None = None, query_batch: int | None = None,
                 shard_passages: int | None = None, store: StoreSpec | None = None,
                 search: AnnParams | None = None):
        if search is not None and encoder.similarity in SINGLE_VECTOR:
            encoder = OneTokenMaxSim(encoder)  # one-row matrices: MaxSim = the dot product, same scores
        self.encoder = encoder
        self.shard_passages = shard_passages  # None: the store's default
        self.name = encoder.name
        self.passage_batch = passage_batch or getattr(encoder, "passage_batch", DEFAULT_BATCH)
        self.query_batch = query_batch or getattr(encoder, "query_batch", DEFAULT_BATCH)
        self.store_spec = store
        self.search_params = search
        if search is not None:
            if store is None:
                raise MireEvalError(f"--search {search.mode}: builds on the embedding store; unset MIRE_EVAL_STORE=off")
        self.store_info: dict | None = None  # meta.json's "store" after an index through the store
        self.index_store = None  # TokenStore / VectorStore in memory, or a store's mapped view
        self.corpus: Corpus | None = None
        self.distinct = None  # harness.index.distinct.DistinctPassages of the corpus, set by index()
        self.approximate: ApproximateSearch | None = None  # built by index() when ``search`` asks for it

    def index(self, corpus: Corpus) -> None:
        self.approximate = None  # an index of the previous vectors does not apply
        self.distinct = distinct = distinct_passages(corpus)
        if self.store_spec is not None:
            spec = self.store_spec
            if self.shard_passages:
                spec = replace(spec, shard_passages=self.shard_passages)
            opened = build_store(self.encoder, distinct.corpus, spec, self.passage_batch)
            self.index_store, self.store_info = opened.index, {**opened.info, "passages": distinct.describe()}
            if self.search_params is not None:
                self.approximate = ApproximateSearch(opened.store, self.search_params)
        else:
            self.index_store, self.store_info = self._in_memory(distinct.corpus), None
        self.corpus = corpus
        self._ranks = distinct.group_ranks  # the index's rows are the groups

    def index_info(self) -> dict:
        """meta.json's ``"store"`` (None in memory) and, when approximate, ``"ann"``."""
        out = {"store": self.store_info}
        if self.approximate is not None:
            out["ann"] = self.approximate.describe()
        return out

    def _in_memory(self, corpus: Corpus) -> TokenStore | VectorStore:
        parts: list = []
        with torch.inference_mode():
            for _, passages in progress(corpus.batches(self.passage_batch), f"index {self.name}",
                                        total=-(-len(corpus) // self.passage_batch), unit="batch"):
                encoded = self.encoder.encode_passages(passages)
                if self.encoder.similarity == "maxsim":
                    parts.extend(m.detach().to("cpu", torch.float16) for m in encoded)
                else:
                    parts.append(encoded.detach().to("cpu", torch.float16))
        if self.encoder.similarity == "maxsim":
            return TokenStore.from_matrices(parts)
        return VectorStore(torch.cat(parts))

    @property
    def store(self) -> TokenStore | VectorStore | None:
        """The in-memory index (None when the index is an on-disk store's mapped view)."""
        return self.index_store if self.store_info is None else None

    def passage_vectors(self, row: int) -> torch.Tensor:
        """Corpus row ``row``'s fp16 vectors as the search read them (its group's): [L, d] or [d]."""
        return self.index_store.passage(int(self.distinct.group_of[row]))

    def encode_queries(self, queries: Sequence[Query], view: str):
        out: list = []
        with torch.inference_mode():
            for i in progress(range(0, len(queries), self.query_batch), f"encode queries ({view})", unit="batch"):
                encoded = self.encoder.encode_queries(queries[i : i + self.query_batch], view)
                if self.encoder.similarity == "maxsim":
                    out.extend(m.detach().float().cpu() for m in encoded)
                else:
                    out.append(encoded.detach().float().cpu())
        return out if self.encoder.similarity == "maxsim" else torch.cat(out)

    def search(self, queries: Sequence[Query], k: int, view: str = "full") -> Run:
        """Exact top-k. Under torchrun with a store, each rank scans its share of the tiles
        (read from the mapped shards) and the per-rank top-k are merged (all_gather) in
        trec_eval's order: every rank returns the run one process would, bit for bit."""
        check_view(view)
        if self.index_store is None or self.corpus is None:
            raise RuntimeError("index() the corpus before search()")
        if not queries:
            return {}
        if view == "image" and "image" not in self.encoder.modalities:
            # A text-only model given no text has nothing to search with.
            return {q.id: {} for q in queries}
        encoded = self.encode_queries(queries, view)
        search = maxsim_search if self.encoder.similarity == "maxsim" else cosine_search
        w = world()
        split = self.store_info is not None and w.world_size > 1
        part = (w.rank, w.world_size) if split else (0, 1)
        if self.approximate is not None:
            scores, rows = self.approximate.search(encoded, k, self._ranks)
            split = False  # merged over the ranks already
        else:
            scores, rows = search(encoded, self.index_store, k, self._ranks, part=part)
        if split:
            scores, rows = merge_ranks(scores, rows, min(k, len(self.distinct.corpus)), self._ranks)
        scores, rows = self.distinct.expand(scores, rows, min(k, len(self.corpus)))
        ids = self.corpus.ids
        return {
            q.id: {ids[r]: float(s) for s, r in zip(scores[i].tolist(), rows[i].tolist()) if r >= 0}
            for i, q in enumerate(queries)
        }

    def describe(self) -> dict:
        """The encoder's ``describe()`` with ``search``; a common key the encoder leaves out
        (one written without them) gets a neutral value rather than failing the run."""
        unsaid = {"name": self.encoder.name, "checkpoint": None, "options": {},
                  "views": {v: f"the encoder's {v!r} view" for v in VIEWS}}
        search = "exact" if self.search_params is None else self.search_params.mode
        return describe_record(**{**unsaid, **self.encoder.describe(), "search": search,
                                  "similarity": self.encoder.similarity})


def merge_ranks(scores: torch.Tensor, rows: torch.Tensor, k: int, ranks: torch.Tensor):
    """Every rank's top-k [nq, k] -> the global top-k, ties by trec_eval's id order."""
    all_scores, all_rows = all_gather_topk(scores, rows, k)  # (W, nq, k)
    cand_scores = torch.cat(list(all_scores), 1)  # (nq, W * k)
    cand_rows = torch.cat(list(all_rows), 1)
    best, idx = topk_trec(cand_scores, ranks[cand_rows], k)
    return best, cand_rows.gather(1, idx)


def as_retriever(built, name: str, store: StoreSpec | None = None, search: AnnParams | None = None, **batching):
    """What a family's ``build()`` returned, as a Retriever: an :class:`~retrievers.base.Encoder`
    is wrapped in :class:`EncoderRetriever` with ``store`` and ``search`` (``batching``: its
    ``passage_batch`` / ``query_batch`` / ``shard_passages``); a complete
    :class:`~retrievers.base.Retriever` is returned as it is, and refuses approximate search.
    Anything else is a :class:`MireEvalError` naming what is missing."""
    if isinstance(built, Retriever):
        if search is not None and getattr(built, "search_params", None) != search:
            raise MireEvalError(f"--search {search.mode}: retriever {name!r} is not a late-interaction (maxsim) "
                                "encoder made for it; only --search exact applies")
        return built
    check_encoder(built, name)
    return EncoderRetriever(built, store=store, search=search, **batching)


def index_for_run(retriever, corpus: Corpus) -> dict:
    """Index ``corpus``; meta.json's ``"store"``, ``"distributed"`` and, when approximate, ``"ann"``."""
    retriever.index(corpus)
    info = retriever.index_info() if isinstance(retriever, EncoderRetriever) else {"store": None}
    return {**info, "distributed": world().describe()}
