"""The retriever contract, and the one indexing/search implementation encoders share.

A :class:`Retriever` turns a corpus into an index and answers queries from it:

    retriever.index(corpus)                      # once per corpus
    run = retriever.search(queries, k, view)     # {qid: {pid: score}}
    retriever.describe()                         # what meta.json records

Dense and late-interaction models implement only an :class:`Encoder` (queries and passages
to vectors, plus their similarity); :class:`EncoderRetriever` gives them indexing and exact
search from :mod:`harness.search`. Lexical retrievers (BM25) implement the protocol directly.

Views: ``full`` (image and question), ``text`` (image removed), ``image`` (question
removed). How a view is realised is the retriever's business and goes into ``describe()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from tqdm.auto import tqdm

from harness.errors import MireEvalError
from harness.progress import progress
from harness.search import TokenStore, VectorStore, cosine_search, id_ranks, maxsim_search
from harness.types import Corpus, Passage, Query, Run

VIEWS = ("full", "text", "image")


def check_view(view: str) -> None:
    if view not in VIEWS:
        raise MireEvalError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")


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

    Optional, read by the text-dominance probe (:mod:`harness.attribution`, :mod:`harness.probe`):

    * ``visual_query_tokens: int``: a maxsim encoder's query matrix starts with that many
      visual rows whenever the view keeps the image (MIRe: 16 + 12), or, more generally,
      ``query_token_types(queries, view) -> list[BoolTensor [L_i]]`` (True = visual row);
      either lets the probe split each score exactly into text and visual parts;
    * ``pooling_attention(queries) -> Tensor [B, heads, P]``: each head's attention over the
      P image patches, averaged over the question's valid tokens (rows sum to 1), drawn by
      ``mire-eval plot`` over the query image.
    """

    name: str
    similarity: str
    modalities: frozenset[str]

    def encode_queries(self, queries: Sequence[Query], view: str): ...

    def encode_passages(self, passages: Sequence[Passage]): ...

    def describe(self) -> dict: ...


class EncoderRetriever:
    """Index = every passage encoded once into an fp16 store; search = exact scan."""

    def __init__(self, encoder: Encoder, passage_batch: int = 64, query_batch: int = 64):
        self.encoder = encoder
        self.name = encoder.name
        self.passage_batch = passage_batch
        self.query_batch = query_batch
        self.store: TokenStore | VectorStore | None = None
        self.corpus: Corpus | None = None

    def index(self, corpus: Corpus) -> None:
        parts: list = []
        with torch.inference_mode():
            for _, passages in tqdm(
                corpus.batches(self.passage_batch), total=-(-len(corpus) // self.passage_batch),
                desc=f"index {self.name}", unit="batch", leave=False,
            ):
                encoded = self.encoder.encode_passages(passages)
                if self.encoder.similarity == "maxsim":
                    parts.extend(m.detach().to("cpu", torch.float16) for m in encoded)
                else:
                    parts.append(encoded.detach().to("cpu", torch.float16))
        if self.encoder.similarity == "maxsim":
            self.store = TokenStore.from_matrices(parts)
        else:
            self.store = VectorStore(torch.cat(parts))
        self.corpus = corpus
        self._ranks = id_ranks(corpus.ids)

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
        check_view(view)
        if self.store is None or self.corpus is None:
            raise RuntimeError("index() the corpus before search()")
        if not queries:
            return {}
        if view == "image" and "image" not in self.encoder.modalities:
            # A text-only model given no text has nothing to search with.
            return {q.id: {} for q in queries}
        encoded = self.encode_queries(queries, view)
        if self.encoder.similarity == "maxsim":
            scores, rows = maxsim_search(encoded, self.store, k, self._ranks)
        else:
            scores, rows = cosine_search(encoded, self.store, k, self._ranks)
        ids = self.corpus.ids
        return {
            q.id: {ids[r]: float(s) for s, r in zip(scores[i].tolist(), rows[i].tolist())}
            for i, q in enumerate(queries)
        }

    def describe(self) -> dict:
        return {**self.encoder.describe(), "search": "exact", "similarity": self.encoder.similarity}
