"""The retriever contract, and the one indexing/search implementation encoders share.

A :class:`Retriever` turns a corpus into an index and answers queries from it:

    retriever.index(corpus)                      # once per corpus
    run = retriever.search(queries, k, view)     # {qid: {pid: score}}
    retriever.describe()                         # what meta.json records (DESCRIBE_KEYS first)

Dense and late-interaction models implement only an :class:`Encoder` (queries and passages
to vectors, plus their similarity); :class:`EncoderRetriever` gives them indexing and exact
search from :mod:`harness.search`. Lexical retrievers (BM25) implement the protocol directly.

Views: ``full`` (image and question), ``text`` (image removed), ``image`` (question
removed). How a view is realised is the retriever's business and goes into ``describe()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

import torch

from harness.distributed import all_gather_topk, world
from harness.errors import MireEvalError
from harness.progress import progress
from harness.search import TokenStore, VectorStore, cosine_search, maxsim_search, topk_trec
from harness.types import Corpus, Passage, Query, Run

VIEWS = ("full", "text", "image")

# The keys every retriever's describe() starts with (meta.json's "retriever"), in this order:
# its registry name, the --checkpoint it loaded (None: none), "bm25" | "maxsim" | "cosine",
# how it searches, how each of VIEWS is realised (read by the probe), and the named options in
# effect (what ``--option`` can set). A family's own details follow them.
DESCRIBE_KEYS = ("name", "checkpoint", "similarity", "search", "views", "options")


def check_view(view: str) -> None:
    if view not in VIEWS:
        raise MireEvalError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")


def describe_record(**fields) -> dict:
    """A ``describe()`` dict: :data:`DESCRIBE_KEYS` first (each one required, ``views`` naming
    every view), then the family's own fields.

    >>> describe_record(name="x", checkpoint=None, similarity="cosine", search="exact", options={},
    ...                 views={"full": "f", "text": "t", "image": "i"}, extra=1)["extra"]
    1
    """
    missing = [k for k in DESCRIBE_KEYS if k not in fields]
    if missing:
        raise ValueError(f"describe(): missing common key(s) {missing}")
    if set(fields["views"]) != set(VIEWS):
        raise ValueError(f"describe(): views must name {', '.join(VIEWS)}, got {sorted(fields['views'])}")
    return {**{k: fields.pop(k) for k in DESCRIBE_KEYS}, **fields}


@runtime_checkable
class Retriever(Protocol):
    name: str

    def index(self, corpus: Corpus) -> None: ...

    def search(self, queries: Sequence[Query], k: int, view: str = "full") -> Run: ...

    def describe(self) -> dict: ...


@runtime_checkable
class Encoder(Protocol):
    """What a dense or late-interaction model provides.

    ``similarity`` is ``"cosine"`` (encoders return one normalised vector per item, as a
    [n, d] tensor) or ``"maxsim"`` (a list of [L_i, d] token matrices).
    ``modalities`` is the set of query inputs the model reads ({"text"} or {"text", "image"}).

    ``describe()`` gives every key of :data:`DESCRIBE_KEYS` but ``search`` (which
    :class:`EncoderRetriever` adds); it is also part of an on-disk store's key.

    Optional hooks read by the text-dominance probe (:mod:`harness.attribution`,
    :mod:`harness.probe`) are the protocols of :mod:`retrievers.hooks`.
    """

    name: str
    similarity: str
    modalities: frozenset[str]

    def encode_queries(self, queries: Sequence[Query], view: str): ...

    def encode_passages(self, passages: Sequence[Passage]): ...

    def describe(self) -> dict: ...


class EncoderRetriever:
    """Index = every distinct passage encoded once into fp16 vectors; search = exact scan.

    Identical passages (equal title and text) share one vector and so one score, bit for bit,
    in every search mode, whatever their rows; the groups are laid out in an order the corpus
    file's order does not change (:mod:`harness.distinct`).

    Given a :class:`~harness.store_index.StoreSpec` (:meth:`use_store`; ``mire-eval run``
    always gives one), the vectors live in an on-disk store, encoded once per passage side of
    the encoder x corpus, resumable and split over torchrun's ranks, and search tiles straight
    from its memory-mapped shards. Without one they are held in memory (tests, notebooks).
    """

    def __init__(self, encoder: Encoder, passage_batch: int = 64, query_batch: int = 64,
                 shard_passages: int | None = None):
        self.encoder = encoder
        self.shard_passages = shard_passages  # None: the store's default
        self.name = encoder.name
        self.passage_batch = passage_batch
        self.query_batch = query_batch
        self.store_spec = None
        self.store_info: dict | None = None  # meta.json's "store" after an index through the store
        self.index_store = None  # TokenStore / VectorStore in memory, or a store's mapped view
        self.corpus: Corpus | None = None
        self.distinct = None  # harness.distinct.DistinctPassages of the corpus, set by index()
        self.approximate = None  # harness.ann.retrieve.ApproximateSearch (--search ivf|ivfpq), set after index()

    def use_store(self, spec) -> None:
        """Index through the on-disk store described by ``spec`` from now on."""
        self.store_spec = spec

    def index(self, corpus: Corpus) -> None:
        from harness.distinct import distinct_passages

        self.approximate = None  # an index of the previous vectors does not apply
        self.distinct = distinct = distinct_passages(corpus)
        if self.store_spec is not None:
            from harness.store_index import build_store

            spec = self.store_spec
            if self.shard_passages:
                spec = replace(spec, shard_passages=self.shard_passages)
            opened = build_store(self.encoder, distinct.corpus, spec, self.passage_batch)
            self.index_store, self.store_info = opened.index, {**opened.info, "passages": distinct.describe()}
        else:
            self.index_store, self.store_info = self._in_memory(distinct.corpus), None
        self.corpus = corpus
        self._ranks = distinct.group_ranks  # the index's rows are the groups

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
        search = "exact" if self.approximate is None else self.approximate.params.mode
        return describe_record(**{**unsaid, **self.encoder.describe(), "search": search,
                                  "similarity": self.encoder.similarity})


def merge_ranks(scores: torch.Tensor, rows: torch.Tensor, k: int, ranks: torch.Tensor):
    """Every rank's top-k [nq, k] -> the global top-k, ties by trec_eval's id order."""
    all_scores, all_rows = all_gather_topk(scores, rows, k)  # (W, nq, k)
    cand_scores = torch.cat(list(all_scores), 1)  # (nq, W * k)
    cand_rows = torch.cat(list(all_rows), 1)
    best, idx = topk_trec(cand_scores, ranks[cand_rows], k)
    return best, cand_rows.gather(1, idx)
