"""Approximate search (harness.index.ann): recall on clustered vectors, exact rerank, cache, merge, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from harness.index.ann import (
    AnnParams, Searcher, from_store_shards, build_index, check_fits, estimate, load_index, merge_topk, parse_params,
    rows_from_lengths, shards_from_arrays,
)
from harness.index.ann.index import index_name
from harness.core.errors import MireEvalError
from harness.core.ranking import id_ranks
from harness.index.exact import TokenStore, maxsim_scores, maxsim_search

DIM, PASSAGES, QUERIES = 32, 600, 20


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def corpus():
    """Clustered token vectors: word directions + a topic pull + noise; queries re-noise words of
    a source passage. Passages are stored out of row order (rows of tokens not monotonic)."""
    rng = np.random.default_rng(0)
    words, topics = unit(rng.standard_normal((400, DIM))), unit(rng.standard_normal((12, DIM)))
    lengths = rng.integers(4, 16, PASSAGES)
    topic = rng.integers(0, 12, PASSAGES)
    vocab = [rng.integers(0, 400, 40) for _ in range(12)]
    mats, wids = [], []
    for i in range(PASSAGES):
        w = rng.choice(vocab[topic[i]], lengths[i])
        mats.append(unit(words[w] + 0.4 * topics[topic[i]] + 0.1 * rng.standard_normal((lengths[i], DIM))))
        wids.append(w)
    order = rng.permutation(PASSAGES)
    tokens = np.concatenate([mats[i] for i in order]).astype(np.float16)
    rows = np.repeat(order, lengths[order])
    queries = []
    for p in rng.integers(0, PASSAGES, QUERIES):
        w = np.concatenate([rng.choice(wids[p], 6), rng.choice(vocab[topic[p]], 2)])
        queries.append(torch.from_numpy(unit(words[w] + 0.4 * topics[topic[p]]
                                             + 0.1 * rng.standard_normal((8, DIM))).astype(np.float32)))
    store = TokenStore.from_matrices([torch.from_numpy(m).to(torch.float16) for m in mats])
    ranks = id_ranks([f"p{i:04d}" for i in range(PASSAGES)])
    exact = maxsim_search(queries, store, 100, ranks)
    return {"tokens": tokens, "rows": rows, "mats": mats, "queries": queries, "ranks": ranks, "exact": exact}


def build(corpus, tmp_path, mode="ivf", key="store-a", shard_tokens=1500, **options):
    params = parse_params(mode, {"nlist": 128, "nprobe": 4, "candidates": 64, **options}, dim=DIM)
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], shard_tokens)
    return build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path, key)


def recall(rows, exact_rows, k):
    return np.mean([len(set(a[:k].tolist()) & set(b[:k].tolist())) / k for a, b in zip(rows, exact_rows)])


@pytest.mark.slow
def test_ivf_finds_most_of_the_exact_top10(corpus, tmp_path):
    index = build(corpus, tmp_path)
    _, rows = Searcher(index, corpus["tokens"]).search(corpus["queries"], 10, corpus["ranks"])
    assert recall(rows, corpus["exact"][1], 10) >= 0.9  # 64 of 600 passages reranked
    assert (rows[:, 0] == corpus["exact"][1][:, 0]).float().mean() >= 0.95


@pytest.mark.slow
def test_ivfpq_finds_most_of_the_exact_top10_within_40_bytes_per_token(corpus, tmp_path):
    index = build(corpus, tmp_path, "ivfpq", pq_m="8")
    _, rows = Searcher(index).search(corpus["queries"], 10, corpus["ranks"], refine=0)  # decoded only: no store
    assert recall(rows, corpus["exact"][1], 10) >= 0.8
    per_token = (index.codes.nbytes + index.pq_codes.nbytes + index.list_rows.nbytes) / len(corpus["tokens"])
    assert per_token <= estimate(len(corpus["tokens"]), DIM, index.params)["bytes_per_token"] <= 40


def test_rerank_is_exact_maxsim_of_the_candidates(corpus, tmp_path):
    searcher = Searcher(build(corpus, tmp_path), corpus["tokens"])
    q = corpus["queries"][0]
    rows = searcher.candidates(q, 4, 50)
    scores, got = maxsim_search([q], searcher.candidate_store(rows), 50, corpus["ranks"])
    assert sorted(got[0].tolist()) == sorted(rows.tolist())
    for s, r in zip(scores[0].tolist(), got[0].tolist()):
        d = torch.from_numpy(corpus["mats"][r]).to(torch.float16).float()
        one = maxsim_scores(q[None], torch.ones(1, len(q), dtype=torch.bool), d[None], None)
        assert s == pytest.approx(float(one), abs=1e-5)


@pytest.mark.slow
def test_ivfpq_refine_rescores_exactly_and_with_every_candidate_is_ivf(corpus, tmp_path):
    ivf = Searcher(build(corpus, tmp_path / "a"), corpus["tokens"])
    pq = Searcher(build(corpus, tmp_path / "b", "ivfpq", pq_m=8), corpus["tokens"])
    assert np.array_equal(ivf.index.codes, pq.index.codes)  # same centroids: the same candidates
    qs, ranks = corpus["queries"], corpus["ranks"]
    want = ivf.search(qs, 10, ranks, 4, 64)
    decoded = pq.search(qs, 10, ranks, 4, 64, refine=0)
    refined = pq.search(qs, 10, ranks, 4, 64, refine=64)  # every candidate rescored exactly
    assert torch.equal(refined[1], want[1]) and torch.equal(refined[0], want[0])
    assert not torch.equal(decoded[0], want[0])  # decoded scores are not the exact ones
    part = pq.search(qs, 10, ranks, 4, 64, refine=20)  # exact scores of the decoded best 20
    for i, q in enumerate(qs):
        for s, r in zip(part[0][i].tolist(), part[1][i].tolist()):
            d = torch.from_numpy(corpus["mats"][r]).to(torch.float16).float()
            one = maxsim_scores(q[None], torch.ones(1, len(q), dtype=torch.bool), d[None], None)
            assert s == pytest.approx(float(one), abs=1e-5)
    with pytest.raises(ValueError, match="fp16 token store"):
        Searcher(pq.index).search(qs[:1], 10, ranks, 4, 64, refine=20)
    assert parse_params("ivfpq", {"refine": "5"}).identity() == parse_params("ivfpq").identity()
    assert parse_params("ivfpq").refine == 100 and parse_params("ivf").refine == 0  # the defaults
    default = pq.search(qs, 10, ranks, 4, 64)  # ivfpq refines its decoded best 100 unless told not to
    assert torch.equal(default[0], pq.search(qs, 10, ranks, 4, 64, refine=100)[0])


def test_ivf_takes_ivfpq_options_only_at_the_values_it_holds(corpus):
    """What an ivf index stores (and ApproximateSearch parses back) is accepted; nothing else."""
    held = parse_params("ivf")
    assert parse_params("ivf", {"pq_m": "32", "pq_nbits": "8", "refine": "0"}) == held
    assert held.rescored(10, 64) == 0  # ivf never rescores


def test_refine_rescores_at_most_the_candidates_kept_whatever_its_value():
    """max(k, refine) bounded by the candidates: a huge refine is "every candidate", not an
    allocation of refine places per query."""
    pq = AnnParams(mode="ivfpq", refine=2**31 - 1)
    assert pq.rescored(10, 64) == 64 and pq.rescored(100, 8192) == 8192
    assert AnnParams(mode="ivfpq", refine=5).rescored(10, 64) == 10  # k > refine: the top-k are exact
    assert AnnParams(mode="ivfpq", refine=0).rescored(10, 64) == 0
    assert AnnParams(mode="ivfpq").rescored(10, 3) == 3  # fewer candidates than k: all rescored


def test_a_caller_rerank_replaces_the_built_in_one(corpus, tmp_path):
    searcher = Searcher(build(corpus, tmp_path), corpus["tokens"])
    seen = []

    def rerank(q, rows):  # the store's own scorer would go here
        seen.append(len(rows))
        d = [torch.from_numpy(corpus["mats"][r]).to(torch.float16).float() for r in rows.tolist()]
        mask = torch.ones(1, len(q), dtype=torch.bool)
        return torch.cat([maxsim_scores(q[None], mask, m[None], None)[0] for m in d])

    built_in = searcher.search(corpus["queries"][:5], 10, corpus["ranks"])
    hooked = searcher.search(corpus["queries"][:5], 10, corpus["ranks"], rerank=rerank)
    assert seen == [64] * 5 and torch.equal(hooked[1], built_in[1])
    torch.testing.assert_close(hooked[0], built_in[0], rtol=1e-5, atol=0)


def test_all_passages_as_candidates_is_the_exact_search(corpus, tmp_path):
    searcher = Searcher(build(corpus, tmp_path), corpus["tokens"])
    scores, rows = searcher.search(corpus["queries"], 100, corpus["ranks"], nprobe=32, candidates=PASSAGES)
    assert torch.equal(rows, corpus["exact"][1])
    # Same MaxSim, other tiles: fp32 GEMM blocking may change the last bit of a sum.
    torch.testing.assert_close(scores, corpus["exact"][0], rtol=1e-5, atol=0)


@pytest.mark.slow
def test_save_load_round_trip_and_cache_reuse(corpus, tmp_path):
    first = build(corpus, tmp_path)
    again = build(corpus, tmp_path)  # same key + params: the saved index, not a rebuild
    directory = tmp_path / index_name("store-a", first.params)
    loaded = load_index(directory, "store-a", parse_params("ivf", {"nlist": "128", "nprobe": "4", "candidates": "64"}))
    assert not any(p.suffix == ".pkl" for p in directory.iterdir())
    results = [Searcher(i, corpus["tokens"]).search(corpus["queries"], 20, corpus["ranks"])
               for i in (first, again, loaded)]
    for scores, rows in results[1:]:
        assert torch.equal(scores, results[0][0]) and torch.equal(rows, results[0][1])
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1
    build(corpus, tmp_path, nlist=16)
    build(corpus, tmp_path, key="store-b")
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3  # key and params both name the index
    with pytest.raises(MireEvalError, match="key"):
        load_index(directory, "store-b")
    with pytest.raises(MireEvalError, match="params"):
        load_index(directory, "store-a", parse_params("ivf", {"nlist": "64"}))


@pytest.mark.slow
def test_interrupted_build_resumes_and_matches(corpus, tmp_path):
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], 1500)
    params = parse_params("ivfpq", {"nlist": 32, "pq_m": 8})
    calls = {"n": 0}

    def failing():  # pass 1 draws the k-means sample; pass 2 (adding shards) dies at shard 2
        calls["n"] += 1
        for i, shard in enumerate(shards()):
            if i == 2 and calls["n"] == 2:
                raise KeyboardInterrupt
            yield shard

    with pytest.raises(KeyboardInterrupt):
        build_index(failing, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    said: list[str] = []
    resumed = build_index(failing, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s", progress=said.append)
    assert not any(s.startswith(("sampling", "k-means", "training")) for s in said)
    assert not any(s.startswith(("shard 0:", "shard 1:")) for s in said)
    assert any(s.startswith("shard 2:") for s in said)
    whole = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "b", "s")
    for name in ("centroids", "codes", "list_offsets", "list_rows", "tok_start", "tok_len", "pq_codes"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name


@pytest.mark.slow
def test_a_build_split_over_two_ranks_is_the_one_process_index(corpus, tmp_path):
    """torchrun's split (rank 0 trains, each rank assigns the shards it owns, rank 0 assembles),
    run as two threads; rank 1 starts first and must wait for rank 0's centroids."""
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], 1000)
    n_shards = sum(1 for _ in shards())
    params = parse_params("ivfpq", {"nlist": 32, "pq_m": 8})
    said, built, failed = {0: [], 1: []}, {}, []

    def rank(r):
        try:
            built[r] = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "split", "s",
                                   progress=said[r].append, rank=r, world_size=2, poll_s=0.01)
        except BaseException as e:  # noqa: BLE001 - reported by the assert below
            failed.append(e)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (1, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failed and set(built) == {0, 1}
    assert n_shards >= 4
    added = {r: sorted(int(line.split()[1].rstrip(":")) for line in said[r] if line.startswith("shard ")) for r in said}
    assert added == {0: list(range(0, n_shards, 2)), 1: list(range(1, n_shards, 2))}
    assert not any(line.startswith(("sampling", "k-means", "training")) for line in said[1])
    whole = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "one", "s")
    for r in (0, 1):
        for name in ("centroids", "codes", "list_offsets", "list_rows", "tok_start", "tok_len", "pq_codes"):
            assert np.array_equal(getattr(built[r], name), getattr(whole, name)), (r, name)
    assert [p.name for p in (tmp_path / "split").iterdir() if p.suffix != ".lock"] == [whole_dir.name for whole_dir
            in (tmp_path / "one").iterdir() if whole_dir.suffix != ".lock"]


