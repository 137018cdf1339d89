"""The retriever contract: what a family's ``build()`` returns.

``build(checkpoint, device, **options)`` (named in :mod:`retrievers.registry`) returns either

* an :class:`Encoder` (dense and late-interaction models: queries and passages to vectors,
  plus their similarity). The harness adds everything else: the embedding store, exact or
  approximate search, the probe's views and attribution
  (:class:`harness.index.retriever.EncoderRetriever`); or
* a complete :class:`Retriever`, for families that are not encoders (BM25):

    retriever.index(corpus)                      # once per corpus
    run = retriever.search(queries, k, view)     # {qid: {pid: score}}
    retriever.describe()                         # what meta.json records (DESCRIBE_KEYS first)

What ``build()`` returned is checked against these protocols (:func:`check_encoder`) before
anything is indexed.

Views: ``full`` (image and question), ``text`` (image removed), ``image`` (question
removed). How a view is realised is the retriever's business and goes into ``describe()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from harness.core.errors import MireEvalError
from harness.core.types import Corpus, Passage, Query, Run

VIEWS = ("full", "text", "image")
SIMILARITIES = ("maxsim", "cosine", "dot")
MODALITIES = frozenset({"text", "image"})

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
    """What a dense or late-interaction model provides (the harness does the rest).

    ``similarity`` is ``"cosine"`` (encoders return one normalised vector per item, as a
    [n, d] float tensor), ``"dot"`` (the same, not normalised) or ``"maxsim"`` (a list of [L_i, d] float token matrices, one per item).
    ``modalities`` is the set of query inputs the model reads ({"text"} or {"text", "image"}).

    ``describe()`` gives every key of :data:`DESCRIBE_KEYS` but ``search`` (which the harness
    adds); it is also part of an on-disk store's key.

    Optional attributes: ``passage_batch`` / ``query_batch`` (int, how many passages / queries
    the harness hands ``encode_*`` at once; 64 when absent. A maxsim family that sorts passages
    by length inside a window makes the window its ``passage_batch``). Optional hooks read by
    the text-dominance probe (:mod:`harness.probe.attribution`, :mod:`harness.probe.views`) are
    the protocols of :mod:`retrievers.hooks`; training is ``build_trainable`` beside ``build``
    (:mod:`retrievers.registry`).
    """

    name: str
    similarity: str
    modalities: frozenset[str]

    def encode_queries(self, queries: Sequence[Query], view: str): ...

    def encode_passages(self, passages: Sequence[Passage]): ...

    def describe(self) -> dict: ...


def check_encoder(encoder, name: str) -> None:
    """Raise :class:`MireEvalError` unless ``encoder`` (what retriever ``name``'s ``build()``
    returned) is an :class:`Encoder`: every member present, ``similarity`` one of
    :data:`SIMILARITIES`, ``modalities`` a non-empty subset of :data:`MODALITIES`.

    >>> check_encoder(object(), "x")
    Traceback (most recent call last):
    ...
    harness.core.errors.MireEvalError: retriever 'x': build() returned object, neither an Encoder nor a Retriever (missing: name, similarity, modalities, encode_queries, encode_passages, describe)
    """
    if not isinstance(encoder, Encoder):
        missing = [m for m in ("name", "similarity", "modalities", "encode_queries", "encode_passages", "describe")
                   if not hasattr(encoder, m)]
        raise MireEvalError(f"retriever {name!r}: build() returned {type(encoder).__name__}, neither an Encoder "
                            f"nor a Retriever (missing: {', '.join(missing)})")
    if encoder.similarity not in SIMILARITIES:
        raise MireEvalError(f"retriever {name!r}: similarity {encoder.similarity!r}; known: {', '.join(SIMILARITIES)}")
    if not encoder.modalities or not set(encoder.modalities) <= MODALITIES:
        raise MireEvalError(f"retriever {name!r}: modalities {sorted(encoder.modalities)} must be a non-empty "
                            f"subset of {sorted(MODALITIES)}")
