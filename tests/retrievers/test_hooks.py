"""The probe's optional encoder hooks are protocols (retrievers/hooks.py): MIRe offers them,
ColBERTv2 and BM25 do not, and the probe sees them through its query-remembering wrapper."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from harness.index.retriever import EncoderRetriever
from harness.probe.attribution import RememberingEncoder, query_token_types, split_kind
from retrievers import bm25, colbert, mire
from retrievers.hooks import DeclaresVisualRows, IndexedPassages, PoolingAttention, TypesQueryTokens
from tests.helpers.single_thread import one_thread  # noqa: F401


def test_which_retriever_offers_which_hook(mire_dir, colbert_dir, queries):
    m, c = EncoderRetriever(mire.build(str(mire_dir))), EncoderRetriever(colbert.build(str(colbert_dir)))
    assert isinstance(m.encoder, DeclaresVisualRows) and isinstance(m.encoder, PoolingAttention)
    assert not isinstance(m.encoder, TypesQueryTokens)
    assert not isinstance(c.encoder, (DeclaresVisualRows, PoolingAttention, TypesQueryTokens))
    assert isinstance(m, IndexedPassages) and isinstance(c, IndexedPassages)  # what the harness makes of them
    assert not isinstance(bm25.build(), IndexedPassages)

    wrapped = RememberingEncoder(m.encoder)  # what the probe puts in front of the encoder
    assert split_kind(SimpleNamespace(encoder=wrapped)) == "maxsim per query token, visual rows as declared by the encoder"
    encoded = wrapped.encode_queries(queries[:2], "full")
    types = query_token_types(wrapped, queries[:2], "full", encoded)
    n_visual = m.encoder.visual_query_tokens
    assert n_visual == 28 and all(int(t.sum()) == n_visual and bool(t[:n_visual].all()) for t in types)
    assert all(int(t.sum()) == 0 for t in query_token_types(wrapped, queries[:2], "text",
                                                            wrapped.encode_queries(queries[:2], "text")))
    attention = m.encoder.pooling_attention(queries[:1])  # [B, heads, P], rows sum to 1
    assert attention.shape[:2] == (1, 12)
    torch.testing.assert_close(attention.sum(-1), torch.ones(1, 12))


def test_per_row_types_win_over_a_leading_count():
    class Leading:
        modalities = frozenset({"text", "image"})
        visual_query_tokens = 1

    class Both(Leading):
        def query_token_types(self, queries, view):
            return [[False, True] for _ in queries]

    q = SimpleNamespace(image=object())
    assert isinstance(Both(), TypesQueryTokens) and isinstance(Both(), DeclaresVisualRows)
    assert query_token_types(Both(), [q], "full", [torch.zeros(2, 4)])[0].tolist() == [False, True]
    assert not isinstance(Leading(), TypesQueryTokens)
    assert query_token_types(Leading(), [q], "full", [torch.zeros(2, 4)])[0].tolist() == [True, False]
