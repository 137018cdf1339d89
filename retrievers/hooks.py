"""The optional hooks the text-dominance probe reads (:mod:`harness.attribution`,
:mod:`harness.probe`), as runtime-checkable protocols: an encoder offers one by having the
method or attribute, and the probe asks with ``isinstance``. Nothing here imports torch, so
the probe's modules stay light to import.

* :class:`TypesQueryTokens` or :class:`DeclaresVisualRows`: which query rows are visual, so a
  MaxSim score splits exactly into text and visual parts;
* :class:`SourcesQueryTokens`: which component produced each query row (finer than visual/text);
* :class:`SumsModalities`: a single-vector query that is the normalised sum of a text and an
  image part, so a cosine score splits exactly into text and image parts;
* :class:`PoolingAttention`: each pooling head's attention over the image patches;
* :class:`IndexedPassages` (a retriever, not an encoder): the passage vectors the search read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from harness.types import Corpus, Query
    from retrievers.base import Encoder


@runtime_checkable
class DeclaresVisualRows(Protocol):
    """A maxsim encoder whose query matrix starts with ``visual_query_tokens`` visual rows
    whenever the view keeps the image (MIRe: 16 + 12), the text rows after them. Lets the
    probe split each MaxSim score exactly into text and visual parts."""

    visual_query_tokens: int


@runtime_checkable
class TypesQueryTokens(Protocol):
    """The general form of :class:`DeclaresVisualRows` (and preferred over it): which rows of
    each query matrix are visual, aligned with ``encode_queries(queries, view)``."""

    def query_token_types(self, queries: Sequence[Query], view: str) -> list[torch.Tensor]:
        """Per query a BoolTensor [L_i], True where the row is a visual token."""
        ...


@runtime_checkable
class SourcesQueryTokens(Protocol):
    """Finer than :class:`TypesQueryTokens`: which component produced each query row
    (PreFLMR: 0 text tokens, 1 mapped CLS, 2 mapping network), so a MaxSim score splits by
    source as exactly as by modality."""

    def query_token_sources(self, queries: Sequence[Query], view: str) -> list[torch.Tensor]:
        """Per query a LongTensor [L_i] of source indices, aligned with ``encode_queries``."""
        ...


@runtime_checkable
class SumsModalities(Protocol):
    """A cosine encoder whose query vector is ``(t + v) / |t + v|`` (UniIR CLIP_SF's score-level
    fusion), so ``cos(q, p) = t.p / |t + v| + v.p / |t + v|`` exactly."""

    def query_parts(self, queries: Sequence[Query], view: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(text, image)``, each [n, d] float32: the two parts of each query vector of
        ``encode_queries(queries, view)``, summing to it (a part absent from the view is 0)."""
        ...


@runtime_checkable
class PoolingAttention(Protocol):
    """An encoder that pools image patches under the question's guidance (MIRe)."""

    def pooling_attention(self, queries: Sequence[Query]) -> torch.Tensor:
        """Each head's attention over the P image patches, averaged over the question's valid
        tokens: [B, heads, P], rows summing to 1 (drawn by ``mire-eval plot`` over the image)."""
        ...


@runtime_checkable
class IndexedPassages(Protocol):
    """A retriever that can give back the passage vectors its search read (the exact gold
    scores of :mod:`harness.attribution`): :class:`~retrievers.base.EncoderRetriever`."""

    encoder: Encoder
    corpus: Corpus | None

    def encode_queries(self, queries: Sequence[Query], view: str): ...

    def passage_vectors(self, row: int) -> torch.Tensor: ...


@runtime_checkable
class ChecksQueries(Protocol):
    """An encoder that can tell, before any passage is encoded, that it cannot realise a view
    of these queries (a text-only model asked for images): it raises one line then."""

    def check_queries(self, queries: Sequence[Query], view: str) -> None: ...


def check_queries(retriever, queries: Sequence[Query], view: str) -> None:
    """Ask the retriever's encoder (when it offers :class:`ChecksQueries`) to refuse early."""
    encoder = getattr(retriever, "encoder", retriever)
    if isinstance(encoder, ChecksQueries):
        encoder.check_queries(queries, view)
