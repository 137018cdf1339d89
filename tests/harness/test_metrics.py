"""ranx numbers equal pytrec_eval's (trec_eval) on the same files, ties and empty queries included."""

import random

import pytest
import pytrec_eval

from harness.metrics import CUTOFFS, DEFAULT_METRICS, evaluate
from harness.runs import canonical_ranking

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
