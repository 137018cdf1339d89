"""Exact search against brute force: padding masked, trec tie order, bounded tiles."""

import torch

from harness.core.ranking import id_ranks, topk_trec
from harness.index.exact import TokenStore, VectorStore, cosine_search, maxsim_search


def brute_force_maxsim(queries, passages):
    return torch.tensor([[float((q @ p.T).max(dim=1).values.sum()) for p in passages] for q in queries])


def trec_topk(scores_row, ids, k):
    order = sorted(range(len(ids)), key=lambda i: ids[i].encode(), reverse=True)
    order.sort(key=lambda i: float(scores_row[i]), reverse=True)
    return order[:k]


def test_maxsim_search_equals_brute_force_with_negative_similarities():
    g = torch.Generator().manual_seed(0)
    # Vectors with all-negative similarities: a zero-filled pad would win the max here.
    passages = [-torch.rand(int(n), 8, generator=g) for n in torch.randint(1, 30, (200,), generator=g)]
    queries = [torch.rand(int(n), 8, generator=g) for n in torch.randint(1, 12, (9,), generator=g)]
    passages = [p.half().float() for p in passages]  # the store keeps fp16
    ids = [f"p{i:04d}" for i in range(len(passages))]
    store = TokenStore.from_matrices(passages)
    scores, rows = maxsim_search(queries, store, k=17, ranks=id_ranks(ids), tile_tokens=64, query_block=4)
    expected = brute_force_maxsim(queries, passages)
    for i in range(len(queries)):
        assert rows[i].tolist() == trec_topk(expected[i], ids, 17)
        assert torch.allclose(scores[i], expected[i][rows[i]], atol=1e-4)
    assert (scores < 0).all()


def test_tiles_respect_the_token_budget():
    store = TokenStore.from_matrices([torch.ones(n, 2) for n in [1, 2, 3, 50, 4, 4]])
    tiles = store.tiles(max_tokens=8)
    assert [t[0] for t in tiles] == [0] + [t[1] for t in tiles[:-1]] and tiles[-1][1] == 6
    assert all((stop - start) * longest <= 8 or stop - start == 1 for start, stop, longest in tiles)


def test_ties_at_the_kth_place_follow_trec_order_across_tiles():
    # 30 identical passages: all tie; trec_eval keeps the largest ids.
    ids = [f"d{i:02d}" for i in range(30)]
    store = TokenStore.from_matrices([torch.ones(2, 4)] * 30)
    _, rows = maxsim_search([torch.ones(1, 4)], store, k=5, ranks=id_ranks(ids), tile_tokens=8)
    assert [ids[r] for r in rows[0].tolist()] == ["d29", "d28", "d27", "d26", "d25"]


def test_cosine_search_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    p = torch.nn.functional.normalize(torch.randn(500, 16, generator=g), dim=1).half()
    q = torch.nn.functional.normalize(torch.randn(7, 16, generator=g), dim=1)
    ids = [f"x{i}" for i in range(500)]
    scores, rows = cosine_search(q, VectorStore(p), k=10, ranks=id_ranks(ids), tile=64)
    full = q @ p.float().T
    for i in range(7):
        assert rows[i].tolist() == trec_topk(full[i], ids, 10)


def test_topk_trec_handles_k_larger_than_candidates():
    v, i = topk_trec(torch.tensor([[0.5, 0.1]]), torch.tensor([[0, 1]]), 10)
    assert i.tolist() == [[0, 1]]
