"""ranx numbers equal pytrec_eval's (trec_eval) on the same files, ties and empty queries included."""

import random

import pytest
import pytrec_eval

from harness.metrics.scoring import CUTOFFS, DEFAULT_METRICS, evaluate
from harness.core.runs import canonical_ranking

TREC_NAME = {"hit_rate": "success", "recall": "recall", "precision": "P", "ndcg": "ndcg_cut"}


def random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(150)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        n_rel = rng.choice([0, 0, 1, 2, 5, 12])  # some queries have no relevant passage at all
        qrels[qid] = {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, n_rel)}
        if rng.random() < 0.1:
            continue  # query missing from the run entirely
        n = rng.choice([0, 3, 60, 120])
        # Coarse scores: many exact ties, straddling the cut-offs.
        run[qid] = {d: float(rng.randint(0, 6)) for d in rng.sample(docs, n)}
    return qrels, run


def pytrec_means(qrels, run, queries):
    """trec_eval through pytrec_eval; queries it skips or cannot judge count as 0."""
    judged = {q: r for q, r in qrels.items() if r}
    measures = {f"{TREC_NAME[m]}.{','.join(map(str, CUTOFFS))}" for m in TREC_NAME}
    full = pytrec_eval.RelevanceEvaluator(judged, measures).evaluate({q: run[q] for q in judged if run.get(q)})
    out = {}
    for metric in DEFAULT_METRICS:
        name, k = metric.split("@")
        if name == "mrr":
            # recip_rank has no cut-off: give trec_eval the run truncated to k in its own order.
            cut = {q: dict(canonical_ranking(run[q], int(k))) for q in judged if run.get(q)}
            per = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(cut)
            values = [per.get(q, {}).get("recip_rank", 0.0) for q in queries]
        else:
            values = [full.get(q, {}).get(f"{TREC_NAME[name]}_{k}", 0.0) for q in queries]
        out[metric] = sum(values) / len(queries)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranx_equals_trec_eval_with_ties_and_empty_queries(seed):
    qrels, run = random_case(seed)
    ours = evaluate(qrels, run)
    reference = pytrec_means(qrels, run, list(qrels))
    for metric in DEFAULT_METRICS:
        assert ours.mean[metric] == pytest.approx(reference[metric], abs=1e-12), metric
    assert ours.n_without_relevant == sum(1 for r in qrels.values() if not r) > 0
    assert ours.n_queries == len(qrels)


def test_ties_are_broken_by_passage_id_descending():
    # Both passages score 1.0; trec_eval puts "b" first, so only a qrel on "b" is a hit@1.
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert evaluate({"q": {"b": 1}}, run, ["hit_rate@1"]).mean["hit_rate@1"] == 1.0
    assert evaluate({"q": {"a": 1}}, run, ["hit_rate@1"]).mean["hit_rate@1"] == 0.0


def test_queries_without_relevant_or_ranking_score_zero_and_are_counted():
    s = evaluate({"q1": {"a": 1}, "q2": {}, "q3": {"a": 1}}, {"q1": {"a": 1.0}, "q2": {"a": 1.0}}, ["hit_rate@1"])
    assert s.mean["hit_rate@1"] == pytest.approx(1 / 3)
    assert (s.n_without_relevant, s.n_empty_rankings) == (1, 1)
    assert s.per_query["q2"]["hit_rate@1"] == 0.0


@pytest.mark.parametrize("seed", [3, 4])
def test_numpy_metrics_equal_ranx_per_query(seed):
    """The numpy path (every reported name, with and without a cut-off) equals ranx query by
    query, on the same trec_eval-ordered rankings; a name numpy lacks (map) goes through ranx."""
    from harness.metrics.table import per_query
    from harness.metrics.scoring import ranx_per_query
    from harness.core.runs import trec_order_scores

    qrels, run = random_case(seed)
    queries = [q for q, r in qrels.items() if r and run.get(q)]
    ranked = trec_order_scores(run, queries)
    names = [*DEFAULT_METRICS, "mrr", "ndcg", "recall@3", "precision@7"]
    ours = per_query([list(ranked[q]) for q in queries], [qrels[q] for q in queries], names)
    reference = ranx_per_query(qrels, ranked, queries, names)
    for m in names:
        for i, q in enumerate(queries):
            assert ours[m][i] == pytest.approx(reference[q][m], abs=1e-12), (m, q)
    mixed = evaluate(qrels, run, ["map@10", "mrr@5"])
    alone = ranx_per_query(qrels, ranked, queries, ["map@10"])
    assert all(mixed.per_query[q]["map@10"] == pytest.approx(alone[q]["map@10"]) for q in queries)


def test_score_does_not_import_ranx(tmp_path):
    """`mire-eval score` with the reported metrics takes the numpy path (no numba start-up)."""
    import subprocess
    import sys

    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    (tmp_path / "r.trec").write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d1 1 1.0 t\n")
    code = ("import sys; from typer.testing import CliRunner; from harness.cli import app; "
            f"r = CliRunner().invoke(app, ['score', '--qrels', {str(tmp_path / 'q.tsv')!r}, '--run', "
            f"{str(tmp_path / 'r.trec')!r}, '--json']); assert r.exit_code == 0, r.output; "
            "import json; m = json.loads(r.output); assert m['hit_rate@1'] == 0.5 and m['mrr@5'] == 0.5, m; "
            "assert 'ranx' not in sys.modules and 'numba' not in sys.modules, 'ranx imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_quiet_numba_silences_only_the_uint64_cast_warning():
    import warnings

    from harness.core.quiet import quiet_numba

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_numba():
            warnings.warn("unsafe cast from uint64 to int64", UserWarning)
            warnings.warn("something else", UserWarning)
    assert [str(w.message) for w in caught] == ["something else"]
