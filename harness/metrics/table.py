"""The metrics mire-eval reports, one row each: every fact about a metric in one place.

A row names the metric as ranx does (the name in every file), trec_eval's name for it, its
array function (:mod:`harness.metrics.arrays`: per-query values, equal to trec_eval's), its
chance function (:mod:`harness.metrics.chance`: what a uniformly random ranking scores), the
papers' labels for it (DESIGN.md, metric names: the papers' R@k and PR@k are ``hit_rate@k``
under gold-id and answer-match relevance) and the cut-offs the leaderboard shows. Everything
else reads this table: ``--metrics`` checking and the defaults (:mod:`harness.metrics.scoring`),
the leaderboard's columns (:mod:`harness.evaluation.results`), the papers' labels
(:mod:`harness.evaluation.labels`) and the figures' chance lines (:mod:`harness.probe.plots`).

Adding a metric: its array function, its chance function when a closed form exists, one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.metrics import arrays, chance


@dataclass(frozen=True)
class Metric:
    name: str  # ranx's base name: ``name@k`` in every file
    trec: str  # trec_eval's measure (``_k`` its cut-off)
    array: Callable[[arrays.Ranked, int], np.ndarray]
    chance: Callable[[int, int, int, int], float] | None
    paper: tuple[str, ...] = ()  # the papers' labels (``R@k``, ``PR@k``, ``MRR@k``)
    leaderboard: tuple[int, ...] = ()  # cut-offs shown as leaderboard columns, in this order


# In this order: ``--metrics`` defaults, metrics.json and the leaderboard's columns follow it.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("hit_rate", "success_k", arrays.hit_rate, chance.hit_rate, ("R", "PR"), (1, 5, 10, 100)),
    Metric("recall", "recall_k", arrays.recall, chance.recall, (), (5, 100)),
    Metric("mrr", "recip_rank (cut at k)", arrays.mrr, chance.mrr, ("MRR",), (5, 10)),
    Metric("precision", "P_k", arrays.precision, chance.precision),
    Metric("ndcg", "ndcg_cut_k", arrays.ndcg, chance.ndcg, (), (10,)),
)}

# leaderboard.csv's metric columns: ("hit_rate@1", "hit_rate@5", ..., "ndcg@10")
LEADERBOARD = tuple(f"{m.name}@{k}" for m in METRICS.values() for k in m.leaderboard)
# the papers' label -> the ranx name ({"R": "hit_rate", "PR": "hit_rate", "MRR": "mrr"})
PAPER_TO_RANX = {label: m.name for m in METRICS.values() for label in m.paper}


def supported(metric: str) -> bool:
    """Whether ``metric`` (``name`` or ``name@k``) is computed here (else ranx computes it)."""
    return metric.split("@")[0] in METRICS


def per_query(rankings: list[list[str]], judgements: list[dict[str, float]], metrics: list[str]) -> dict[str, np.ndarray]:
    """``{metric: [Q] float64}`` for ranked passage ids against ``{pid: gain}`` judgements.

    Every query should have at least one positive judgement (the caller scores the others 0).
    A name without ``@k`` means the whole ranking.

    >>> per_query([["a", "b"], ["c"]], [{"b": 1}, {"x": 1}], ["hit_rate@1", "mrr@5"])["mrr@5"].tolist()
    [0.5, 0.0]
    """
    ranked = arrays.Ranked.of(rankings, judgements)
    depth = ranked.gains.shape[1]
    out = {}
    for metric in metrics:
        base, _, cut = metric.partition("@")
        if base not in METRICS:
            raise ValueError(f"{metric}: not computed here (see METRICS)")
        out[metric] = METRICS[base].array(ranked, int(cut) if cut else depth)
    return out


def random_ranking(metric: str, n_passages: int, n_relevant: int = 1) -> float:
    """Expected ``metric`` (``name@k``) of a uniformly random ranking of ``n_passages``.

    >>> round(random_ranking("hit_rate@1", 48), 6), round(random_ranking("mrr@5", 48), 6)
    (0.020833, 0.047569)
    """
    name, _, cut = metric.partition("@")
    n, rel = int(n_passages), int(n_relevant)
    if n <= 0 or not 0 < rel <= n:
        raise ValueError(f"random ranking: need 0 < relevant ({rel}) <= passages ({n})")
    k = min(int(cut), n) if cut else n
    row = METRICS.get(name)
    if row is None or row.chance is None:
        raise ValueError(f"random ranking: no chance level for {metric!r}")
    return row.chance(n, rel, k, int(cut or n))


def chance_of(chance: dict | None, metric: str) -> float | None:
    """A probe record's chance level for ``metric``: recorded (``chance.random``), else derived
    from the corpus size it records (``chance.n_objects``, one relevant passage per query, as
    in the diagnostic task); None when neither is there or the metric has no formula."""
    if not chance:
        return None
    recorded = (chance.get("random") or {}).get(metric)
    if recorded is not None:
        return float(recorded)
    n = chance.get("n_objects")
    try:
        return random_ranking(metric, n) if n else None
    except ValueError:
        return None