@pytest.mark.slow
def test_merged_shards_equal_one_search(corpus, tmp_path):
    tokens, rows = corpus["tokens"], corpus["rows"]
    cut = int(np.flatnonzero(np.diff(rows))[len(rows) // 2 // 10])  # a passage boundary near the middle
    parts = []
    for i, (a, b) in enumerate([(0, cut + 1), (cut + 1, len(rows))]):
        index = build_index(shards_from_arrays(tokens[a:b], rows[a:b], 1000), b - a, DIM,
                            parse_params("ivf", {"nlist": 16}), tmp_path, f"shard{i}")
        parts.append(Searcher(index, tokens[a:b]).search(corpus["queries"], 30, corpus["ranks"], 16, PASSAGES))
    scores, got = merge_topk(parts, 30, corpus["ranks"])
    assert torch.equal(got, corpus["exact"][1][:, :30])
    torch.testing.assert_close(scores, corpus["exact"][0][:, :30], rtol=1e-5, atol=0)
    one = Searcher(build(corpus, tmp_path), tokens).search(corpus["queries"], 30, corpus["ranks"], 128, PASSAGES)
    assert torch.equal(merge_topk([one], 30, corpus["ranks"])[1], one[1])


def test_merge_breaks_ties_by_id_descending_and_drops_empty_places():
    ranks = id_ranks(["a", "b", "c", "d"])
    one = (torch.tensor([[2.0, 1.0]]), torch.tensor([[0, 1]]))
    two = (torch.tensor([[2.0, float("-inf")]]), torch.tensor([[3, -1]]))
    scores, rows = merge_topk([one, two], 3, ranks)
    assert rows.tolist() == [[3, 0, 1]] and scores.tolist() == [[2.0, 2.0, 1.0]]
    scores, rows = merge_topk([(torch.tensor([[1.0, float("-inf")]]), torch.tensor([[2, -1]]))], 2, ranks)
    assert rows.tolist() == [[2, -1]]


@pytest.mark.parametrize("mode, options, fragment", [
    ("hnsw", {}, "--search hnsw: unknown"),
    ("ivf", {"nprobes": "4"}, "--search-option nprobes: unknown"),
    ("ivf", {"nprobe": "0"}, "nprobe=0: must be an integer"),
    ("ivf", {"nprobe": "four"}, "nprobe=four: must be an integer"),
    ("ivf", {"candidates": "-5"}, "candidates=-5"),
    ("ivf", {"nlist": "8", "nprobe": "16"}, "nprobe=16: larger than nlist=8"),
    ("ivfpq", {"pq_m": "12"}, "pq_m=12: must divide the vector dimension 32"),
    ("ivfpq", {"pq_nbits": "20"}, "pq_nbits=20"),
    ("ivf", {"refine": "100"}, "refine=100: only --search ivfpq uses it"),
    ("ivf", {"pq_m": "4"}, "pq_m=4: only --search ivfpq uses it"),  # same results under another tag
    ("ivf", {"pq_nbits": "4"}, "pq_nbits=4: only --search ivfpq uses it"),
    ("ivfpq", {"refine": "-1"}, "refine=-1: must be an integer"),
    ("ivfpq", {"refine": "abc"}, "refine=abc: must be an integer"),
    ("ivfpq", {"refine": str(2**31)}, f"refine={2**31}: must be an integer"),
])
def test_bad_parameters_are_one_line_errors(mode, options, fragment):
    with pytest.raises(MireEvalError) as err:
        parse_params(mode, options, dim=DIM)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_more_centroids_than_tokens_is_refused(corpus, tmp_path):
    with pytest.raises(MireEvalError, match="nlist=100000: more centroids than"):
        build(corpus, tmp_path, nlist=100000)


@pytest.mark.slow
def test_estimate_bounds_the_built_index_and_refuses_what_does_not_fit(corpus, tmp_path):
    for mode, options in (("ivf", {}), ("ivfpq", {"pq_m": "8"})):
        index = build(corpus, tmp_path, mode, **options)
        est = estimate(len(corpus["tokens"]), DIM, index.params, PASSAGES)
        assert index.nbytes() <= est["ram"]
    est = estimate(10**9, 128, AnnParams(mode="ivfpq", nlist=2**16))
    assert est["bytes_per_token"] == 2 + 4 + 32
    with pytest.raises(MireEvalError, match="needs .* GiB RAM") as err:
        check_fits(est, tmp_path, ram=2**30, disk=2**50)
    assert "\n" not in str(err.value)
    with pytest.raises(MireEvalError, match="needs .* GiB disk"):
        check_fits(est, tmp_path, ram=2**50, disk=2**30)


def test_shards_are_cut_at_passage_boundaries_and_split_passages_refused(corpus, tmp_path):
    rows = rows_from_lengths([3, 2, 4])
    cuts = [r.tolist() for _, r in shards_from_arrays(np.zeros((9, 2), np.float16), rows, 4)()]
    assert cuts == [[0, 0, 0, 1, 1], [2, 2, 2, 2]]
    tokens, rows = corpus["tokens"], corpus["rows"].copy()
    rows[5] = rows[100]  # passage rows[100] now also owns a token far from its own
    shards = shards_from_arrays(tokens, rows, 10**6)
    with pytest.raises(MireEvalError, match="not contiguous"):
        build_index(shards, len(tokens), DIM, parse_params("ivf", {"nlist": 16}), tmp_path, "broken")


@pytest.mark.slow
def test_store_shards_adapter_gives_the_same_index_and_results(corpus, tmp_path):
    """The embedding store's layout: per shard a token array (each window sorted by length)
    and an entry with first_row, local rows in write order and their lengths."""
    lengths = np.array([len(m) for m in corpus["mats"]])
    shards = []
    for first in range(0, PASSAGES, 250):
        local = sorted(range(min(250, PASSAGES - first)), key=lambda i: lengths[first + i])
        tokens = np.concatenate([corpus["mats"][first + i] for i in local]).astype(np.float16)
        shards.append((tokens, {"first_row": first, "rows": local, "lengths": [int(lengths[first + i]) for i in local]}))
    each, view = from_store_shards(shards)
    index = build_index(each, len(view), DIM, parse_params("ivf", {"nlist": 128}), tmp_path, "store")
    got = Searcher(index, view).search(corpus["queries"], 30, corpus["ranks"], 128, PASSAGES)
    assert torch.equal(got[1], corpus["exact"][1][:, :30])


INDEX_ARRAYS = ("centroids", "codes", "list_offsets", "list_rows", "tok_start", "tok_len", "pq_codes")


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.slow
@pytest.mark.parametrize("damage, fragment", [
    (lambda d: _cut(d / "codes.npy"), "codes.npy: index: unreadable"),          # mmapped
    (lambda d: _cut(d / "tok_start.npy"), "tok_start.npy: index: unreadable"),  # read whole
    (lambda d: (d / "tok_len.npy").unlink(), "tok_len.npy: index: file not found"),
    (lambda d: (d / "pq_centroids.npy").unlink(), "pq_centroids.npy: index: file not found"),
    (lambda d: np.save(d / "codes.npy", np.zeros(5, np.uint16)), "codes.npy: shape: uint16 5"),  # silently searched before
    (lambda d: (d / "meta.json").write_text('{"format": 1, "key"'), "meta.json: index: unreadable"),
    (lambda d: (d / "meta.json").write_text('{"format": 1}'), "meta.json: key: missing"),
    (lambda d: (d / "meta.json").unlink(), "index: directory without meta.json"),
])
def test_a_damaged_saved_index_is_a_one_line_error_naming_the_file(corpus, tmp_path, damage, fragment):
    index = build(corpus, tmp_path, "ivfpq", pq_m="8")
    directory = tmp_path / index_name("store-a", index.params)
    damage(directory)
    with pytest.raises(MireEvalError) as err:
        build(corpus, tmp_path, "ivfpq", pq_m="8")
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert str(directory) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([directory.name, f"{directory.name}.lock"])


@pytest.mark.parametrize("options, fragment", [
    ({"sample": "100000"}, "sample=100000: more than the"),  # numpy's "Cannot take a larger sample" before
    ({"mode": "ivfpq", "pq_m": "8", "pq_nbits": "14"}, "pq_nbits=14: its 16384 residual centroids"),  # faiss's assert
])
def test_a_sample_the_build_cannot_train_on_is_refused_in_one_line(corpus, tmp_path, options, fragment):
    options = dict(options)
    with pytest.raises(MireEvalError) as err:
        build(corpus, tmp_path, options.pop("mode", "ivf"), **options)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_what_killed_builds_leave_is_swept_and_the_index_is_the_same(corpus, tmp_path, monkeypatch):
    """A build killed while assembling leaves ``<name>.tmp<pid>/``; one killed after the rename
    leaves ``<name>.building/``: the next build of that index removes both."""
    import harness.index.ann.index as index_module

    params = parse_params("ivfpq", {"nlist": 32, "pq_m": 8})
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], 1500)
    whole = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "one", "s")
    name = index_name("s", whole.params)

    def killed(work, n_parts, total, params, centroids, out, key):
        (out / "codes.npy").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module, "_assemble", killed)
    with pytest.raises(KeyboardInterrupt):
        build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    assert any(p.name.startswith(f"{name}.tmp") for p in (tmp_path / "a").iterdir())
    monkeypatch.undo()
    rmtree = index_module.shutil.rmtree
    monkeypatch.setattr(index_module.shutil, "rmtree",  # killed before removing .building
                        lambda p, **kw: None if str(p).endswith(".building") else rmtree(p, **kw))
    build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    monkeypatch.undo()
    assert (tmp_path / "a" / f"{name}.building").is_dir()
    again = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [name, f"{name}.lock"]
    for array in INDEX_ARRAYS:
        assert np.array_equal(getattr(again, array), getattr(whole, array)), array


