"""Retrieval metrics equal to trec_eval's (and ranx's) on the same files.

The reported metrics are computed with numpy (:mod:`harness.metric_arrays`, no compiler
start-up); any other ranx name (``map``, ``bpref``, ...) goes through ranx.

Names are ranx's everywhere: ``hit_rate@k`` (trec ``success``; the papers' R@k / PR@k),
``recall@k`` (relevant retrieved / all relevant), ``mrr@k``, ``precision@k``, ``ndcg@k``.

Two rules make the numbers trec_eval's, ties and all:
* every ranking is put in trec_eval's order first (score desc, pid desc); ranx, where used,
  is given rank-derived scores, so it cannot re-break ties its own way;
* the mean runs over ALL evaluated queries: one without any relevant passage, or with an
  empty ranking, scores 0 (never silently dropped) and is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.runs import trec_order_scores
from harness.types import Qrels, Run

METRIC_NAMES = ("hit_rate", "recall", "mrr", "precision", "ndcg")
CUTOFFS = (1, 5, 10, 20, 50, 100)
DEFAULT_METRICS = tuple(f"{m}@{k}" for m in METRIC_NAMES for k in CUTOFFS)


@dataclass
class Scores:
    mean: dict[str, float]  # metric -> mean over all queries
    per_query: dict[str, dict[str, float]]  # qid -> metric -> value
    n_queries: int
    n_without_relevant: int
    n_empty_rankings: int


def cutoff(metric: str) -> int | None:
    """A metric's cut-off (``mrr@5`` -> 5; ``map`` -> None: the whole ranking).

    >>> cutoff("recall@100"), cutoff("bpref")
    (100, None)
    """
    _, at, cut = metric.partition("@")
    return int(cut) if at else None


def deeper_than(metrics, k: int) -> list[str]:
    """The ``metrics`` whose cut-off exceeds a depth-``k`` run: computed on it, they count every
    rank past ``k`` as missing (``hit_rate@5`` of a depth-1 run is ``hit_rate@1``), so they are
    depth-limited, not the metric the name promises (ColBERT #280).

    >>> deeper_than(["hit_rate@1", "hit_rate@5", "map"], 1)
    ['hit_rate@5']
    """
    return [m for m in metrics if (cutoff(m) or 0) > k]


def check_metrics(metrics) -> list[str]:
    """Validate metric names against ranx's; unknown ones, or none at all, raise a one-line error."""
    from harness.errors import MireEvalError

    known = set(METRIC_NAMES) | {"map", "hits", "f1", "r-precision", "dcg", "ndcg_burges", "bpref"}
    out = []
    for m in metrics:
        m = m.strip()
        if not m:
            continue
        base, at, cut = m.partition("@")
        if base not in known:
            raise MireEvalError(f"--metrics: unknown metric {m!r}; use ranx names such as "
                                f"{', '.join(DEFAULT_METRICS[:5])}")
        # A cut-off is a whole number >= 1 in plain ASCII digits, written without leading zeros:
        # ranx names a metric by its string, so "mrr@05" and "mrr@5" would be two columns of one value.
        if at and not re.fullmatch(r"[1-9][0-9]*", cut):
            raise MireEvalError(f"--metrics: {m!r}: the cut-off after '@' must be a whole number >= 1 "
                                f"written in digits 0-9 without leading zeros (e.g. {base}@5)")
        out.append(m)
    if not out:
        raise MireEvalError(f"--metrics: no metric named in {','.join(metrics)!r}; use ranx names such as "
                            f"{', '.join(DEFAULT_METRICS[:5])}")
    return out


def evaluate(qrels: Qrels, run: Run, metrics=DEFAULT_METRICS, queries=None) -> Scores:
    """Score ``run`` against ``qrels`` over ``queries`` (default: the qrels' queries).

    >>> s = evaluate({"q1": {"a": 1}, "q2": {}}, {"q1": {"b": 2.0, "a": 1.0}, "q2": {"a": 1.0}},
    ...              ["hit_rate@1", "mrr@5"])
    >>> s.mean, s.n_without_relevant
    ({'hit_rate@1': 0.0, 'mrr@5': 0.25}, 1)
    """
    from harness.metric_arrays import per_query as array_metrics
    from harness.metric_arrays import supported

    metrics = list(metrics)
    queries = list(qrels) if queries is None else list(queries)
    ranked = trec_order_scores(run, queries)
    per_query = {q: {m: 0.0 for m in metrics} for q in queries}
    scorable = [q for q in queries if any(g > 0 for g in qrels.get(q, {}).values()) and ranked[q]]
    if scorable:
        ours = [m for m in metrics if supported(m)]
        values = array_metrics([list(ranked[q]) for q in scorable], [qrels[q] for q in scorable], ours)
        for m in ours:
            for q, value in zip(scorable, values[m].tolist()):
                per_query[q][m] = value
        rest = [m for m in metrics if not supported(m)]
        if rest:
            for q, row in ranx_per_query(qrels, ranked, scorable, rest).items():
                per_query[q].update(row)
    n = len(queries)
    mean = {m: (sum(per_query[q][m] for q in queries) / n if n else 0.0) for m in metrics}
    return Scores(
        mean=mean,
        per_query=per_query,
        n_queries=n,
        n_without_relevant=sum(1 for q in queries if not any(g > 0 for g in qrels.get(q, {}).values())),
        n_empty_rankings=sum(1 for q in queries if not ranked[q]),
    )


def ranx_per_query(qrels: Qrels, ranked: dict, queries: list[str], metrics: list[str]) -> dict[str, dict[str, float]]:
    """``{qid: {metric: value}}`` through ranx, for the names :mod:`harness.metric_arrays` lacks.

    ``ranked`` comes from :func:`harness.runs.trec_order_scores`: rank-derived scores in
    trec_eval's order, so ranx cannot re-break ties its own way.
    """
    from ranx import Qrels as RanxQrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    from harness.quiet import quiet_numba

    ranx_run = RanxRun({q: ranked[q] for q in queries})
    ranx_qrels = RanxQrels({q: {p: g for p, g in qrels[q].items() if g > 0} for q in queries})
    with quiet_numba():
        ranx_evaluate(ranx_qrels, ranx_run, metrics, save_results_in_run=True)
    out: dict[str, dict[str, float]] = {q: {} for q in queries}
    for m in metrics:
        for q, value in ranx_run.scores[m].items():
            out[q][m] = float(value)
    return out


def first_relevant_rank(qrels: Qrels, run: Run) -> dict[str, int | None]:
    """Rank (from 1) of the first relevant passage in each canonical ranking, or None."""
    out = {}
    for q, ranking in trec_order_scores(run, run).items():
        rel = qrels.get(q, {})
        out[q] = next((i for i, pid in enumerate(ranking, 1) if rel.get(pid, 0) > 0), None)
    return out
