"""The text-dominance probe: how much does a retriever use the image, how much the text?

One index, four query views, each searched with the same retriever:

* ``full``: image and question, as evaluated normally;
* ``text``: the image removed (the retriever's own ``text`` view);
* ``image``: the question removed (the retriever's own ``image`` view);
* ``swap``: every query's image replaced by the image of another query, a fixed derangement
  drawn from the seed (:func:`derangement`), then searched with the ``full`` view. The probe
  realises it by swapping ``Query.image``, so every retriever gets it the same way.

With ``M_v`` a metric's mean under view ``v`` (the task's main metric unless said otherwise):

* image dependence   = (M_full - M_text)  / M_full: what is lost without the image;
* text dependence    = (M_full - M_image) / M_full: what is lost without the question;
* text-dominance index = text dependence - image dependence (> 0: leans on the text);
* swap sensitivity   = (M_full - M_swap)  / M_full: what a wrong image costs.

When ``M_full`` is 0 the ratios are undefined and reported as ``null`` (nothing to lose).
Each view is compared with ``full`` query by query with a paired test through ranx's
``compare`` (default Student's paired two-sided t-test; ``fisher`` = randomisation test).

Per query, the gold passage (the relevant passage ranked best under ``full``) gets its rank
and score under every view. For late-interaction (MaxSim) encoders the score is split
exactly into what the text query tokens and what the visual query tokens contribute: the
score is a sum over query tokens of each token's best match, so each token's term belongs
to one modality and the two parts add up to the score. Which rows are visual comes from the
encoder (see :func:`query_token_types`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.types import Qrels, Query, Run

PROBE_VIEWS = ("full", "text", "image", "swap")
INDEX_NAMES = ("image_dependence", "text_dependence", "text_dominance", "swap_sensitivity")
# Placeholder passage id for a query with an empty result list: ranx cannot build a run
# whose lists are all empty, and a passage no qrels name changes no metric.
NO_RESULT = "\x00none"


# --------------------------------------------------------------------------------------------
# The swap view
# --------------------------------------------------------------------------------------------
def derangement(n: int, seed: int) -> list[int]:
    """A permutation of ``range(n)`` with no fixed point, fixed by ``seed`` (Sattolo's cycle).

    >>> p = derangement(5, 0)
    >>> sorted(p) == list(range(5)), any(i == j for i, j in enumerate(p))
    (True, False)
    >>> derangement(1, 0), derangement(0, 0)
    ([0], [])
    """
    perm = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i: every element moves, the result is one n-cycle
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def swap_images(queries: Sequence[Query], seed: int) -> list[Query]:
    """Each query with an image gets the image of another query (a derangement among them);
    queries without an image are left as they are."""
    with_image = [i for i, q in enumerate(queries) if q.image is not None]
    perm = derangement(len(with_image), seed)
    out = list(queries)
    for slot, source in zip(with_image, perm):
        out[slot] = queries[slot].with_image(queries[with_image[source]].image)
    return out


# --------------------------------------------------------------------------------------------
# Indices
# --------------------------------------------------------------------------------------------
def dependence_indices(means: Mapping[str, float]) -> dict[str, float | None]:
    """The four probe indices from one metric's mean per view (``None`` when M_full is 0).

    >>> dependence_indices({"full": 0.8, "text": 0.6, "image": 0.2, "swap": 0.4})
    {'image_dependence': 0.25, 'text_dependence': 0.75, 'text_dominance': 0.5, 'swap_sensitivity': 0.5}
    >>> dependence_indices({"full": 0.0, "text": 0.0, "image": 0.0, "swap": 0.0})["text_dominance"] is None
    True
    """
    full = means["full"]
    if not full:
        return dict.fromkeys(INDEX_NAMES)

    def loss(view):
        return (full - means[view]) / full if view in means else None

    image_dep, text_dep = loss("text"), loss("image")
    dominance = None if image_dep is None or text_dep is None else text_dep - image_dep
    return {"image_dependence": image_dep, "text_dependence": text_dep,
            "text_dominance": dominance, "swap_sensitivity": loss("swap")}


# --------------------------------------------------------------------------------------------
# Metrics and the paired test (ranx)
# --------------------------------------------------------------------------------------------
def ranx_run(run: Run, qrels: Qrels, name: str):
    """A ranx Run over exactly the qrels' queries (missing or empty lists score 0)."""
    from ranx import Run as RanxRun

    return RanxRun({q: dict(run.get(q) or {NO_RESULT: 0.0}) for q in qrels}, name=name)


def per_query_scores(qrels: Qrels, run: Run, metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{metric: {qid: value}}`` for every query of ``qrels``."""
    from ranx import Qrels as RanxQrels
    from ranx import evaluate

    rx = ranx_run(run, qrels, "run")
    evaluate(RanxQrels(qrels), rx, list(metrics), save_results_in_run=True)
    return {m: {q: float(v) for q, v in rx.scores[m].items()} for m in metrics}


def mean_scores(per_query: Mapping[str, Mapping[str, float]], qids: Sequence[str] | None = None) -> dict[str, float]:
    """Mean of each metric over ``qids`` (all queries by default).

    >>> mean_scores({"hit_rate@1": {"a": 1.0, "b": 0.0, "c": 1.0}}, ["a", "b"])
    {'hit_rate@1': 0.5}
    """
    out = {}
    for m, values in per_query.items():
        keys = list(values) if qids is None else list(qids)
        out[m] = sum(values[q] for q in keys) / len(keys) if keys else 0.0
    return out


def compare_with_full(qrels: Qrels, runs: Mapping[str, Run], metrics: Sequence[str], stat_test: str = "student") -> dict:
    """Paired test of every view against ``full`` (ranx ``compare``), per metric.

    Returns ``{view: {metric: {"delta": M_view - M_full, "p_value": p, "win_tie_loss": ...}}}``.
    ``p_value`` is 1.0 when the two views score every query the same (the t statistic
    is 0/0 there and ranx reports NaN).
    """
    from ranx import Qrels as RanxQrels
    from ranx import compare

    names = list(runs)
    report = compare(RanxQrels(qrels), [ranx_run(runs[v], qrels, v) for v in names], list(metrics),
                     stat_test=stat_test, rounding_digits=12).to_dict()
    full = report["full"]
    out = {}
    for view in names:
        if view == "full":
            continue
        entry = {}
        for m in metrics:
            p = float(full["comparisons"][view][m])
            wtl = full["win_tie_loss"][view][m]
            if math.isnan(p) and wtl["W"] == 0 and wtl["L"] == 0:
                p = 1.0
            entry[m] = {
                "delta": report[view]["scores"][m] - full["scores"][m],
                "p_value": p,
                # W/T/L counted from full's side: queries where full is better / equal / worse.
                "win_tie_loss": {k: int(v) for k, v in wtl.items()},
            }
        out[view] = entry
    return out


# --------------------------------------------------------------------------------------------
# Per-query attribution
# --------------------------------------------------------------------------------------------
def gold_passages(qrels: Qrels, full_run: Run) -> dict[str, str]:
    """Per query, the relevant passage ranked best under ``full`` (else the smallest id).

    >>> gold_passages({"q": {"a": 1, "b": 1}, "r": {"c": 1}}, {"q": {"x": 3.0, "b": 2.0, "a": 1.0}})
    {'q': 'b', 'r': 'c'}
    """
    gold = {}
    for q, rels in qrels.items():
        relevant = {p for p, r in rels.items() if r > 0}
        if not relevant:
            continue
        ranked = ranking(full_run.get(q, {}))
        gold[q] = next((p for p in ranked if p in relevant), min(relevant))
    return gold


def ranking(results: Mapping[str, float]) -> list[str]:
    """Passage ids in run order: score descending, ties by id descending (trec_eval).

    >>> ranking({"a": 1.0, "b": 1.0, "c": 2.0})
    ['c', 'b', 'a']
    """
    by_id = sorted(results, key=lambda p: p.encode("utf-8"), reverse=True)
    return sorted(by_id, key=lambda p: -results[p])  # stable: equal scores keep id-descending order


@dataclass(frozen=True)
class GoldScore:
    """The gold passage under one view: rank (None: not in the top k), score, and its split."""

    rank: int | None
    score: float | None
    text_part: float | None = None
    image_part: float | None = None


def query_token_types(encoder, queries: Sequence[Query], view: str, matrices) -> list | None:
    """Per query, a bool vector over the rows of its query matrix: True where the row is a
    visual token. ``None`` when the encoder does not say.

    An encoder states it by one of (first wins):

    * ``query_token_types(queries, view) -> list[BoolTensor [L_i]]`` aligned with
      ``encode_queries(queries, view)``;
    * ``visual_query_tokens: int``: the first that many rows of a query are visual whenever
      the view keeps the image (MIRe: 16 global + 12 query-guided tokens, then text).

    A text-only encoder (``modalities == {"text"}``) has no visual rows.
    """
    import torch

    if hasattr(encoder, "query_token_types"):
        return [torch.as_tensor(t, dtype=torch.bool) for t in encoder.query_token_types(queries, view)]
    if "image" not in getattr(encoder, "modalities", frozenset()):
        return [torch.zeros(m.shape[0], dtype=torch.bool) for m in matrices]
    n_visual = getattr(encoder, "visual_query_tokens", None)
    if n_visual is None:
        return None
    out = []
    for q, m in zip(queries, matrices):
        n = n_visual if view != "text" and q.image is not None else 0
        out.append(torch.arange(m.shape[0]) < n)
    return out


def maxsim_contributions(q, d):
    """Each query row's term of the MaxSim score: ``max_j q_i . d_j`` (a pure function).

    q [Lq, dim], d [Ld, dim] -> [Lq]; the terms sum to the score.

    >>> import torch
    >>> maxsim_contributions(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.5, 0.2], [0.1, 0.9]])).tolist()
    [0.5, 0.8999999761581421]
    """
    return (q.float() @ d.float().T).amax(dim=1)  # (Lq, Ld) -> (Lq,)


class _Attributor:
    """Exact gold-passage scores from an :class:`~retrievers.base.EncoderRetriever`'s own
    index (the same fp16 passage vectors the search used), split by query token type."""

    def __init__(self, retriever):
        import torch

        self.retriever = retriever
        self.encoder = retriever.encoder
        self.row_of = {pid: i for i, pid in enumerate(retriever.corpus.ids)}
        store = retriever.store
        if self.encoder.similarity == "maxsim":
            self.position = torch.empty_like(store.order)
            self.position[store.order] = torch.arange(len(store.order))

    def passage(self, pid: str):
        store, row = self.retriever.store, self.row_of[pid]
        if self.encoder.similarity != "maxsim":
            return store.vectors[row]
        j = int(self.position[row])
        return store.tokens[store.offsets[j] : store.offsets[j + 1]]

    def scores(self, queries: Sequence[Query], gold: Mapping[str, str], view: str) -> dict[str, tuple]:
        """``{qid: (score, text_part, image_part)}``; parts are None for single vectors."""
        encoded = self.retriever.encode_queries(queries, view)
        out = {}
        if self.encoder.similarity != "maxsim":
            for q, vec in zip(queries, encoded):
                if q.id in gold:
                    out[q.id] = (float(vec.float() @ self.passage(gold[q.id]).float()), None, None)
            return out
        types = query_token_types(self.encoder, queries, view, encoded)
        for i, (q, matrix) in enumerate(zip(queries, encoded)):
            if q.id not in gold:
                continue
            terms = maxsim_contributions(matrix, self.passage(gold[q.id]))  # (Lq,)
            if types is None:
                out[q.id] = (float(terms.sum()), None, None)
            else:
                visual = types[i]
                out[q.id] = (float(terms.sum()), float(terms[~visual].sum()), float(terms[visual].sum()))
        return out


def attribute(retriever, queries_by_view: Mapping[str, Sequence[Query]], runs: Mapping[str, Run],
              gold: Mapping[str, str]) -> dict[str, dict[str, GoldScore]]:
    """``{view: {qid: GoldScore}}``.

    Ranks come from the runs. Scores come from the retriever's index when it is an
    encoder retriever (also for a gold passage outside the top k), from an optional
    ``retriever.score_pairs(queries, passage_ids, view) -> list[float]`` otherwise, else
    from the run (None when the gold passage was not retrieved).
    """
    exact = _Attributor(retriever) if hasattr(retriever, "encoder") and hasattr(retriever, "store") else None
    out: dict[str, dict[str, GoldScore]] = {}
    for view, queries in queries_by_view.items():
        search_view = "full" if view == "swap" else view
        run = runs[view]
        if exact is not None and not (view == "image" and "image" not in exact.encoder.modalities):
            parts = exact.scores(queries, gold, search_view)
        elif hasattr(retriever, "score_pairs"):
            asked = [q for q in queries if q.id in gold]
            values = retriever.score_pairs(asked, [gold[q.id] for q in asked], search_view)
            parts = {q.id: (float(v), None, None) for q, v in zip(asked, values)}
        else:
            parts = {}
        per_query = {}
        for q in queries:
            if q.id not in gold:
                continue
            order = ranking(run.get(q.id, {}))
            rank = order.index(gold[q.id]) + 1 if gold[q.id] in order else None
            score, text_part, image_part = parts.get(q.id, (run.get(q.id, {}).get(gold[q.id]), None, None))
            per_query[q.id] = GoldScore(rank, score, text_part, image_part)
        out[view] = per_query
    return out


# --------------------------------------------------------------------------------------------
# The whole probe
# --------------------------------------------------------------------------------------------
SWAP_REALISATION = ("every query's image replaced by the image of another query (a derangement, seed {seed}), "
                    "then searched with the retriever's full view")


def probe_runs(retriever, queries: Sequence[Query], k: int, seed: int) -> tuple[dict, dict]:
    """Search every view over one index: ``(queries_by_view, runs)``."""
    queries_by_view = {"full": list(queries), "text": list(queries), "image": list(queries),
                       "swap": swap_images(queries, seed)}
    runs = {v: retriever.search(qs, k, "full" if v == "swap" else v) for v, qs in queries_by_view.items()}
    return queries_by_view, runs


def summarise(qrels: Qrels, runs: Mapping[str, Run], metrics: Sequence[str], main_metric: str,
              query_types: Mapping[str, str] | None = None, stat_test: str = "student") -> tuple[dict, dict]:
    """Metrics per view, paired tests and indices, overall and per query type.

    Returns ``(summary, per_query)`` where ``per_query[view][metric][qid]`` is the value.
    """
    per_query = {v: per_query_scores(qrels, run, metrics) for v, run in runs.items()}
    means = {v: mean_scores(pq) for v, pq in per_query.items()}
    summary = {
        "main_metric": main_metric,
        "n_queries": len(qrels),
        "views": {v: {"metrics": means[v]} for v in runs},
        "compare": {"stat_test": stat_test, "vs_full": compare_with_full(qrels, runs, metrics, stat_test)},
        "indices": {m: dependence_indices({v: means[v][m] for v in runs}) for m in metrics},
    }
    if query_types:
        by_type = {}
        for qtype in sorted(set(query_types.values())):
            qids = [q for q in qrels if query_types.get(q) == qtype]
            type_means = {v: mean_scores(pq, qids) for v, pq in per_query.items()}
            by_type[qtype] = {
                "n_queries": len(qids),
                "views": {v: {"metrics": type_means[v]} for v in runs},
                "indices": {m: dependence_indices({v: type_means[v][m] for v in runs}) for m in metrics},
            }
        summary["by_type"] = by_type
    return summary, per_query


def attribution_rows(attribution: Mapping[str, Mapping[str, GoldScore]], gold: Mapping[str, str],
                     per_query: Mapping, main_metric: str, query_types: Mapping[str, str] | None) -> list[dict]:
    """One row per query for probe_per_query.csv."""
    rows = []
    for qid in gold:
        row = {"query_id": qid, "type": (query_types or {}).get(qid, ""), "gold_id": gold[qid]}
        for view, scores in attribution.items():
            g = scores.get(qid)
            row.update({
                f"{view}_rank": g.rank if g else None, f"{view}_score": g.score if g else None,
                f"{view}_text_part": g.text_part if g else None, f"{view}_image_part": g.image_part if g else None,
                f"{view}_{main_metric}": per_query[view][main_metric].get(qid),
            })
        rows.append(row)
    return rows


def attribution_summary(rows: Sequence[Mapping], views: Sequence[str]) -> dict:
    """Mean share of the gold score from visual tokens, per view (where the split exists).

    >>> attribution_summary([{"full_text_part": 3.0, "full_image_part": 1.0}], ["full"])
    {'full': {'n_split': 1, 'mean_text_part': 3.0, 'mean_image_part': 1.0, 'image_share': 0.25}}
    """
    out = {}
    for v in views:
        pairs = [(r[f"{v}_text_part"], r[f"{v}_image_part"]) for r in rows
                 if r.get(f"{v}_text_part") is not None and r.get(f"{v}_image_part") is not None]
        if not pairs:
            out[v] = {"n_split": 0}
            continue
        text = sum(t for t, _ in pairs) / len(pairs)
        image = sum(i for _, i in pairs) / len(pairs)
        total = abs(text) + abs(image)
        out[v] = {"n_split": len(pairs), "mean_text_part": text, "mean_image_part": image,
                  "image_share": abs(image) / total if total else None}
    return out


@dataclass(frozen=True)
class ProbeSettings:
    """Everything one probe depends on (recorded in probe.json)."""

    task: str
    retriever: str
    checkpoint: str | None = None
    split: str = "test"
    k: int = 100
    limit: int | None = None
    device: str = "cpu"
    setting: str = "zero-shot"
    seed: int = 0
    stat_test: str = "student"
    output: str = "results"
    retriever_options: tuple[tuple[str, object], ...] = ()


def write_run(path, run: Run, tag: str) -> None:
    """A TREC run file (rank from 1, the trec_eval order of :func:`ranking`)."""
    with open(path, "w") as f:
        for qid in run:
            for rank, pid in enumerate(ranking(run[qid]), 1):
                f.write(f"{qid} Q0 {pid} {rank} {run[qid][pid]:.6f} {tag}\n")


def write_probe(directory, settings: ProbeSettings, summary: dict, rows: Sequence[Mapping], runs: Mapping[str, Run],
                extra: Mapping) -> None:
    import csv
    import json
    from dataclasses import asdict
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = {"settings": asdict(settings), **summary, **extra}
    (directory / "probe.json").write_text(json.dumps(record, indent=1, default=str))
    with open(directory / "probe_per_query.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["query_id"])
        writer.writeheader()
        writer.writerows(rows)
    for view, run in runs.items():
        write_run(directory / f"run_{view}.trec", run, f"{settings.retriever}-{view}")


def run_probe(settings: ProbeSettings, data=None, retriever=None, qrels: Qrels | None = None) -> dict:
    """Load, index once, search the four views, score, attribute, write; returns probe.json's dict.

    ``data``, ``retriever`` and ``qrels`` may be passed in (tests, notebooks); otherwise they
    are loaded from the registries like ``mire-eval run`` does.
    """
    from harness.registry import RETRIEVERS, TASKS
    from tasks.base import LoadOptions, load_task, task_slug

    if data is None:
        data = load_task(settings.task, LoadOptions(split=settings.split)).limit(settings.limit)
    if qrels is None:
        qrels = task_qrels(data)
    if retriever is None:
        retriever = RETRIEVERS.get(settings.retriever)(settings.checkpoint, settings.device,
                                                      **dict(settings.retriever_options))
    main_metric = "hit_rate@1"
    if not settings.task.startswith("local:") and settings.task in TASKS.names():
        main_metric = TASKS.get(settings.task).main_metric
    metrics = default_metrics(settings.k)
    if main_metric not in metrics:
        metrics.append(main_metric)

    retriever.index(data.corpus)
    queries_by_view, runs = probe_runs(retriever, data.queries, settings.k, settings.seed)
    types = data.meta.get("query_types") or None
    summary, per_query = summarise(qrels, runs, metrics, main_metric, types, settings.stat_test)
    gold = gold_passages(qrels, runs["full"])
    attribution = attribute(retriever, queries_by_view, runs, gold)
    rows = attribution_rows(attribution, gold, per_query, main_metric, types)
    described = retriever.describe()
    extra = {
        "task": data.name, "retriever": settings.retriever, "setting": settings.setting,
        "realisation": {**{v: (described.get("views") or {}).get(v, f"the retriever's {v!r} view")
                           for v in ("full", "text", "image")},
                        "swap": SWAP_REALISATION.format(seed=settings.seed)},
        "attribution": {"gold": "relevant passage ranked best under full",
                        "split": split_kind(retriever), **attribution_summary(rows, PROBE_VIEWS)},
        "chance": data.meta.get("chance"),
        "retriever_meta": described,
    }
    directory = probe_dir(settings.output, task_slug(settings.task), settings.retriever, settings.setting,
                          settings.checkpoint)
    write_probe(directory, settings, summary, rows, runs, extra)
    write_pooling_attention(directory, retriever, data.queries, types)
    return {"directory": str(directory), **summary, **extra}


def attention_queries(queries: Sequence[Query], types: Mapping[str, str] | None, n: int) -> list[Query]:
    """Queries whose pooling attention is drawn: the first of each type, then the next ones."""
    with_image = [q for q in queries if q.image is not None]
    chosen, seen = [], set()
    for q in with_image:
        qtype = (types or {}).get(q.id)
        if qtype not in seen:
            seen.add(qtype)
            chosen.append(q)
    chosen += [q for q in with_image if q not in chosen]
    return chosen[:n]


def write_pooling_attention(directory, retriever, queries: Sequence[Query], types, n: int = 4) -> None:
    """When the encoder offers ``pooling_attention(queries) -> [B, heads, P]`` (each head's
    attention over the image patches, averaged over the question's tokens), keep it for a few
    queries with their images, so ``mire-eval plot`` can draw it without the model."""
    import json
    from pathlib import Path

    encoder = getattr(retriever, "encoder", None)
    if encoder is None or not hasattr(encoder, "pooling_attention"):
        return
    chosen = attention_queries(queries, types, n)
    if not chosen:
        return
    import torch

    with torch.inference_mode():
        attention = encoder.pooling_attention(chosen).float().cpu()  # (B, heads, P)
    items = []
    for i, (q, att) in enumerate(zip(chosen, attention)):
        name = f"attention_query_{i}.png"
        q.image.load().save(Path(directory) / name)
        items.append({"query_id": q.id, "question": q.text, "type": (types or {}).get(q.id),
                      "image": name, "attention": att.tolist()})
    (Path(directory) / "pooling_attention.json").write_text(json.dumps(items))


def split_kind(retriever) -> str:
    """How the per-query scores were split into text and image parts (recorded)."""
    encoder = getattr(retriever, "encoder", None)
    if encoder is None:
        return "none (not an encoder retriever; scores only)"
    if encoder.similarity != "maxsim":
        return "none (single-vector similarity has no per-token split)"
    if "image" not in encoder.modalities:
        return "maxsim per query token; text-only encoder: every token is text"
    if hasattr(encoder, "query_token_types") or hasattr(encoder, "visual_query_tokens"):
        return "maxsim per query token, visual rows as declared by the encoder"
    return "none (the encoder does not declare which query tokens are visual)"


def probe_dir(output, task_slug: str, retriever: str, setting: str, checkpoint: str | None):
    from pathlib import Path

    from harness.cache import stable_hash

    tag = setting if checkpoint is None else f"{setting}-{stable_hash(str(checkpoint), 8)}"
    return Path(output) / task_slug / retriever / tag / "probe"


def task_qrels(data) -> Qrels:
    if data.relevance == "qrels":
        return {q.id: dict(data.qrels.get(q.id, {})) for q in data.queries}
    from harness.relevance import answer_qrels

    return answer_qrels(data.queries, data.corpus, data.relevance)


def default_metrics(k: int) -> list[str]:
    """hit_rate, recall, mrr, precision, ndcg at the cut-offs up to ``k``.

    >>> default_metrics(5)
    ['hit_rate@1', 'hit_rate@5', 'recall@1', 'recall@5', 'mrr@1', 'mrr@5', 'precision@1', 'precision@5', 'ndcg@1', 'ndcg@5']
    """
    cuts = [c for c in (1, 5, 10, 20, 50, 100) if c <= k]
    return [f"{m}@{c}" for m in ("hit_rate", "recall", "mrr", "precision", "ndcg") for c in cuts]