@pytest.mark.slow
def test_a_part_damaged_after_its_stamp_is_removed_and_recomputed(corpus, tmp_path, monkeypatch):
    import harness.index.ann.index as index_module

    params = parse_params("ivfpq", {"nlist": 32, "pq_m": 8})
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], 1500)
    whole = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "one", "s")
    monkeypatch.setattr(index_module, "_assemble", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    monkeypatch.undo()
    part = tmp_path / "a" / f"{index_name('s', whole.params)}.building" / "part-000001.npz"
    _cut(part)
    with pytest.raises(MireEvalError) as err:
        build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s")
    assert f"{part}: index: unreadable" in str(err.value) and "rerun recomputes shard 1" in str(err.value)
    assert "\n" not in str(err.value)
    said: list[str] = []
    resumed = build_index(shards, len(corpus["tokens"]), DIM, params, tmp_path / "a", "s", progress=said.append)
    assert [s.split(":")[0] for s in said if s.startswith("shard ")] == ["shard 1"]
    for array in INDEX_ARRAYS:
        assert np.array_equal(getattr(resumed, array), getattr(whole, array)), array


def test_rank0_waits_past_a_stale_part_another_rank_rewrites(corpus, tmp_path):
    """A part left by an earlier run for other tokens (here: another shard cut) belongs to
    rank 1 now: rank 0 must wait for rank 1's part, not refuse or assemble the stale one."""
    params = parse_params("ivf", {"nlist": 32})
    total = len(corpus["tokens"])
    old = shards_from_arrays(corpus["tokens"], corpus["rows"], 1500)
    calls = {"n": 0}

    def interrupted():  # pass 1 draws the sample; pass 2 (adding shards) dies at shard 3
        calls["n"] += 1
        for i, shard in enumerate(old()):
            if i == 3 and calls["n"] == 2:
                raise KeyboardInterrupt
            yield shard

    with pytest.raises(KeyboardInterrupt):  # sample, centroids and parts 0-2 of the old cut
        build_index(interrupted, total, DIM, params, tmp_path / "split", "s")
    assert (tmp_path / "split" / f"{index_name('s', params.resolved(total))}.building" / "part-000001.json").is_file()
    shards = shards_from_arrays(corpus["tokens"], corpus["rows"], 1000)
    waiting, built, failed = threading.Event(), {}, []

    def late():  # rank 1 adds its shards once rank 0 is past its own
        waiting.wait(60)
        return shards()

    def rank(r, each, say):
        try:
            built[r] = build_index(each, total, DIM, params, tmp_path / "split", "s", progress=say, rank=r,
                                   world_size=2, poll_s=0.01)
        except BaseException as e:  # noqa: BLE001 - reported by the assert below
            failed.append(e)
        finally:
            waiting.set()

    threads = [threading.Thread(target=rank, args=(0, shards, lambda s: s.startswith("waiting") and waiting.set())),
               threading.Thread(target=rank, args=(1, late, None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failed and set(built) == {0, 1}, failed
    whole = build_index(shards, total, DIM, params, tmp_path / "one", "s")
    for array in ("centroids", "codes", "list_offsets", "list_rows", "tok_start", "tok_len"):
        assert np.array_equal(getattr(built[0], array), getattr(whole, array)), array
