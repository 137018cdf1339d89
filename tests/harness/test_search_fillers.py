"""Regression: more queries than one query block and k above the corpus size.

The running top-k widens every query's buffer with (-inf, row 0) fillers when the first
query block meets a tile; later blocks must not return those fillers as results (they
overwrote the real score of corpus row 0 with -inf)."""

import torch

from harness.index.exact import maxsim_scores
from harness.core.types import Corpus, Query
from harness.index.retriever import EncoderRetriever


class RandomTokens:
    name = "random-tokens"
    similarity = "maxsim"
    modalities = frozenset({"text"})

    def _matrix(self, text):
        g = torch.Generator().manual_seed(sum(map(ord, text)))
        return torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=1)

    def encode_queries(self, queries, view):
        return [self._matrix(q.text) for q in queries]

    def encode_passages(self, passages):
        return [self._matrix(p.contents) for p in passages]

    def describe(self):
        return {}


def test_no_filler_results_beyond_the_first_query_block():
    corpus = Corpus.from_records([{"_id": f"p{i}", "title": "", "text": f"passage {i}"} for i in range(5)])
    queries = [Query(f"q{i}", f"question {i}") for i in range(70)]  # query_block is 64
    retriever = EncoderRetriever(RandomTokens())
    retriever.index(corpus)
    run = retriever.search(queries, k=10)
    enc = RandomTokens()
    d = torch.stack(enc.encode_passages([corpus[i] for i in range(5)])).half().float()
    for q in queries:
        assert sorted(run[q.id]) == [f"p{i}" for i in range(5)]
        expected = maxsim_scores(enc._matrix(q.text)[None], torch.ones(1, 3, dtype=torch.bool), d,
                                 torch.ones(5, 3, dtype=torch.bool))[0]
        for i in range(5):
            assert abs(run[q.id][f"p{i}"] - float(expected[i])) < 1e-3, (q.id, i)
